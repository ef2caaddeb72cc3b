"""The faster copies of the pretrained ONNX models (models/quantize.py): the fused text
detector computes what the wheel's does, the INT8 copies find what the fp32 models find on real
photos, the shipped files are the ones their card describes, and settings choose among them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest
from pydantic import ValidationError

from models import quantize
from models.body_parts import BodyPartDetector, BodyPartDetectorConfig, shared_body_part_detector
from models.ocr import OcrEngine, OcrOptions, ocr_engine
from models.onnx_runtime import cpu_session
from moderation.checks.base import CheckContext
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from tests import real_photos
from tests.test_ocr import photo_with_text


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_the_fused_text_detector_computes_what_the_wheel_s_does() -> None:
    source = quantize.source_model("ocr-det")
    fused = quantize.fused_ocr_det(source)
    ops = [node.op_type for node in onnx.load_from_string(fused).graph.node]
    assert ops.count("HardSwish") == 24 and "Clip" not in ops and "Div" not in ops
    batch = quantize.ocr_det_input(photo_with_text())
    wheel_out = cpu_session(source).run(None, {"x": batch})[0]
    fused_out = cpu_session(fused).run(None, {"x": batch})[0]
    assert wheel_out.shape == fused_out.shape
    assert float(np.abs(wheel_out - fused_out).max()) < 1e-3
    assert (wheel_out > 0.3).sum() > 1000  # the drawn date is found: the maps are not empty


@pytest.mark.parametrize("det_model", ["fused", "int8"])
def test_each_text_detector_reads_a_burned_in_date_in_place(det_model: str) -> None:
    engine = OcrEngine(OcrOptions(det_model=det_model))
    assert engine.model.version.endswith(f"-{det_model}")
    dated = [region for region in engine.read(photo_with_text()) if "2024" in region.text]
    assert len(dated) == 1
    assert dated[0].text.replace(" ", "").startswith("12/03/2024")
    assert abs(dated[0].x - 60) < 20 and abs(dated[0].y - 55) < 20
    assert [r.text for r in engine.read(photo_with_text("chelsea", text=None))
            if len(r.text) >= 3] == []


@pytest.fixture(scope="module")
def nudenet_int8(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """NudeNet's INT8 copy, built here as `python -m models.quantize --models nudenet` builds
    it (it is not shipped), calibrated on other real photos than the portraits tested."""
    out = tmp_path_factory.mktemp("int8")
    photos = [real_photos.skimage_photo(name) for name in ("camera", "chelsea", "coffee", "coins")]
    meta = quantize.quantize("nudenet", photos, out)
    assert meta["kept_in_float"] > 50  # the decoding head stays in float
    return out / meta["file"]


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_int8_body_parts_agree_with_fp32_on_portraits(nudenet_int8,  # type: ignore[no-untyped-def]
                                                      name: str) -> None:
    image = (real_photos.grace_hopper() if name == "grace_hopper"
             else real_photos.skimage_photo(name))
    fp32 = BodyPartDetector(BodyPartDetectorConfig(model="fp32")).detect(image)
    int8_detector = BodyPartDetector(BodyPartDetectorConfig(model="fp32"))
    int8_detector._session = cpu_session(nudenet_int8)
    int8 = int8_detector.detect(image)
    confident = [part for part in fp32 if part.score >= 0.5]
    assert any(part.part == "FACE" for part in confident)
    assert all(0 <= part.score <= 1 for part in int8)  # probabilities, not rounded to 0 or 1.3
    for part in confident:  # every confident fp32 part has its INT8 twin in the same place
        twins = [other for other in int8 if other.part == part.part
                 and _iou(other.box, part.box) > 0.8]
        assert twins, f"{part.label} lost by the INT8 model"
        assert abs(twins[0].score - part.score) < 0.15


def test_the_shipped_int8_text_detector_is_the_one_its_card_describes() -> None:
    path = quantize.int8_model("ocr-det")
    meta = json.loads(quantize.meta_file("ocr-det").read_text())
    assert meta["file"] == path.name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    assert hashlib.sha256(quantize.source_model("ocr-det").read_bytes()).hexdigest() == \
        meta["source_sha256"]
    assert meta["seed"] == 0 and "--seed 0" in meta["command"]
    assert meta["sha256"] in (quantize.ROOT / "card.md").read_text()


def test_settings_choose_the_models(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def context(**models: dict) -> CheckContext:
        settings = Settings(data_dir=tmp_path, models={**Settings(data_dir=tmp_path).models,
                                                       **models})
        return CheckContext(settings=settings, taxonomy=default_taxonomy())

    shipped = context()
    assert shared_body_part_detector(shipped).model_name == "nudenet-320n"
    assert ocr_engine(shipped).options.det_model == "fused"
    other = context(ocr={"det_model": "int8"})
    assert ocr_engine(other).model.version.endswith("-int8")
    with pytest.raises(ValidationError):
        shared_body_part_detector(context(nudenet={"model": "fp16"}))
    with pytest.raises(FileNotFoundError, match="models.quantize"):
        quantize.int8_model("nudenet", tmp_path)
