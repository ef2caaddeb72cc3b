"""The second OCR look at the date-stamp corner (`models.date_stamps`), with the real OCR and
the real PHI detector: small camera stamps that the photo's one 512-px OCR pass cannot read."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from datasets import sample_photos
from datasets.fonts import font
from datasets.watermarks import burned_in_phi_sample
from models.checks.phi_image import PhiImageCheck
from models.date_stamps import _join_lines, _Read, stamp_dates
from models.ocr import text_features
from moderation.checks.base import CheckContext
from moderation.image_formats import ImageFormat
from moderation.intake import PreparedPhoto, _upright, camera_frame, upright_points
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy

STAMP_ORANGE = (255, 150, 30)


def check_with(tmp_path_factory: pytest.TempPathFactory, **corner: object) -> PhiImageCheck:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    check_settings = settings.check("phi_image")
    options = {**check_settings.options,
               "corner_stamps": {**check_settings.options.get("corner_stamps", {}), **corner}}
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    return PhiImageCheck(check_settings.model_copy(update={"options": options}), context)


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> PhiImageCheck:
    return check_with(tmp_path_factory)


@pytest.fixture(scope="module")
def first_pass_only(tmp_path_factory: pytest.TempPathFactory) -> PhiImageCheck:
    return check_with(tmp_path_factory, enabled=False)


def stamped(text: str, size: int = 30, colour: tuple[int, int, int] = STAMP_ORANGE,
            card_text: str | None = None) -> np.ndarray:
    """A 1400 x 1050 photo with `text` drawn as a camera stamps it, bottom right; with
    `card_text`, black text on a white card to its left, in the same corner."""
    image = Image.fromarray(sample_photos.load("chelsea")).resize((1400, 1050))
    draw = ImageDraw.Draw(image)
    face = font("DejaVuSansMono.ttf", size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
    x, y = 1400 - (right - left) - 56, 1050 - (bottom - top) - 52
    draw.text((x, y), text, font=face, fill=colour)
    if card_text:
        card_face = font("DejaVuSansMono.ttf", 40)
        card_x = 760
        box = draw.textbbox((card_x, y - 20), card_text, font=card_face)
        draw.rectangle([box[0] - 10, box[1] - 8, box[2] + 10, box[3] + 8], fill=(250, 250, 250))
        draw.text((card_x, y - 20), card_text, font=card_face, fill=(15, 15, 15))
    return np.asarray(image)


def photo_of(image: np.ndarray, orientation: int = 1) -> PreparedPhoto:
    """A photo whose camera wrote `image` and EXIF `orientation`, as intake prepares it: the
    pixels turned upright."""
    upright = np.ascontiguousarray(_upright(image, orientation))
    return PreparedPhoto(id="set1/after", part="a", view=None, data=b"", sha256="0" * 64,
                         format=ImageFormat.JPEG, width=upright.shape[1],
                         height=upright.shape[0], image=upright, orientation=orientation)


@pytest.mark.parametrize("text, expected", [
    ("250710", ["250710"]),  # '25 07 10 read as one run
    ("'23 0914", ["'23 0914"]),
    ("'24 11 04", ["'24 11 04"]),
    ("03/25/20241747", ["03/25/2024"]),  # the time run into the date
    ("2023-08-24", ["2023-08-24"]),
    ("12.03.24", ["12.03.24"]),
    ("251310", []),  # no 13th month
    ("250700", []),  # no day 0
    ("1250710", []),  # seven digits: not a stamp
    ("555-1234", []),
    ("12/16", []),  # day and month without a year
    ("13/45/2020", []),
    ("NOV 27 2026", ["NOV 27 2026"]),  # a month's name, before or after its day
    ("27 NOV '26", ["27 NOV '26"]),
    ("080CT 2020", ["080CT 2020"]),  # OCR's zero for the O of OCT, the space lost
    ("Mar. 3, 2024", ["Mar. 3, 2024"]),
    ("MARCH", []),  # a month alone
    ("Nov 2026", []),  # a month and a year: no day
])
def test_dates_as_cameras_print_them_and_ocr_reads_them(text: str, expected: list[str]) -> None:
    assert [text[start:end] for start, end in stamp_dates(text)] == expected


def test_a_small_orange_stamp_the_first_pass_misses_is_read_in_its_corner(
        check: PhiImageCheck, first_pass_only: PhiImageCheck) -> None:
    photo = stamped("'24 11 04")
    assert first_pass_only.observe(photo_of(photo.copy())).score == 0.0
    observation = check.observe(photo_of(photo))
    assert observation.score >= check.settings.fail_at
    assert "DATE" in observation.reason and "24" not in observation.reason
    [box] = observation.evidence.boxes
    assert box.label == "DATE" and box.text.replace(" ", "").lstrip("'") == "241104"
    assert 1150 < box.x + box.w <= 1400 and 950 < box.y + box.h <= 1050


def test_black_digits_on_a_card_in_that_corner_are_not_taken_for_a_stamp(
        check: PhiImageCheck) -> None:
    photo = photo_of(stamped("'24 11 04", card_text="250710"))
    texts = [region.text for region in check.stamps.read(photo.image)]
    assert texts and all("250710" not in text for text in texts)
    [box] = check.observe(photo).evidence.boxes
    assert box.x > 1000  # the orange stamp, not the card


def test_no_second_look_without_stamp_colours_or_with_the_pass_off(
        check: PhiImageCheck, first_pass_only: PhiImageCheck) -> None:
    grey = stamped("'24 11 04", colour=(200, 200, 200))
    assert not check.stamps.worth_reading(grey, None)
    assert check.observe(photo_of(grey)).score == 0.0
    assert first_pass_only.stamps is None


def test_a_stamp_on_texture_the_first_pass_sees_no_text_at_is_read_for_its_colour(
        check: PhiImageCheck, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Over gravel, the 512-px pass's text map holds nothing where the stamp is; its few
    stamp-coloured pixels alone open the second look (`max_colour_share_alone`)."""
    sample = burned_in_phi_sample(sample_photos.split("test"), 7, 35, long_side=1400)
    assert sample.background == "gravel" and sample.phi_texts == ["11/07/2024"]
    photo = photo_of(sample.image)
    corner = check.stamps.corner(photo.image)
    assert not check.stamps._text_seen(photo.image, corner, text_features(photo, check.ocr), 1)
    observation = check.observe(photo)
    assert observation.score >= check.settings.fail_at
    assert [box.text for box in observation.evidence.boxes] == ["11/07/2024"]
    text_needed = check_with(tmp_path_factory, max_colour_share_alone=0.0)
    assert text_needed.observe(photo_of(sample.image)).score == 0.0


