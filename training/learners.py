"""One learner per learned model: what the training CLI needs to know about it.

A learner turns a dataset's photos into tensors, builds (or loads) the network, gives the loss
on a batch, exports the weight files the service loads, and scores photos through the
service's own inference code (`scores_of`), so a candidate and the promoted version are
measured exactly as they would serve. Adding a learner is one class and one line in `LEARNERS`.
"""

from __future__ import annotations

import functools
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from datasets.staff_dataset import LabelledItem, StaffDataset
from models.registry import ModelVersion
from moderation.settings import Settings


@functools.cache
def working_max_side() -> int:
    """The long side (px) the service's checks see: `[intake] working_max_side`."""
    return Settings().intake.working_max_side


def load_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """A stored photo as the checks see it: upright, RGB, long side at most `max_side`
    (the service's working size unless given)."""
    max_side = max_side or working_max_side()
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    if max(upright.size) > max_side:
        upright.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(upright)


class Learner(ABC):
    name: ClassVar[str]  # the learner's name in configs and on the command line
    model_name: ClassVar[str]  # the model's name in the registry
    check: ClassVar[str]  # the check whose staff labels train it

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def items(self, dataset: StaffDataset, split: str) -> list[LabelledItem]:
        return dataset.split(self.check, split)

    @abstractmethod
    def inputs(self, dataset: StaffDataset, items: list[LabelledItem]) -> dict[str, torch.Tensor]:
        """Everything a batch needs, one row per item (always with "label")."""

    @abstractmethod
    def network(self, init: ModelVersion | Path | None) -> nn.Module:
        """A new network, with the weights of `init` (a registered version or a file)."""

    @abstractmethod
    def loss(self, network: nn.Module, batch: dict[str, torch.Tensor],
             rng: np.random.Generator) -> torch.Tensor: ...

    @abstractmethod
    def logits(self, network: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The network's logit that the rule is broken, one per row (training curves only)."""

    def probabilities(self, network: nn.Module, inputs: dict[str, torch.Tensor],
                      batch_size: int = 32) -> np.ndarray:
        device = next(network.parameters()).device
        network.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(inputs["label"]), batch_size):
                batch = {k: v[start:start + batch_size].to(device) for k, v in inputs.items()}
                chunks.append(torch.sigmoid(self.logits(network, batch)).cpu().numpy())
        return np.concatenate(chunks).astype(np.float64)

    @abstractmethod
    def export(self, network: nn.Module, directory: Path) -> dict[str, Path]:
        """Write the files the service loads; returns {file name: path}."""

    def served_config(self) -> dict[str, Any]:
        """Keys the service reads from a version's `config` to load it (beside the run's)."""
        return {}

    @abstractmethod
    def scorer(self, version: ModelVersion) -> Callable[[np.ndarray, LabelledItem], float]:
        """The served inference of `version`: (photo as the checks see it, item) -> P(broken)."""

    def scores_of(self, version: ModelVersion, dataset: StaffDataset,
                  items: list[LabelledItem], progress: Callable[[], None] | None = None) -> np.ndarray:
        score = self.scorer(version)
        scores = []
        for item in items:
            scores.append(score(load_rgb(dataset.path(item)), item))
            if progress:
                progress()
        return np.array(scores, dtype=np.float64)


def _with_weights(network: nn.Module, init: ModelVersion | Path | None,
                  filename: str) -> nn.Module:
    """The network with the state dict of `init` (a registered version's file or a path)."""
    if init is not None:
        path = init.path(filename) if isinstance(init, ModelVersion) else init
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return network


def _bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.float())


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))


# ---------------------------------------------------------------- collage


