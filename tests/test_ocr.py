"""The OCR shared by the checks: real PP-OCRv4 models from the rapidocr_onnxruntime wheel, run
on real photographs (scikit-image / matplotlib sample photos) with text drawn into them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from pydantic import ValidationError

from datasets import sample_photos
from datasets.fonts import font
from models import ppocr_backbone
from models.ocr import OcrEngine, OcrOptions, ocr_engine, read_text, text_features
from models.text_features import BACKBONE_8_CHANNELS, CHANNELS
from moderation.checks.base import CheckContext
from moderation.image_formats import ImageFormat
from moderation.intake import PreparedPhoto
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine(OcrOptions(features=False))


def photo_with_text(name: str = "grace_hopper", text: str | None = "12/03/2024 14:32",
                    at: tuple[int, int] = (60, 50), size: int = 40) -> np.ndarray:
    base = Image.fromarray(sample_photos.load(name)).resize((1024, 1200))
    if text:
        ImageDraw.Draw(base).text(at, text, font=font("DejaVuSansMono-Bold.ttf", size),
                                  fill=(255, 170, 0))
    return np.asarray(base)


def prepared(image: np.ndarray) -> PreparedPhoto:
    return PreparedPhoto(id="set1/before", part="b1", view=None, data=b"", sha256="0" * 64,
                         format=ImageFormat.JPEG, width=image.shape[1], height=image.shape[0],
                         image=image)


def test_reads_a_burned_in_date_and_boxes_it(engine: OcrEngine) -> None:
    regions = engine.read(photo_with_text())
    dated = [region for region in regions if "2024" in region.text]
    assert len(dated) == 1
    region = dated[0]
    assert region.text.replace(" ", "").startswith("12/03/2024")
    assert region.confidence > 0.8
    # The drawn text starts at (60, 50) and is ~40 px tall, ~390 px wide.
    assert abs(region.x - 60) < 20 and abs(region.y - 55) < 20
    assert 300 < region.w < 480 and 25 < region.h < 80


def test_a_photo_without_text_yields_no_text(engine: OcrEngine) -> None:
    regions = engine.read(photo_with_text("chelsea", text=None))
    assert [region.text for region in regions if len(region.text) >= 3] == []


def test_rotated_text_is_read(engine: OcrEngine) -> None:
    base = Image.fromarray(sample_photos.load("astronaut")).resize((1200, 1200))
    layer = Image.new("RGBA", (800, 120), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((10, 10), "DR SMITH CLINIC", font=font("DejaVuSans-Bold.ttf", 64),
                               fill=(255, 255, 255, 230))
    layer = layer.rotate(20, expand=True)
    base.paste(layer, (250, 500), layer)
    texts = " ".join(region.text for region in engine.read(np.asarray(base))).upper()
    assert "SMITH" in texts


def test_read_text_runs_once_per_photo(engine: OcrEngine) -> None:
    calls: list[int] = []

    class CountingEngine(OcrEngine):
        def read_with_features(self, image: np.ndarray, detail=None):  # type: ignore[no-untyped-def]
            calls.append(1)
            return super().read_with_features(image, detail)

    counting = CountingEngine.__new__(CountingEngine)
    counting.__dict__.update(engine.__dict__)
    photo = prepared(photo_with_text())
    first = read_text(photo, counting)
    again = read_text(photo, counting)
    assert first is again and len(calls) == 1
    assert read_text(prepared(photo_with_text()), counting) == first and len(calls) == 2


def test_text_is_read_from_a_larger_decode_where_the_detector_found_some(
        engine: OcrEngine) -> None:
    """A 12-MP upload with burned-in text, decoded at 1/4 scale (1000 px): recognition reads
    the text from the 1/2-scale decode, asked for only when the detector found text; boxes
    stay in working pixels, so they map to the original as before."""
    import io

    from moderation.intake import decode_for_checks, inspect_upload
    from moderation.settings import IntakeSettings

    base = Image.fromarray(sample_photos.load("grace_hopper")).resize((3000, 4000))
    ImageDraw.Draw(base).text((240, 200), "DOB 04/11/1961", font=font("DejaVuSans.ttf", 64),
                              fill=(255, 255, 255))
    buffer = io.BytesIO()
    base.save(buffer, "JPEG", quality=90)
    photo = inspect_upload("set1/before", "b1", None, buffer.getvalue(), IntakeSettings())
    decode_for_checks(photo, 1000)
    assert photo.image is not None and photo.image.shape[:2] == (1000, 750)
    asked: list[int] = []

    def detail() -> np.ndarray | None:
        asked.append(1)
        return photo.detail_image(2000)

    regions = engine.read(photo.image, detail)
    assert asked == [1]
    dated = [region for region in regions if "1961" in region.text]
    assert len(dated) == 1
    box = photo.to_original(dated[0].x, dated[0].y, dated[0].w, dated[0].h)
    assert abs(box.x - 240) < 40 and abs(box.y - 200) < 40 and 400 < box.w < 700
    # The text is read from the larger image's pixels: with them blanked, nothing is read.
    blank = lambda: np.zeros((2000, 1500, 3), np.uint8)  # noqa: E731
    assert not any("1961" in region.text for region in engine.read(photo.image, blank))
    # No text found: the photo is not decoded again.
    asked.clear()
    empty = np.asarray(Image.fromarray(sample_photos.load("chelsea")).resize((1000, 750)))
    engine.read(empty, detail)
    assert asked == ([1] if engine.detect(empty)[0] else [])


def test_read_max_side_names_itself_in_the_model_version() -> None:
    assert "read2000" in OcrEngine(OcrOptions(read_max_side=2000)).model.version


def test_a_photo_that_did_not_decode_has_no_text(engine: OcrEngine) -> None:
    photo = prepared(photo_with_text())
    photo.image = None
    assert read_text(photo, engine) == []


def test_the_engine_is_built_once_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models={"ocr": {"det_max_side": 480, "threads": 1}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    first = ocr_engine(context)
    assert first is ocr_engine(context)
    assert first.options.det_max_side == 480
    assert first.model.name == "rapidocr-ppocrv4" and "det480" in first.model.version


def test_unknown_or_bad_ocr_options_are_refused() -> None:
    with pytest.raises(ValidationError, match="det_max_sid"):
        OcrOptions.model_validate({"det_max_sid": 640})
    with pytest.raises(ValidationError, match="det_max_side"):
        OcrOptions.model_validate({"det_max_side": 10})


# ---------------------------------------------------------------- the detector's features

@pytest.fixture(scope="module")
def feature_engine() -> OcrEngine:
    return OcrEngine()  # features are on by default, as in defaults.toml (watermark 2.x reads them)


def test_the_ocr_options_default_to_the_shipped_settings(tmp_path: Path) -> None:
    """`OcrOptions()` (the training command, the retraining loop, benches) and the service's
    `[models.ocr]` (defaults.toml) describe the same engine."""
    shipped = Settings(data_dir=tmp_path).models["ocr"]
    assert OcrOptions.model_validate(shipped) == OcrOptions()


def test_the_detector_gives_its_features_from_the_same_pass(
        engine: OcrEngine, feature_engine: OcrEngine) -> None:
    image = photo_with_text()  # 1024 x 1200: the detector sees 448 x 512
    regions, features = feature_engine.read_with_features(image)
    assert features is not None and features.values.dtype == np.float32
    assert features.values.shape == (CHANNELS, 512 // 16, 448 // 16)
    assert features.input_size == (448, 512) and features.image_size == (1024, 1200)
    assert np.isfinite(features.values).all() and features.values.std() > 0
    # the extra output leaves the text found and read unchanged
    assert regions == engine.read(image)
    assert engine.read_with_features(image)[1] is None


def test_the_same_pass_gives_the_backbone_s_stride_8_tensor(feature_engine: OcrEngine) -> None:
    """What a watermark network on the OCR backbone reads (`MarkNetTail`): the tensor the
    backbone's first stages compute on the detector's own input (the fused graph's within
    float error of the wheel's)."""
    image = photo_with_text()
    _, features = feature_engine.read_with_features(image)
    assert features.backbone8.shape == (BACKBONE_8_CHANNELS, 512 // 8, 448 // 8)
    detector_input = cv2.resize(image, (448, 512), interpolation=cv2.INTER_AREA)
    batch = (detector_input.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
    with torch.inference_mode():
        expected = ppocr_backbone.load_stages().prefix(torch.from_numpy(batch))[0].numpy()
    assert np.abs(features.backbone8 - expected).max() < 1e-3 * np.abs(expected).max()


def test_the_text_probability_channels_see_the_text(feature_engine: OcrEngine) -> None:
    """The last two channels are the text probability, max- and mean-pooled per 16-px cell:
    hot over the burned-in date (top left), cold over a plain part of the photo."""
    _, features = feature_engine.read_with_features(photo_with_text(at=(60, 50), size=40))
    peak = features.values[-2]
    date_cells = peak[1:5, 1:12]  # the date: x 60-450, y 50-95 of 1024 x 1200 -> cells
    assert date_cells.max() > 0.9 and peak[20:, :].max() < 0.5


def test_text_features_come_from_the_photo_s_one_ocr_pass(feature_engine: OcrEngine) -> None:
    photo = prepared(photo_with_text())
    regions = read_text(photo, feature_engine)
    features = text_features(photo, feature_engine)
    assert features is text_features(photo, feature_engine) and read_text(photo, feature_engine) is regions
    assert text_features(prepared(photo_with_text()), OcrEngine(OcrOptions(features=False))) is None


def test_the_int8_detector_gives_no_features() -> None:
    """Its tensors of the same names are far from the fp32 ones the watermark head learnt."""
    engine = OcrEngine(OcrOptions(det_model="int8", features=True))
    assert not engine.gives_features
    assert engine.read_with_features(photo_with_text())[1] is None