def test_a_warm_corner_without_text_is_not_read_again(check: PhiImageCheck) -> None:
    """Most of the corner in stamp colours is a warm scene, not a stamp: there the first
    pass must have seen text too."""
    image = np.array(Image.fromarray(sample_photos.load("chelsea")).resize((1400, 1050)))
    noise = np.random.default_rng(0).integers(-20, 20, (230, 700, 1))
    image[-230:, -700:] = np.clip(np.array(STAMP_ORANGE) + noise, 0, 255)
    photo = photo_of(image)
    corner = check.stamps.corner(image)
    share = check.stamps.stamp_coloured(
        image[corner.y:corner.y + corner.h, corner.x:corner.x + corner.w]).mean()
    assert share > check.stamps.options.max_colour_share_alone
    assert not check.stamps.worth_reading(image, text_features(photo, check.ocr))
    assert check.stamps.worth_reading(image, None)  # no first-pass map: the colour decides


def read_at(text: str, left: float, top: float, right: float, bottom: float) -> _Read:
    quad = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)
    return _Read(quad, text, 0.99, 0.8)


@pytest.mark.parametrize("pieces, joined, touching_only", [
    # The detector cut a date at a separator both pieces hold, or where its digits are spaced.
    ([("-04", 571, 143, 636, 171), ("2020-11-", 417, 132, 588, 175)], ["2020-11-04"],
     ["2020-11-04"]),
    ([("'25", 422, 216, 470, 236), ("0212", 489, 205, 648, 253)], ["'25 0212"],
     ["'25", "0212"]),
    ([("03/25/", 100, 10, 200, 40), ("2024", 205, 12, 260, 40)], ["03/25/2024"],
     ["03/25/", "2024"]),
    # Far apart, or on another line: read apart.
    ([("2024", 100, 10, 160, 40), ("12", 400, 10, 430, 40)], ["2024", "12"], ["2024", "12"]),
    ([("2024", 100, 10, 160, 40), ("11 04", 100, 60, 180, 90)], ["2024", "11 04"],
     ["2024", "11 04"]),
])
def test_pieces_of_one_stamp_line_are_read_as_one(
        pieces: list[tuple], joined: list[str], touching_only: list[str]) -> None:
    lines = _join_lines([read_at(*piece) for piece in pieces], max_gap=1.0)
    assert [line.text for line in lines] == joined
    if len(lines) == 1:
        lefts, tops, rights, bottoms = zip(*(piece[1:] for piece in pieces))
        assert lines[0].bounds == (min(lefts), min(tops), max(rights), max(bottoms))
    no_gap = _join_lines([read_at(*piece) for piece in pieces], max_gap=0.0)
    assert [line.text for line in no_gap] == touching_only