class CollageLearner(Learner):
    """`models.collage.CollageNet` on 160 x 160 copies; served through `CollageScorer`
    (the network with the seam analysis, as the `collage` check scores)."""

    name = "collage"
    model_name = "collage"
    check = "collage"
    WEIGHTS = "collage.pt"
    COMBINER = "combiner.json"

    def inputs(self, dataset: StaffDataset, items: list[LabelledItem]) -> dict[str, torch.Tensor]:
        from models.collage import preprocess

        return {"x": _stack([preprocess(load_rgb(dataset.path(i))) for i in items]),
                "label": torch.tensor([i.label for i in items])}

    def network(self, init: ModelVersion | Path | None) -> nn.Module:
        from models.collage import CollageNet

        self._started_from = init if isinstance(init, ModelVersion) else None
        network = CollageNet()
        return _with_weights(network, init, self.WEIGHTS)

    def loss(self, network: nn.Module, batch: dict[str, torch.Tensor],
             rng: np.random.Generator) -> torch.Tensor:
        x = batch["x"]
        if rng.random() < 0.5:  # a mirrored collage is still a collage
            x = torch.flip(x, dims=[3])
        return _bce(self.logits(network, {"x": x}), batch["label"])

    def logits(self, network: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return network(batch["x"])

    def export(self, network: nn.Module, directory: Path) -> dict[str, Path]:
        path = directory / self.WEIGHTS
        torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, path)
        files = {self.WEIGHTS: path}
        started_from = getattr(self, "_started_from", None)
        if started_from is not None and self.COMBINER in started_from.files:
            # Fine-tuning keeps the logit scale, so the seam combiner fitted for the version it
            # started from still applies (refit it with training/calibrate_collage.py).
            files[self.COMBINER] = directory / self.COMBINER
            files[self.COMBINER].write_bytes(started_from.path(self.COMBINER).read_bytes())
        return files

    def scorer(self, version: ModelVersion) -> Callable[[np.ndarray, LabelledItem], float]:
        from models.collage import CollageScorer

        scorer = CollageScorer(version)
        return lambda image, _item: scorer.score(image)[0]


# ---------------------------------------------------------------- watermark


