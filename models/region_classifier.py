"""The trainable region classifier: a torchvision backbone with two heads.

- regions: one sigmoid per taxonomy region (multi-label: a face shows eyes, nose, lips ...);
- procedures: a softmax over procedure codes (trained only on photos labelled with one).

`training/train_region_classifier.py` trains it and exports it to ONNX; the service runs the
ONNX file with ONNX Runtime (`RegionClassifier`), loaded once from the model registry
(`models/registry.py`, name `region-classifier`), and combines its region probabilities with
the detectors'. Labels and input size travel with the weights (`labels.json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from models.registry import ModelRegistry, ModelVersion

MODEL_NAME = "region-classifier"
ONNX_FILE = "model.onnx"
LABELS_FILE = "labels.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHITECTURES = ("mobilenet_v3_small", "resnet18")


class RegionProcedureNet(nn.Module):
    """A backbone's pooled features, then a region head and a procedure head."""

    def __init__(self, regions: int, procedures: int, arch: str = "mobilenet_v3_small",
                 weights: str | None = None) -> None:
        super().__init__()
        from torchvision import models as tv_models  # training only: a slow import

        if arch == "mobilenet_v3_small":
            backbone = tv_models.mobilenet_v3_small(weights=weights)
            features = backbone.classifier[0].in_features
            backbone.classifier = nn.Identity()
        elif arch == "resnet18":
            backbone = tv_models.resnet18(weights=weights)
            features = backbone.fc.in_features
            backbone.fc = nn.Identity()
        else:
            raise ValueError(f"unknown architecture {arch}; choose from {', '.join(ARCHITECTURES)}")
        if weights is None:
            # torchvision's MobileNetV3 keeps BatchNorm statistics with momentum 0.01, tuned
            # for long ImageNet runs; a short run from scratch would evaluate with stale ones.
            for module in backbone.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.momentum = 0.1
        self.backbone = backbone
        self.dropout = nn.Dropout(0.2)
        self.region_head = nn.Linear(features, regions)
        self.procedure_head = nn.Linear(features, max(procedures, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.dropout(self.backbone(x))
        return self.region_head(features), self.procedure_head(features)


def preprocess(rgb: np.ndarray, size: int) -> np.ndarray:
    """(1, 3, size, size) float32: the whole photo squashed to a square, ImageNet-normalised
    (training does the same, so a close-up's aspect ratio is part of what it learns)."""
    # The area filter it was trained with: its outputs move by up to 0.5 with another resize.
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    normalised = (resized - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return normalised.transpose(2, 0, 1)[None]


@dataclass
class ClassifierOutput:
    regions: dict[str, float]
    procedures: dict[str, float]


class RegionClassifier:
    """An exported classifier, run with ONNX Runtime on CPU."""

    def __init__(self, model: ModelVersion, threads: int = 1, flip: bool = False) -> None:
        from models.onnx_runtime import cpu_session

        model.verify()
        self.flip = flip  # average with the mirrored photo (test-time augmentation)
        labels = json.loads(model.path(LABELS_FILE).read_text())
        self.model = model
        self.regions: list[str] = labels["regions"]
        self.procedures: list[str] = labels["procedures"]
        self.image_size: int = labels["image_size"]
        self._session = cpu_session(model.path(ONNX_FILE), threads)

    def predict(self, rgb: np.ndarray) -> ClassifierOutput:
        pixels = preprocess(rgb, self.image_size)
        if self.flip:  # one run, a batch of two: the photo and its mirror image
            pixels = np.concatenate([pixels, pixels[..., ::-1]])
        region_logits, procedure_logits = self._session.run(None, {"image": pixels})
        regions = (1 / (1 + np.exp(-region_logits))).mean(axis=0)
        output = ClassifierOutput(
            regions={name: float(p) for name, p in zip(self.regions, regions, strict=True)},
            procedures={})
        if self.procedures:
            logits = procedure_logits[:, : len(self.procedures)]
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs = (probs / probs.sum(axis=1, keepdims=True)).mean(axis=0)
            output.procedures = {name: float(p) for name, p in zip(self.procedures, probs, strict=True)}
        return output


def load_promoted(data_dir: Path, name: str = MODEL_NAME, threads: int = 1,
                  flip: bool = False) -> RegionClassifier | None:
    """The promoted classifier (DATA_DIR/models first, then the shipped one), or None."""
    version = ModelRegistry.default(data_dir).promoted(name)
    return None if version is None else RegionClassifier(version, threads, flip)


def export_onnx(net: RegionProcedureNet, path: Path, image_size: int) -> None:
    import warnings

    net.eval()
    example = torch.zeros(1, 3, image_size, image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter: no onnxscript
        torch.onnx.export(net, (example,), str(path), input_names=["image"],
                          output_names=["regions", "procedures"],
                          dynamic_axes={"image": {0: "batch"}}, dynamo=False)
