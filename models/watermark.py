"""The learned watermark and logo detector: a MobileNetV3-Small backbone with a small dense
head that marks, per 16-px cell of its input, the probability that a watermark or practice
logo covers it. Its maximum is the image score; its connected hot cells are the boxes.

Trained by `training/train_watermark.py` on real photos with synthetic marks
(`datasets/watermarks.py`); served from the model registry as ONNX (ONNX Runtime) or
TorchScript, whichever `backend` names (the training run measures both; see the card).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from models.registry import ModelRegistry, ModelVersion
from moderation.schemas import ModelRef

if TYPE_CHECKING:
    from models.ocr import TextFeatures
    from moderation.checks.base import CheckContext

MODEL_NAME = "watermark"
ONNX_FILE = "watermark.onnx"
TORCHSCRIPT_FILE = "watermark.pt"
STRIDE = 16
_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


# torchvision's MobileNetV3 feature blocks up to (not including) the first of stride 32
_STRIDE_16_BLOCKS = {"small": 9, "large": 13}
ARCHS = (*_STRIDE_16_BLOCKS, "ppocr")
# ppocr: the detector's layers up to this stride stay as they are (0: all of them learn)
FREEZE_STRIDES = (0, 8, 16)


class MarkNet(nn.Module):
    """RGB 0..255 float (N, 3, H, W), H and W multiples of 32 -> logits (N, 1, H/16, W/16).

    `arch` "small" or "large": a torchvision MobileNetV3 of `width_mult`, from scratch;
    "ppocr": the OCR text detector's pretrained backbone (`models.ppocr_backbone`, width
    ignored), its layers up to stride `freeze_to` (8 or 16) frozen as the detector has them;
    0 lets them learn too (their BatchNorm statistics kept: `TunedStage`)."""

    def __init__(self, width_mult: float = 0.5, arch: str = "small", freeze_to: int = 8) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {sorted(ARCHS)}, not {arch!r}")
        if freeze_to not in FREEZE_STRIDES:
            raise ValueError(f"freeze_to must be one of {FREEZE_STRIDES}, not {freeze_to!r}")
        self.arch, self.freeze_to = arch, freeze_to
        if arch == "ppocr":
            shallow_channels, deep_channels = self._ppocr_stages(freeze_to)
        else:
            shallow_channels, deep_channels = self._mobilenet_stages(width_mult, arch)
        self.lateral = nn.Conv2d(deep_channels, 32, 1)
        self.head = nn.Sequential(
            nn.Conv2d(shallow_channels + 32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
            nn.Hardswish(), nn.Conv2d(32, 1, 1))
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1  # torchvision's 0.01 lags far behind a short training run

    def _mobilenet_stages(self, width_mult: float, arch: str) -> tuple[int, int]:
        from torchvision import models

        # Half-width Small (1.x on CPU): a quarter of the compute, which is what let it train
        # on 2 CPU cores; "large" is for runs on a GPU.
        build = getattr(models, f"mobilenet_v3_{arch}")
        features = build(weights=None, width_mult=width_mult).features
        split = _STRIDE_16_BLOCKS[arch]
        self.shallow = features[:split]  # stride 16
        self.deep = features[split:]  # stride 32
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        return self.shallow[-1].out_channels, self.deep[-1].out_channels

    def _ppocr_stages(self, freeze_to: int) -> tuple[int, int]:
        from models import ppocr_backbone

        stages = ppocr_backbone.load_stages()
        if freeze_to == 16:
            self.shallow = FrozenStage(nn.Sequential(stages.prefix, stages.stage16))
        else:
            first = FrozenStage if freeze_to == 8 else TunedStage
            self.shallow = nn.Sequential(first(stages.prefix), stages.stage16)
        self.deep = stages.stage32
        # the detector's own input scaling: RGB / 127.5 - 1
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 127.5))
        return (ppocr_backbone.CHANNELS["stage16"], ppocr_backbone.CHANNELS["stage32"])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.decode(self.shallow((image - self.mean) / self.std))

    def decode(self, shallow: torch.Tensor) -> torch.Tensor:
        """The stride-16 tensor -> logits."""
        deep = self.lateral(self.deep(shallow))
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="nearest")
        return self.head(torch.cat([shallow, deep], dim=1))


class MarkNetTail(nn.Module):
    """A MarkNet on the OCR backbone (`arch` "ppocr", `freeze_to` 8) less its frozen layers:
    the detector's stride-8 tensor (N x 96 x H/8 x W/8) -> the network's logits. Those layers
    are the OCR text detector's own, so served on the OCR pass's tensor
    (`TextFeatures.backbone8`) the network costs only the layers it learnt."""

    def __init__(self, network: MarkNet) -> None:
        super().__init__()
        if network.arch != "ppocr" or network.freeze_to != 8:
            raise ValueError("only a network on the OCR backbone with its layers up to stride 8 "
                             f"frozen has a tail (this one: arch {network.arch!r}, "
                             f"freeze_to {network.freeze_to})")
        self.network = network

    def forward(self, backbone8: torch.Tensor) -> torch.Tensor:
        return self.network.decode(self.network.shallow[1](backbone8))


class TunedStage(nn.Module):
    """Pretrained layers whose weights learn while their BatchNorm layers keep the statistics
    they came with (a batch of crops is no estimate of a photo's). Its layers sit under the
    same name as a `FrozenStage`'s, so a network trained with them frozen starts this one."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def train(self, mode: bool = True) -> TunedStage:
        super().train(mode)
        for layer in self.module.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class FrozenStage(TunedStage):
    """Layers that never learn: no gradients, and batch statistics never replace their own
    (so they compute what the OCR pass computes, whatever mode the network is in)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module.eval())
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenStage:
        super().train(mode)
        self.module.eval()
        return self


def to_input(image: np.ndarray, long_side: int) -> tuple[np.ndarray, tuple[int, int], float]:
    """The photo resized so its long side is `long_side`, padded (edge pixels) to multiples of
    32: (1, 3, H, W) float32, the unpadded (h, w), and input pixels per photo pixel."""
    height, width = image.shape[:2]
    factor = long_side / max(height, width)
    size = (max(32, round(width * factor)), max(32, round(height * factor)))
    # The area filter the model was trained with (not imaging.shrink: its scores would move).
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    pad_h, pad_w = (-size[1]) % 32, (-size[0]) % 32
    if pad_h or pad_w:
        small = cv2.copyMakeBorder(small, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    batch = small.astype(np.float32).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(batch), (size[1], size[0]), size[0] / width


@dataclass(frozen=True)
class MarkBox:
    """A hot region of the mark map, in the photo's (working-image) pixels."""

    x: int
    y: int
    w: int
    h: int
    score: float


@dataclass(frozen=True)
class MarkMap:
    probabilities: np.ndarray  # (rows, cols) over the unpadded input
    cell: float  # photo pixels per cell, across
    cell_height: float | None = None  # ... down, where the input was scaled apart (None: `cell`)

    @property
    def score(self) -> float:
        return float(self.probabilities.max()) if self.probabilities.size else 0.0

    def boxes(self, threshold: float, max_boxes: int = 8) -> list[MarkBox]:
        hot = (self.probabilities >= threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
        across, down = self.cell, self.cell_height or self.cell
        boxes = []
        for label in range(1, count):
            col, row, cols, rows, _ = stats[label]
            peak = float(self.probabilities[labels == label].max())
            boxes.append(MarkBox(x=int(col * across), y=int(row * down),
                                 w=int(np.ceil(cols * across)), h=int(np.ceil(rows * down)),
                                 score=round(peak, 4)))
        return sorted(boxes, key=lambda box: -box.score)[:max_boxes]


class DetectorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field("onnx", pattern="^(onnx|torchscript)$")
    input_long_side: int | None = Field(None, ge=128, le=1600, description=(
        "1.x: px the network sees; default: the side its version was trained at"))
    threads: int = Field(1, ge=1, le=64)
    version: str | None = Field(None, description="a registered version; default: the promoted one")


class _RegisteredDetector:
    """What every watermark detector tells of its registered version."""

    version: ModelVersion

    @property
    def ref(self) -> ModelRef:
        return self.version.ref

    @property
    def threshold(self) -> float:
        return float(self.version.thresholds.get("score", 0.5))


class WatermarkDetector(_RegisteredDetector):
    """The promoted (or named) watermark model, loaded once, run on one photo at a time."""

    uses_text_features = False  # it reads the photo's pixels

    def __init__(self, model: ModelVersion, options: DetectorOptions | None = None) -> None:
        self.options = options or DetectorOptions()
        self.version = model
        self.long_side = self.options.input_long_side or int(model.config.get("long_side", 448))
        model.verify()
        if self.options.backend == "onnx":
            from models.onnx_runtime import cpu_session

            self._session = cpu_session(model.path(ONNX_FILE), self.options.threads)
            self._run = self._run_onnx
        else:
            self._module = torch.jit.load(str(model.path(TORCHSCRIPT_FILE)), map_location="cpu")
            self._module.eval()
            self._run = self._run_torchscript

    @classmethod
    def from_registry(cls, registry: ModelRegistry,
                      options: DetectorOptions | None = None) -> AnyDetector:
        options = options or DetectorOptions()
        model = (registry.get(MODEL_NAME, options.version) if options.version
                 else registry.promoted(MODEL_NAME))
        if model is None:
            wanted = f"version {options.version}" if options.version else "a promoted version"
            raise LookupError(f"model registry has no {MODEL_NAME} {wanted}; train one with "
                              "`python -m training.train_watermark`")
        return load_detector(model, options)

    def predict(self, image: np.ndarray) -> MarkMap:
        batch, (height, width), factor = to_input(image, self.long_side)
        logits = self._run(batch)[0, 0]
        rows, cols = -(-height // STRIDE), -(-width // STRIDE)
        probabilities = 1.0 / (1.0 + np.exp(-logits[:rows, :cols].astype(np.float64)))
        return MarkMap(probabilities.astype(np.float32), cell=STRIDE / factor)

    def _run_onnx(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"image": batch})[0]

    def _run_torchscript(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self._module(torch.from_numpy(batch)).numpy()


_DETECTORS: dict[tuple[str, str, str], AnyDetector] = {}
_DETECTORS_LOCK = threading.Lock()


def watermark_detector(context: CheckContext, options: DetectorOptions) -> AnyDetector:
    """The service's one watermark model, loaded at start-up (and once per process for a
    given registered version and options)."""
    def build() -> AnyDetector:
        registry = ModelRegistry.default(context.data_dir)
        model = (registry.get(MODEL_NAME, options.version) if options.version
                 else registry.promoted(MODEL_NAME))
        if model is None:
            return WatermarkDetector.from_registry(registry, options)  # raises, naming it
        key = (str(model.directory), model.version, options.model_dump_json())
        with _DETECTORS_LOCK:
            if key not in _DETECTORS:
                _DETECTORS[key] = load_detector(model, options)
            return _DETECTORS[key]
    return context.shared(f"{MODEL_NAME}:{options.model_dump_json()}", build)


# ---------------------------------------------------------------- on the OCR's features

HEAD_ONNX_FILE = "watermark-head.onnx"


class FeatureHead(nn.Module):
    """The OCR text detector's stride-16 features (`models.text_features`, N x C x h x w) ->
    mark logits per 16-px cell of the detector's input (N x 1 x h x w). It reads the
    `channels` it was built with, standardised with the training set's per-channel mean and
    spread (buffers)."""

    def __init__(self, channels: list[int], width: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        in_channels = len(channels)
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long))
        self.register_buffer("mean", torch.zeros(1, in_channels, 1, 1))
        self.register_buffer("std", torch.ones(1, in_channels, 1, 1))
        self.body = nn.Sequential(
            nn.Dropout2d(dropout),
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(), nn.Conv2d(width, 1, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        chosen = features.index_select(1, self.channels)
        return self.body((chosen - self.mean) / self.std)


class HeadEnsemble(nn.Module):
    """Several heads on the OCR features trained from different initialisations on the same
    samples: the mean of their logits per cell. Exported as one graph with a single head's
    interface, so it is served as one (`FeatureWatermarkDetector`). Its heads are `FeatureHead`s
    in training, the learner's `FusedFeatureHead`s when a served file is fine-tuned; arguments
    after the features (the learner's valid-cell mask) go to every head."""

    def __init__(self, heads: list[nn.Module]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, features: torch.Tensor, *extra: torch.Tensor | None) -> torch.Tensor:
        return torch.stack([head(features, *extra) for head in self.heads]).mean(dim=0)


TEXT_FEATURES_INPUT = "ocr-text-features"  # `config.input` of a version that scores them


class _OcrPassDetector(_RegisteredDetector):
    """A registered version that scores what the photo's one OCR pass computed: one ONNX
    file (`onnx_file`), read on the CPU."""

    uses_text_features = True
    onnx_file: str

    def __init__(self, model: ModelVersion, options: DetectorOptions | None = None) -> None:
        from models.onnx_runtime import cpu_session

        self.options = options or DetectorOptions()
        self.version = model
        model.verify()
        self._session = cpu_session(model.path(self.onnx_file), self.options.threads)


class FeatureWatermarkDetector(_OcrPassDetector):
    """A watermark version made of a `FeatureHead` (watermark 2.x): it scores the features
    the OCR text detector computed in the photo's one OCR pass (`models.ocr.text_features`),
    so it costs one small ONNX call on a 32 x 24 map."""

    onnx_file = HEAD_ONNX_FILE

    def predict_features(self, features: TextFeatures) -> MarkMap:
        logits = self._session.run(None, {"features": features.values[None]})[0][0, 0]
        return map_over_detector_input(logits, features)


TAIL_ONNX_FILE = "watermark-tail.onnx"
BACKBONE_8_INPUT = "ocr-backbone8"  # `config.input` of a version served as a `MarkNetTail`


class TailWatermarkDetector(_OcrPassDetector):
    """A 1.x network on the OCR backbone (`MarkNetTail`) served on the stride-8 tensor of the
    photo's one OCR pass: the layers it learnt, ~4 ms, instead of the whole network on the
    pixels. The OCR stretches each side to a multiple of 32 where the network was trained on
    inputs padded to one, so its scores move a little (the benchmark's `--compare-versions`
    sets one beside the other: README, "Watermark 1.10")."""

    onnx_file = TAIL_ONNX_FILE

    def predict_features(self, features: TextFeatures) -> MarkMap:
        if features.backbone8 is None:
            raise ValueError(f"watermark {self.version.version} reads the OCR backbone's "
                             "stride-8 tensor, which these text features lack")
        logits = self._session.run(None, {"backbone8": features.backbone8[None]})[0][0, 0]
        return map_over_detector_input(logits, features)


def map_over_detector_input(logits: np.ndarray, features: TextFeatures) -> MarkMap:
    """Logits per 16-px cell of the OCR detector's input -> the photo's mark map."""
    probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    # The text detector rounds each side to a multiple of 32 on its own, so the two axes
    # scale apart.
    (image_w, image_h), (input_w, input_h) = features.image_size, features.input_size
    return MarkMap(probabilities.astype(np.float32), cell=STRIDE * image_w / input_w,
                   cell_height=STRIDE * image_h / input_h)


AnyDetector = WatermarkDetector | FeatureWatermarkDetector | TailWatermarkDetector
_READERS = {TEXT_FEATURES_INPUT: FeatureWatermarkDetector, BACKBONE_8_INPUT: TailWatermarkDetector}


def load_detector(model: ModelVersion, options: DetectorOptions | None = None) -> AnyDetector:
    """The detector class a registered version needs: its `config.input` says what it reads."""
    return _READERS.get(model.config.get("input"), WatermarkDetector)(model, options)