class WatermarkLearner(Learner):
    """`models.watermark.MarkNet` with image-level labels: the hottest cell's logit against
    the staff label (a mark somewhere in the photo, or none). Served as ONNX."""

    name = "watermark"
    model_name = "watermark"
    check = "watermark"

    # what a MarkNet is: its backbone and the long side it sees (models.watermark.MarkNet)
    SHAPE: ClassVar[dict[str, Any]] = {"arch": "small", "width": 0.5, "freeze_to": 8,
                                       "long_side": 448}

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.shape = {key: options.get(key, default) for key, default in self.SHAPE.items()}

    @property
    def long_side(self) -> int:
        return int(self.shape["long_side"])

    def served_config(self) -> dict[str, Any]:
        return dict(self.shape)

    def inputs(self, dataset: StaffDataset, items: list[LabelledItem]) -> dict[str, torch.Tensor]:
        from models.watermark import to_input

        side = self.long_side
        images = []
        for item in items:
            batch, _, _ = to_input(load_rgb(dataset.path(item)), side)
            canvas = np.zeros((3, side, side), np.float32)  # one square canvas batches any shape
            crop = batch[0, :, :side, :side]
            canvas[:, : crop.shape[1], : crop.shape[2]] = crop
            images.append(canvas)
        return {"x": _stack(images), "label": torch.tensor([i.label for i in items])}

    def network(self, init: ModelVersion | Path | None) -> nn.Module:
        from models.watermark import TORCHSCRIPT_FILE, MarkNet

        if isinstance(init, ModelVersion):
            if TORCHSCRIPT_FILE not in init.files:
                raise ValueError(f"{init.name} {init.version} is a head on the OCR's features, "
                                 f"not a MarkNet ({TORCHSCRIPT_FILE}) to start from: set init to "
                                 "a 1.x weights file (training/configs/watermark.toml) or "
                                 "\"scratch\"")
            # A registered version says what it is (a MobileNetV3 of some width, or the OCR
            # backbone frozen to some stride) and the side it learnt at: the run trains, exports
            # and registers that. A bare weights file is what the options say.
            self.shape.update({k: init.config[k] for k in self.SHAPE
                               if init.config.get(k) is not None})  # freeze_to 0 counts
        network = MarkNet(float(self.shape["width"]), self.shape["arch"],
                          int(self.shape["freeze_to"]))
        if init is not None:
            path = init.path(TORCHSCRIPT_FILE) if isinstance(init, ModelVersion) else init
            network.load_state_dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        return network

    def loss(self, network: nn.Module, batch: dict[str, torch.Tensor],
             rng: np.random.Generator) -> torch.Tensor:
        x = batch["x"]
        if rng.random() < 0.5:
            x = torch.flip(x, dims=[3])
        return _bce(self.logits(network, {"x": x}), batch["label"])

    def logits(self, network: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return network(batch["x"]).flatten(1).amax(dim=1)  # the hottest cell

    def export(self, network: nn.Module, directory: Path) -> dict[str, Path]:
        from models.watermark import ONNX_FILE, TORCHSCRIPT_FILE
        from training.train_watermark import export

        export(network.cpu().eval(), directory, self.long_side)
        return {ONNX_FILE: directory / ONNX_FILE, TORCHSCRIPT_FILE: directory / TORCHSCRIPT_FILE}

    def scorer(self, version: ModelVersion) -> Callable[[np.ndarray, LabelledItem], float]:
        from models.watermark import DetectorOptions, load_detector

        detector = load_detector(version, DetectorOptions())  # at the version's own long side
        if detector.uses_text_features:  # a 2.x head: on the OCR detector's features, as served
            from models.ocr import OcrOptions, cached_engine

            engine = cached_engine(OcrOptions(
                features=True, det_max_side=int(version.config.get("ocr_det_max_side", 512))))
            return lambda image, _item: detector.predict_features(
                engine.detect_with_features(image)[2]).score
        return lambda image, _item: detector.predict(image).score


class FusedFeatureHead(nn.Module):
    """`models.watermark.FeatureHead` as its ONNX file holds it: each batch norm folded into the
    conv before it, so a served 2.x version's own weights can be fine-tuned (the registry keeps
    only the ONNX file). Same input, same output, same ONNX interface."""

    def __init__(self, channels: list[int], width: int) -> None:
        super().__init__()
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long))
        self.register_buffer("mean", torch.zeros(1, len(channels), 1, 1))
        self.register_buffer("std", torch.ones(1, len(channels), 1, 1))
        self.body = nn.Sequential(
            nn.Conv2d(len(channels), width, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(width, 1, 1))

    def forward(self, features: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """`valid` (N x 1 x h x w, bool): the cells of a padded batch that hold a photo; the
        others are zeroed after every layer, as the served convs pad a photo's own border."""
        x = (features.index_select(1, self.channels) - self.mean) / self.std
        for layer in self.body:
            x = layer(x)
            if valid is not None and isinstance(layer, nn.ReLU):
                x = x * valid
        return x

    @classmethod
    def from_onnx(cls, path: Path) -> nn.Module:
        """The head in a 2.x ONNX file; an ensemble's file (`models.watermark.HeadEnsemble`,
        four convs a member) gives its members joined as served."""
        from models.watermark import HeadEnsemble

        heads = [cls.from_member(member) for member in _head_members(path)]
        return heads[0] if len(heads) == 1 else HeadEnsemble(heads)

    @classmethod
    def from_member(cls, member: dict[str, Any]) -> FusedFeatureHead:
        width = member["convs"][0][0].shape[0]
        head = cls(member["channels"].tolist(), width)
        state = {name: member[name] for name in ("channels", "mean", "std")}
        for (weight, bias), layer in zip(member["convs"], (0, 2, 4, 6), strict=True):
            state[f"body.{layer}.weight"], state[f"body.{layer}.bias"] = weight, bias
        head.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
        return head


def _head_members(path: Path) -> list[dict[str, Any]]:
    """Each head in a 2.x ONNX file, in graph order: the channels it gathers, the mean it
    subtracts, the spread it divides by, and its four convs' weights and biases."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # the exporter stores equal tensors once, named again by Identity
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    members: list[dict[str, Any]] = []
    for node in graph.node:
        if node.op_type == "Gather":
            members.append({"channels": tensors.get(node.input[1]), "convs": []})
        elif members and node.op_type in ("Sub", "Div"):
            members[-1].setdefault("mean" if node.op_type == "Sub" else "std",
                                   tensors.get(node.input[1]))
        elif members and node.op_type == "Conv":
            members[-1]["convs"].append(tuple(tensors.get(name) for name in node.input[1:3]))
    if not members or any(len(m["convs"]) != 4 or any(
            value is None for value in (m["channels"], m.get("mean"), m.get("std"),
                                        *(t for conv in m["convs"] for t in conv)))
            for m in members):
        raise ValueError(f"{path.name} is not a watermark 2.x head "
                         "(4 convs on chosen channels, or several such heads)")
    return members


class WatermarkHeadLearner(WatermarkLearner):
    """The served 2.x watermark head (`FusedFeatureHead`) fine-tuned on staff labels, on the
    features of the photo's one OCR pass, as served: the hottest valid cell's logit against the
    staff label. Photos of other shapes share a batch padded to the largest; the padding is
    zeroed after every layer (as the served convs pad) and is never the hottest cell."""

    name = "watermark_head"

    @property
    def det_max_side(self) -> int:
        return int(self.options.get("ocr_det_max_side", 512))

    def served_config(self) -> dict[str, Any]:
        from models.watermark import TEXT_FEATURES_INPUT

        return {"input": TEXT_FEATURES_INPUT, "ocr_det_max_side": self.det_max_side,
                "ocr_det_model": "fused"}

    def inputs(self, dataset: StaffDataset, items: list[LabelledItem]) -> dict[str, torch.Tensor]:
        from models.ocr import OcrOptions, cached_engine

        engine = cached_engine(OcrOptions(features=True, det_max_side=self.det_max_side))
        maps = [engine.detect_with_features(load_rgb(dataset.path(item)))[2].values
                for item in items]
        rows = max((m.shape[1] for m in maps), default=1)
        cols = max((m.shape[2] for m in maps), default=1)
        channels = maps[0].shape[0] if maps else 1
        x = np.zeros((len(maps), channels, rows, cols), np.float16)  # ~1 MB a photo
        valid = np.zeros((len(maps), 1, rows, cols), bool)
        for row, values in enumerate(maps):
            x[row, :, : values.shape[1], : values.shape[2]] = values
            valid[row, :, : values.shape[1], : values.shape[2]] = True
        return {"x": torch.from_numpy(x), "valid": torch.from_numpy(valid),
                "label": torch.tensor([i.label for i in items])}

    def network(self, init: ModelVersion | Path | None) -> nn.Module:
        from models.watermark import HEAD_ONNX_FILE

        if init is None:
            raise ValueError("the watermark head learner fine-tunes a 2.x head: set init to "
                             "\"promoted\" or to a version's watermark-head.onnx, not \"scratch\"")
        if isinstance(init, ModelVersion):
            if HEAD_ONNX_FILE not in init.files:
                raise ValueError(f"{init.name} {init.version} is not a head on the OCR's "
                                 f"features ({HEAD_ONNX_FILE}); the watermark learner trains "
                                 "the 1.x pixel network")
            init = init.path(HEAD_ONNX_FILE)
        return FusedFeatureHead.from_onnx(init)

    def loss(self, network: nn.Module, batch: dict[str, torch.Tensor],
             rng: np.random.Generator) -> torch.Tensor:
        return _bce(self.logits(network, batch), batch["label"])

    def logits(self, network: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        valid = batch["valid"]
        cells = network(batch["x"].float(), valid).masked_fill(~valid, -math.inf)
        return cells.flatten(1).amax(dim=1)

    def export(self, network: nn.Module, directory: Path) -> dict[str, Path]:
        from models.watermark import HEAD_ONNX_FILE
        from training.train_watermark_head import export

        export(network.cpu().eval(), directory, runs=3)
        return {HEAD_ONNX_FILE: directory / HEAD_ONNX_FILE}


# ---------------------------------------------------------------- procedure (regions)


class ProcedureLearner(Learner):
    """The region classifier behind `procedure_match`, from its staff labels: a photo that
    matches its procedure shows at least one of the procedure's regions, one that does not
    shows none. Loss: the most likely procedure region (max over their logits) against
    "matches". Score: 1 - that region's probability, served as ONNX."""

    name = "procedure"
    model_name = "region-classifier"
    check = "procedure_match"
    WEIGHTS = "model.pt"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        from moderation.taxonomy import default_taxonomy

        self.regions = list(default_taxonomy().regions)

    @property
    def image_size(self) -> int:
        return int(self.options.get("image_size", 128))

    def inputs(self, dataset: StaffDataset, items: list[LabelledItem]) -> dict[str, torch.Tensor]:
        from models.region_classifier import preprocess

        masks = np.zeros((len(items), len(self.regions)), bool)
        for row, item in enumerate(items):
            for region in item.regions:
                masks[row, self.regions.index(region)] = True
        return {"x": _stack([preprocess(load_rgb(dataset.path(i)), self.image_size)[0]
                             for i in items]),
                "mask": torch.from_numpy(masks), "label": torch.tensor([i.label for i in items])}

    def network(self, init: ModelVersion | Path | None) -> nn.Module:
        from models.region_classifier import RegionProcedureNet

        network = RegionProcedureNet(len(self.regions), 1,
                                     arch=self.options.get("arch", "mobilenet_v3_small"))
        if isinstance(init, ModelVersion) and self.WEIGHTS not in init.files:
            raise ValueError(f"{init.name} {init.version} has no PyTorch weights ({self.WEIGHTS})"
                             " to start from; set init = \"scratch\" in the config")
        return _with_weights(network, init, self.WEIGHTS)

    def loss(self, network: nn.Module, batch: dict[str, torch.Tensor],
             rng: np.random.Generator) -> torch.Tensor:
        x = batch["x"]
        if rng.random() < 0.5:
            x = torch.flip(x, dims=[3])
        return _bce(self.logits(network, {**batch, "x": x}), batch["label"])

    def logits(self, network: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        region_logits, _ = network(batch["x"])
        shown = region_logits.masked_fill(~batch["mask"], -math.inf).amax(dim=1)
        return -shown  # broken: none of the procedure's regions is shown

    def export(self, network: nn.Module, directory: Path) -> dict[str, Path]:
        from models.region_classifier import LABELS_FILE, ONNX_FILE, export_onnx

        network = network.cpu().eval()
        export_onnx(network, directory / ONNX_FILE, self.image_size)
        torch.save(network.state_dict(), directory / self.WEIGHTS)
        (directory / LABELS_FILE).write_text(json.dumps(
            {"regions": self.regions, "procedures": [], "image_size": self.image_size,
             "arch": self.options.get("arch", "mobilenet_v3_small")}, indent=2) + "\n")
        return {name: directory / name for name in (ONNX_FILE, LABELS_FILE, self.WEIGHTS)}

    def scorer(self, version: ModelVersion) -> Callable[[np.ndarray, LabelledItem], float]:
        from models.region_classifier import RegionClassifier

        classifier = RegionClassifier(version)

        def score(image: np.ndarray, item: LabelledItem) -> float:
            regions = classifier.predict(image).regions
            return 1.0 - max((regions.get(r, 0.0) for r in item.regions), default=0.0)
        return score


LEARNERS: dict[str, type[Learner]] = {
    learner.name: learner for learner in (CollageLearner, WatermarkLearner,
                                          WatermarkHeadLearner, ProcedureLearner)
}


def learner_for(name: str, options: dict[str, Any]) -> Learner:
    if name not in LEARNERS:
        raise KeyError(f"no learner '{name}'; choose from {', '.join(LEARNERS)}")
    return LEARNERS[name](options)
