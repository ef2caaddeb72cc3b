"""`phi_image`'s text part: identifiers burned into photos, read by the real OCR and judged
by the real PHI text detector from `nlp/` (Presidio + spaCy), end to end through /v1/score."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from datasets import sample_photos
from datasets.fonts import font
from models.checks.phi_image import PhiImageCheck, _without_practice_marks
from models.ocr import TextRegion
from moderation.checks.base import CheckContext
from moderation.image_formats import ImageFormat
from moderation.intake import PreparedPhoto
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from tests.conftest import post_score


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> PhiImageCheck:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    return PhiImageCheck(settings.check("phi_image"), context)


def labelled(text: str | None, at: tuple[int, int] = (80, 90), size: int = 40,
             name: str = "astronaut", on_card: bool = True) -> Image.Image:
    image = Image.fromarray(sample_photos.load(name)).resize((1200, 1200))
    if text:
        draw = ImageDraw.Draw(image)
        face = font("DejaVuSans.ttf", size)
        left, top, right, bottom = draw.textbbox(at, text, font=face)
        if on_card:
            draw.rectangle([left - 12, top - 10, right + 12, bottom + 10], fill=(250, 250, 245))
        draw.text(at, text, font=face, fill=(20, 20, 30) if on_card else (255, 150, 30))
    return image


def photo_of(image: Image.Image, metadata=None) -> PreparedPhoto:
    array = np.asarray(image)
    return PreparedPhoto(id="set1/before", part="b1", view=None, data=b"", sha256="0" * 64,
                         format=ImageFormat.JPEG, width=array.shape[1], height=array.shape[0],
                         image=array, metadata=metadata or [])


def test_a_name_label_in_view_fails_with_its_box_and_text(check: PhiImageCheck) -> None:
    observation = check.observe(photo_of(labelled("Patient: Maria Lopez")))
    assert observation.score >= check.settings.fail_at
    assert "PERSON" in observation.reason and "Lopez" not in observation.reason
    [box] = observation.evidence.boxes
    assert "Lopez" in box.text and "PERSON" in box.label
    assert abs(box.x - 80) < 25 and abs(box.y - 95) < 25 and 350 < box.w < 520
    [text] = observation.evidence.model_extra["texts"]
    span = text["spans"][0]
    assert text["text"][span["start"]:span["end"]].endswith("Lopez")


@pytest.mark.parametrize(("text", "entity"), [
    ("TOMASZ HERRERA", "PERSON"),  # a bare name in capitals: the NER alone misses it
    ("PATIENT: O'CONNELL, CAMILA", "PERSON"),
    ("DOB 03JUL1941", "DATE"),  # a record's compact date in capitals
])
def test_labels_as_records_print_them_fail(check: PhiImageCheck, text: str, entity: str) -> None:
    observation = check.observe(photo_of(labelled(text)))
    assert observation.score >= check.settings.fail_at
    assert [box.label for box in observation.evidence.boxes] == [entity]


def test_a_caption_of_english_words_on_a_card_is_no_name(check: PhiImageCheck) -> None:
    assert check.observe(photo_of(labelled("LEFT OBLIQUE VIEW"))).score == 0.0


def test_a_burned_in_camera_date_counts(check: PhiImageCheck) -> None:
    image = labelled("03/12/2024 14:32", at=(760, 1100), size=36, on_card=False)
    observation = check.observe(photo_of(image))
    assert observation.score >= check.settings.fail_at
    assert observation.evidence.boxes[0].label == "DATE"


def test_a_film_style_date_stamp_counts_too(check: PhiImageCheck) -> None:
    image = labelled("'19 03 12", at=(900, 1100), size=44, on_card=False)
    observation = check.observe(photo_of(image))
    assert observation.score >= check.settings.fail_at
    assert observation.evidence.boxes[0].label == "DATE"


def test_photos_without_text_or_with_a_practice_mark_only_pass(check: PhiImageCheck) -> None:
    assert check.observe(photo_of(labelled(None))).score == 0.0
    practice = labelled("www.smithaesthetics.com", on_card=False)
    assert check.observe(photo_of(practice)).score == 0.0


def test_a_mark_read_in_pieces_is_left_to_the_watermark_check_with_its_line() -> None:
    def region(text: str, x: int, y: int, w: int) -> TextRegion:
        return TextRegion(x, y, w, 30, ((x, y), (x + w, y), (x + w, y + 30), (x, y + 30)),
                          text, 0.9, 0.8)

    surname, practice = region("HADDAD", 100, 500, 120), region("FACIAL PLAST", 240, 503, 220)
    label = region("TOMASZ HERRERA", 100, 700, 260)  # below them: a line of its own
    assert _without_practice_marks([surname, practice, label]) == [label]
    assert _without_practice_marks([surname, label]) == [surname, label]
    tiled = region("HADDAD", 900, 100, 120)  # the same text again elsewhere: a tiled mark
    assert _without_practice_marks([surname, label, tiled]) == [label]
    stickers = [region("MRN 48291733", 100, y, 200) for y in (100, 300)]  # a sheet of them
    assert _without_practice_marks(stickers) == stickers


def test_metadata_and_burned_in_text_are_both_in_the_evidence(check: PhiImageCheck) -> None:
    from moderation.metadata import MetadataItem

    gps = [MetadataItem(key="EXIF GPSInfo", kind="gps", value="40.7N 73.9W")]
    observation = check.observe(photo_of(labelled("MRN 48291733"), metadata=gps))
    assert observation.score >= check.settings.fail_at
    assert observation.evidence.model_extra["metadata"][0]["key"] == "EXIF GPSInfo"
    assert observation.evidence.boxes and "GPS" in observation.reason


def jpeg_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_score_returns_watermark_and_phi_image_findings_with_boxes(client: TestClient) -> None:
    before = labelled("Pt Anna Novak", size=48).resize((2400, 2400))  # working copy: 1000 px
    after = Image.fromarray(sample_photos.load("astronaut")).resize((1200, 1200)).convert("RGBA")
    layer = Image.new("RGBA", after.size)
    ImageDraw.Draw(layer).text((600, 1120), "© Novak Plastic Surgery",
                               font=font("DejaVuSerif-Bold.ttf", 40), fill=(255, 255, 255, 170))
    after = Image.alpha_composite(after, layer).convert("RGB")
    response = post_score(client, files={"b1": jpeg_of(before), "a1": jpeg_of(after)})
    assert response.status_code == 201, response.text
    body = response.json()
    findings = {(f["check"], f["target"]): f for f in body["findings"]}

    phi = findings[("phi_image", "photo:set1/before")]
    assert phi["verdict"] == "fail" and "Novak" not in phi["reason"]
    [box] = phi["evidence"]["boxes"]
    assert "Novak" in box["text"]
    assert abs(box["x"] - 160) < 60 and abs(box["y"] - 180) < 60  # original pixels (2x)

    mark = findings[("watermark", "photo:set1/after")]
    assert mark["verdict"] == "fail" and mark["model"]["name"] == "watermark"
    assert any(b["label"].startswith("text:") and "Novak" in b["text"]
               for b in mark["evidence"]["boxes"])
    assert body["recommendation"]["gallery"]["action"] == "reject"
    assert "watermark" in body["timings_ms"] and "phi_image" in body["timings_ms"]


def test_a_plain_scene_is_not_flagged_by_either(client: TestClient) -> None:
    response = post_score(client)
    assert response.status_code == 201
    for finding in response.json()["findings"]:
        if finding["check"] in ("watermark", "phi_image"):
            assert finding["verdict"] == "pass", finding