def test_a_stamp_over_texture_that_the_detector_misses_is_read_from_its_colour(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """In this validation photo the detector cuts the stamp "'20 12 16" into "20" and "12/16":
    no date. Its stamp-coloured pixels alone, dark on white, read as one (`read_colour_mask`)."""
    sample = burned_in_phi_sample(sample_photos.split("val"), 7, 50, long_side=1400)
    assert sample.phi_texts == ["'20 12 16"]
    with_mask = check_with(tmp_path_factory)
    without_mask = check_with(tmp_path_factory, read_colour_mask=False)
    assert without_mask.observe(photo_of(sample.image)).score == 0.0
    observation = with_mask.observe(photo_of(sample.image))
    assert observation.score >= with_mask.settings.fail_at
    [box] = observation.evidence.boxes
    assert box.label == "DATE" and box.text.replace(" ", "").lstrip("'") == "201216"
    assert box.x > 700 and box.y > 800  # where the camera burned it: bottom right


def test_settings_name_a_bad_corner_option(tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ValueError, match="width_share"):
        check_with(tmp_path_factory, width_share=1.5)


@pytest.mark.parametrize("orientation, corner", [
    (6, "bottom-left"), (8, "top-right"), (3, "top-left"), (2, "bottom-left")])
def test_a_stamp_in_a_photo_turned_upright_by_its_orientation_is_read_where_it_lies(
        check: PhiImageCheck, orientation: int, corner: str) -> None:
    photo = photo_of(stamped("'24 11 04"), orientation)
    observation = check.observe(photo)
    assert observation.score >= check.settings.fail_at
    [box] = observation.evidence.boxes
    assert box.label == "DATE" and box.text.replace(" ", "").lstrip("'") == "241104"
    height, width = photo.image.shape[:2]
    center_x, center_y = box.x + box.w / 2, box.y + box.h / 2
    vertical, horizontal = corner.split("-")
    assert (center_y > height * 0.75) == (vertical == "bottom")
    assert (center_y < height * 0.25) == (vertical == "top")
    assert (center_x > width * 0.5) == (horizontal == "right")
    if orientation in (6, 8):  # turned a quarter: the stamp stands on its side
        assert box.h > 3 * box.w


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_camera_frame_and_its_points_undo_the_upright_turn(orientation: int) -> None:
    camera = np.arange(5 * 7).reshape(5, 7)
    upright = _upright(camera, orientation)
    assert (camera_frame(upright, orientation) == camera).all()
    centres = np.array([[x + 0.5, y + 0.5] for y in range(5) for x in range(7)])
    for (x, y), (up_x, up_y) in zip(centres, upright_points(centres, (7, 5), orientation)):
        assert upright[int(up_y), int(up_x)] == camera[int(y), int(x)]
