"""A watermark network on the OCR backbone served on the OCR pass (`MarkNetTail`,
`training.export_watermark_tail`, `TailWatermarkDetector`): the shipped 1.8 weights, the real
PP-OCRv4 detector from the rapidocr_onnxruntime wheel, real ONNX Runtime, a real photograph."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from datasets import sample_photos
from models.checks.watermark import WatermarkCheck
from models.ocr import OcrEngine, OcrOptions
from models.registry import SHIPPED_ROOT, ModelRegistry
from models.watermark import (BACKBONE_8_INPUT, TAIL_ONNX_FILE, MarkNet, MarkNetTail,
                              TailWatermarkDetector, WatermarkDetector, load_detector)
from moderation.checks.base import CheckContext
from moderation.image_formats import ImageFormat
from moderation.intake import PreparedPhoto
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from training import export_watermark_tail

SOURCE = "1.8"  # shipped: trained with --arch ppocr --freeze-to 8


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding a copy of the shipped 1.8 and its tail exported as 1.91."""
    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(SHIPPED_ROOT / "watermark" / SOURCE, root / "watermark" / SOURCE)
    assert export_watermark_tail.main(["--source", SOURCE, "--version", "1.91", "--register",
                                       str(root), "--runs", "3"]) == 0
    return root


def scene(size: tuple[int, int] = (512, 384)) -> np.ndarray:
    return cv2.resize(sample_photos.load("coffee"), size, interpolation=cv2.INTER_AREA)


def test_the_tail_computes_the_whole_network_from_the_stride_8_tensor() -> None:
    torch.manual_seed(0)
    network = MarkNet(1.0, "ppocr").eval()
    image = torch.rand(1, 3, 96, 128) * 255
    with torch.inference_mode():
        at8 = network.shallow[0](image / 127.5 - 1.0)
        assert torch.allclose(MarkNetTail(network)(at8), network(image), atol=1e-5)


@pytest.mark.parametrize("arch, freeze_to, named", [
    ("small", 8, "arch 'small'"), ("ppocr", 16, "freeze_to 16")])
def test_only_a_network_frozen_to_the_ocr_stride_8_has_a_tail(
        arch: str, freeze_to: int, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        MarkNetTail(MarkNet(0.5, arch, freeze_to))


def test_the_exported_version_keeps_its_source_s_weights_threshold_and_card(
        registry_root: Path) -> None:
    registry = ModelRegistry([registry_root])
    source, tail = registry.get("watermark", SOURCE), registry.get("watermark", "1.91")
    assert list(tail.files) == [TAIL_ONNX_FILE]
    assert tail.config["input"] == BACKBONE_8_INPUT and tail.config["served_from"] == SOURCE
    assert tail.config["ocr_det_max_side"] == 512 and tail.thresholds == source.thresholds
    assert tail.metrics["val_auroc"] == source.metrics["val_auroc"]
    assert tail.metrics["tail_max_abs_diff"] < 1e-4  # the same logits as the whole network
    assert tail.metrics["tail_onnxruntime_median_ms"] > 0
    card = (tail.directory / "card.md").read_text()
    assert card.startswith("# watermark 1.91\n")
    assert "python -m training.export_watermark_tail" in card
    assert "## 1.8's card" in card and "\n### watermark 1.8\n" in card
    assert "\n# " not in card.split("## 1.8's card")[1].replace("```bash\n#", "")


def test_on_the_ocr_pass_it_scores_a_photo_as_the_whole_network_does(registry_root: Path) -> None:
    """A 512 x 384 photo: the OCR detector's input is the photo itself, as is the network's, so
    the two ways to run the same weights agree (to the fused detector graph's float error)."""
    registry = ModelRegistry([registry_root])
    tail = load_detector(registry.get("watermark", "1.91"))
    assert isinstance(tail, TailWatermarkDetector) and tail.uses_text_features
    image = scene()
    _, features = OcrEngine(OcrOptions()).read_with_features(image)
    on_ocr_pass = tail.predict_features(features)
    whole = WatermarkDetector(registry.get("watermark", SOURCE))
    on_pixels = whole.predict(image)
    assert on_ocr_pass.probabilities.shape == on_pixels.probabilities.shape == (24, 32)
    assert on_ocr_pass.cell == on_pixels.cell == 16
    assert np.abs(on_ocr_pass.probabilities - on_pixels.probabilities).max() < 2e-3
    assert tail.threshold == whole.threshold


def test_features_without_the_stride_8_tensor_are_refused_by_name(registry_root: Path) -> None:
    tail = load_detector(ModelRegistry([registry_root]).get("watermark", "1.91"))
    _, features = OcrEngine(OcrOptions()).read_with_features(scene())
    stripped = type(features)(features.values, features.input_size, features.image_size)
    with pytest.raises(ValueError, match="stride-8 tensor"):
        tail.predict_features(stripped)


def test_the_check_serves_it_beside_the_head_from_the_same_ocr_pass(
        registry_root: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(registry_root, data_dir / "models")
    settings = Settings(data_dir=data_dir)
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    joined = {**settings.check("watermark").options, "also_version": "1.91", "combine": "mean"}
    check = WatermarkCheck(settings.check("watermark").model_copy(update={"options": joined}),
                           context)
    assert [type(d).__name__ for d in check.detectors] == ["FeatureWatermarkDetector",
                                                          "TailWatermarkDetector"]
    image = scene((1024, 768))
    photo = PreparedPhoto(id="set1/after", part="a1", view=None, data=b"", sha256="0" * 64,
                          format=ImageFormat.JPEG, width=1024, height=768, image=image)
    observation = check.observe(photo)
    probability = observation.evidence.values["also_model_probability"]
    _, features = check.feature_ocr.read_with_features(image)
    assert probability == pytest.approx(check.second.predict_features(features).score, abs=1e-4)


@pytest.mark.parametrize("argv, message", [
    (["--source", "1.2"], "not a network on the OCR backbone"),
    (["--source", "0.1"], "no such watermark version"),
    (["--source", SOURCE, "--version", SOURCE], "registered already"),
])
def test_the_export_refuses_what_it_cannot_serve_by_name(
        argv: list[str], message: str, tmp_path: Path) -> None:
    for version in ("1.2", SOURCE):
        shutil.copytree(SHIPPED_ROOT / "watermark" / version, tmp_path / "watermark" / version)
    argv = [*argv, *([] if "--version" in argv else ["--version", "1.92"])]
    with pytest.raises(SystemExit, match=message):
        export_watermark_tail.main([*argv, "--register", str(tmp_path)])
