"""MTCNN face detection (Zhang et al. 2016): boxes, five landmarks and a score per face.

The three networks run with ONNX Runtime (exported in memory when the detector is built: about
3x faster than eager torch for these small convolutions on 2 shared cores, measured), the
glue between the stages in torch. The networks and their weights are facenet-pytorch's (MIT, (c) 2019 Timothy Esler; the
weights were ported from the authors' MTCNN release, MIT). facenet-pytorch pins torch < 2.3,
so it is installed without its dependencies (see the Makefile) and none of its code is
imported: its weight files are read from the installed distribution, and the networks and the
cascade are re-written here (vectorised, batched per stage, CPU only).
"""

from __future__ import annotations

import importlib.metadata
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

WEIGHTS_DISTRIBUTION = "facenet-pytorch"
_WEIGHT_FILES = {"pnet": "facenet_pytorch/data/pnet.pt", "rnet": "facenet_pytorch/data/rnet.pt",
                 "onet": "facenet_pytorch/data/onet.pt"}


class MtcnnWeightsMissing(RuntimeError):
    """facenet-pytorch (which carries the MTCNN weights) is not installed."""


def weight_file(net: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(WEIGHTS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise MtcnnWeightsMissing(
            "the MTCNN face detector needs the facenet-pytorch package for its weights; "
            "install it without its dependencies: pip install --no-deps facenet-pytorch==2.6.0 "
            "(`make install` does)") from None
    path = Path(str(distribution.locate_file(_WEIGHT_FILES[net])))
    if not path.is_file():
        raise MtcnnWeightsMissing(f"facenet-pytorch is installed but {path.name} is missing")
    return path


class PNet(nn.Module):
    """Proposal network: fully convolutional, 12x12 windows at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights come from a channels-last framework: flatten in its order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output network on 48x48 crops: score, box refinement and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


def _load(net: nn.Module, name: str) -> nn.Module:
    state = torch.load(weight_file(name), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


@dataclass(frozen=True)
class RawFace:
    """One detection in the pixels of the array given to `Mtcnn.detect`."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    landmarks: tuple[tuple[float, float], ...]  # left eye, right eye, nose, mouth left, right
    score: float


def _onnx_runner(net: nn.Module, example: torch.Tensor, dynamic: dict[int, str],
                 threads: int) -> Callable[[torch.Tensor], tuple[torch.Tensor, ...]]:
    """`net` exported to ONNX in memory and run by ONNX Runtime, torch tensors in and out."""
    from models.onnx_runtime import cpu_session

    buffer = io.BytesIO()
    torch.onnx.export(net, (example,), buffer, input_names=["x"],
                      dynamic_axes={"x": dynamic}, dynamo=False)
    session = cpu_session(buffer.getvalue(), threads)

    def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.shape[0] == 0:
            return net(x)
        return tuple(torch.from_numpy(out) for out in session.run(None, {"x": x.numpy()}))
    return run


class Mtcnn:
    """The three-stage cascade. `detect` takes an RGB uint8 array (H, W, 3)."""

    def __init__(self, min_face: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709, backend: str = "onnxruntime", threads: int = 1,
                 max_refine: int = 48, max_output: int = 12) -> None:
        self.min_face = min_face
        self.thresholds = thresholds
        self.factor = factor
        # Before/after photos show one or a few faces: the best candidates are enough, and
        # every candidate costs a crop and a resize (most of the cascade's time on 2 cores).
        self.max_refine, self.max_output = max_refine, max_output
        pnet, rnet, onet = _load(PNet(), "pnet"), _load(RNet(), "rnet"), _load(ONet(), "onet")
        if backend == "onnxruntime":
            self.pnet = _onnx_runner(pnet, torch.zeros(1, 3, 64, 64), {2: "h", 3: "w"}, threads)
            self.rnet = _onnx_runner(rnet, torch.zeros(2, 3, 24, 24), {0: "n"}, threads)
            self.onet = _onnx_runner(onet, torch.zeros(2, 3, 48, 48), {0: "n"}, threads)
        elif backend == "torch":
            self.pnet, self.rnet, self.onet = pnet, rnet, onet
        else:
            raise ValueError(f"unknown MTCNN backend {backend}: onnxruntime or torch")

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray, min_face: int | None = None) -> list[RawFace]:
        """Faces of at least `min_face` pixels (default: the detector's own minimum)."""
        image = np.ascontiguousarray(rgb, dtype=np.float32)
        height, width = image.shape[:2]
        boxes = self._propose(image, height, width, max(min_face or self.min_face, 12))
        if len(boxes):
            boxes = self._refine(image, boxes, height, width)
        if not len(boxes):
            return []
        boxes, points = self._output(image, boxes, height, width)
        return [
            RawFace(box=tuple(float(v) for v in box[:4]),
                    landmarks=tuple((float(x), float(y)) for x, y in marks),
                    score=float(box[4]))
            for box, marks in zip(boxes.numpy(), points.numpy(), strict=True)
        ]

    # ------------------------------------------------------------ the three stages

    def _scales(self, height: int, width: int, min_face: int) -> list[float]:
        scale = 12.0 / min_face
        shortest = min(height, width) * scale
        scales = []
        while shortest >= 12:
            scales.append(scale)
            scale *= self.factor
            shortest *= self.factor
        return scales

    def _propose(self, image: np.ndarray, height: int, width: int,
                 min_face: int) -> torch.Tensor:
        found = []
        for scale in self._scales(height, width, min_face):
            resized = cv2.resize(image, (int(width * scale + 1), int(height * scale + 1)),
                                 interpolation=cv2.INTER_AREA)
            regression, probs = self.pnet(_normalise(_nchw(resized)))
            candidates = _windows(regression[0], probs[0, 1], scale, self.thresholds[0])
            if len(candidates):
                keep = nms(candidates[:, :4], candidates[:, 4], 0.5)
                found.append(candidates[keep])
        if not found:
            return torch.zeros(0, 5)
        boxes = torch.cat(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        width_, height_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        refined = torch.stack([
            boxes[:, 0] + boxes[:, 5] * width_, boxes[:, 1] + boxes[:, 6] * height_,
            boxes[:, 2] + boxes[:, 7] * width_, boxes[:, 3] + boxes[:, 8] * height_,
            boxes[:, 4]], dim=1)
        return _square(refined)

    def _refine(self, image: np.ndarray, boxes: torch.Tensor, height: int,
                width: int) -> torch.Tensor:
        boxes = _best(boxes, self.max_refine)
        crops = _crops(image, boxes, 24, height, width)
        regression, probs = self.rnet(_normalise(crops))
        keep = probs[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        regression = regression[keep]
        picked = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return _square(_regress(boxes[picked], regression[picked]))

    def _output(self, image: np.ndarray, boxes: torch.Tensor, height: int,
                width: int) -> tuple[torch.Tensor, torch.Tensor]:
        boxes = _best(boxes, self.max_output)
        crops = _crops(image, boxes, 48, height, width)
        regression, points, probs = self.onet(_normalise(crops))
        keep = probs[:, 1] > self.thresholds[2]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], dim=1)
        regression, points = regression[keep], points[keep]
        box_w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        box_h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = box_w * points[:, :5] + boxes[:, 0:1] - 1
        ys = box_h * points[:, 5:] + boxes[:, 1:2] - 1
        landmarks = torch.stack([xs, ys], dim=2)
        boxes = _regress(boxes, regression)
        picked = _nms_min(boxes, 0.7)
        return boxes[picked], landmarks[picked]


# ---------------------------------------------------------------- helpers

def nms(boxes: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray,
        threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression by IoU, best first (torchvision's, without importing
    torchvision, whose import costs seconds at start-up)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter = (np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
                 * np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None))
        iou = inter / np.maximum(area[best] + area[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return torch.as_tensor(np.array(keep, dtype=np.int64))


def _best(boxes: torch.Tensor, limit: int) -> torch.Tensor:
    """The `limit` highest-scoring candidates (column 4 is the score)."""
    if len(boxes) <= limit:
        return boxes
    return boxes[boxes[:, 4].argsort(descending=True)[:limit]]


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def _windows(regression: torch.Tensor, probs: torch.Tensor, scale: float,
             threshold: float) -> torch.Tensor:
    """PNet's 12x12 windows (stride 2) scoring above `threshold`, in image pixels."""
    stride, cell = 2, 12
    mask = probs >= threshold
    rows_cols = mask.nonzero()
    if not len(rows_cols):
        return torch.zeros(0, 9)
    xy = rows_cols.flip(1).float()
    top_left = ((stride * xy + 1) / scale).floor()
    bottom_right = ((stride * xy + cell) / scale).floor()
    offsets = regression[:, mask].T
    return torch.cat([top_left, bottom_right, probs[mask][:, None], offsets], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    moved = boxes.clone()
    moved[:, 0] += offsets[:, 0] * width
    moved[:, 1] += offsets[:, 1] * height
    moved[:, 2] += offsets[:, 2] * width
    moved[:, 3] += offsets[:, 3] * height
    return moved


def _square(boxes: torch.Tensor) -> torch.Tensor:
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    squared = boxes.clone()
    squared[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    squared[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    squared[:, 2] = squared[:, 0] + side
    squared[:, 3] = squared[:, 1] + side
    return squared


def _nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))


def _crops(image: np.ndarray, boxes: torch.Tensor, size: int, height: int,
           width: int) -> torch.Tensor:
    """Each box (clipped to the image) resized to `size`x`size`, as the reference cascade does."""
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for index, (x1, y1, x2, y2) in enumerate(boxes[:, :4].trunc().int().tolist()):
        x1c, y1c, x2c, y2c = max(x1, 1), max(y1, 1), min(x2, width), min(y2, height)
        if x2c <= x1c - 1 or y2c <= y1c - 1:
            continue
        patch = image[y1c - 1:y2c, x1c - 1:x2c]
        out[index] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out.transpose(0, 3, 1, 2).copy())


def _nms_min(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS where overlap is intersection over the smaller box (MTCNN's last stage)."""
    order = boxes[:, 4].argsort(descending=True).tolist()
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep: list[int] = []
    while order:
        best, order = order[0], order[1:]
        keep.append(best)
        if not order:
            break
        rest = torch.tensor(order)
        inter_w = (torch.minimum(x2[best], x2[rest]) - torch.maximum(x1[best], x1[rest]) + 1).clamp(min=0)
        inter_h = (torch.minimum(y2[best], y2[rest]) - torch.maximum(y1[best], y1[rest]) + 1).clamp(min=0)
        overlap = inter_w * inter_h / torch.minimum(area[best], area[rest])
        order = [index for index, o in zip(order, overlap.tolist(), strict=True) if o <= threshold]
    return torch.tensor(keep, dtype=torch.long)


__all__ = ["Mtcnn", "MtcnnWeightsMissing", "RawFace"]
