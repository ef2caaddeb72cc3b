"""A second OCR look at the corner where cameras burn in their date stamp.

The photo's one OCR pass sees the whole photo at `[models.ocr] det_max_side` (512 px), where a
camera's small orange date in the bottom-right corner is often a few pixels high: the detector
finds no region, or the recogniser reads part of it ("/2018", "'2005"). `CornerStampReader`
reads that corner again at the working image's own resolution, only where two cheap signs say a
stamp may be there (so most photos cost nothing more):

- stamp-coloured pixels (bright, saturated red, orange or yellow: LCD stamp colours) in the
  corner, and
- either few of them, as a stamp's digits are (a corner that is mostly orange is a warm scene,
  not a stamp), or any text probability in the corner cells of the first pass (the detector's
  own map, pooled, from `models.text_features`; without features, or where the EXIF orientation
  stood the stamp on its side, which that map barely sees, the colour alone decides). On a
  textured background the 512-px map often holds no text at all where a small stamp is, so
  the map alone would keep the second look from the photos that need it most.

A date read there counts as a camera date stamp in the forms cameras print, also those OCR reads
as one digit run: "'25 07 10" read "250710" (a valid YYMMDD), a time run into the date
("03/25/20241747"). The region must itself be stamp-coloured, so a black six-digit number on a
card in that corner is not taken for a date. Regions on one line are read as one (the detector
cuts a stamp where its digits are spaced or at a separator: "2020-11-" "-04"), and where the
corner's pixels give no date, its stamp-coloured pixels alone, drawn dark on white, are read
(over texture the detector may find no text in the photo's own pixels).

The corner is the bottom right of the frame the camera recorded: where intake turned the photo
upright by its EXIF orientation, another corner of the upright photo, which is turned back for
reading so that the stamp lies flat; boxes come back in the upright photo's pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.ocr import OcrEngine, TextFeatures, TextRegion, on_one_line, region_of
from moderation.intake import TRANSPOSING_ORIENTATIONS, camera_frame, upright_points
from models.text_features import channels_of
from nlp.recognizers import MONTHS, MONTHS_CAPS_OCR

# Dates as cameras print them, once the OCR has read them, in three forms:
# 03/12/2024 or 2024-03-12 or 12.03.24, with any time run straight into it ("03/25/20241747");
# '19 03 12 or 190312 (year, month, day; apostrophe and spaces optional); a month's name.
_SEPARATED = re.compile(r"(?<!\d)(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{2,4})")
_RUN = re.compile(r"(?<![\d/.\-])'?(\d{2})[ .]?(\d{2})[ .]?(\d{2})(?![\d/.\-])")
# NOV 27 2026, 27 NOV '26, 27NOV2026: a month's name, in capitals or not, beside its day.
_MONTH = rf"(?:{MONTHS}|{MONTHS_CAPS_OCR})"
_NAMED = re.compile(rf"(?<![A-Za-z\d])(?:{_MONTH}\.?[ .]*(?:0?[1-9]|[12]\d|3[01])(?!\d)"
                    rf"|(?:0?[1-9]|[12]\d|3[01])[ .]*{_MONTH}(?![a-z]))(?:[ .,]*'?\d{{2,4}})?"
                    rf"(?!\d)")
_SEPARATORS = "/.-"


class CornerStampOptions(BaseModel):
    """`[checks.phi_image.options.corner_stamps]` in settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    width_share: float = Field(0.5, gt=0, le=1,
                               description="corner width, share of the camera frame's width")
    height_share: float = Field(0.22, gt=0, le=1,
                                description="corner height, share of the camera frame's height")
    max_hue: int = Field(30, ge=0, le=179,
                         description="stamp colours: OpenCV hue 0..max (red to yellow)")
    min_saturation: int = Field(150, ge=0, le=255)
    min_value: int = Field(170, ge=0, le=255)
    min_colour_share: float = Field(0.002, ge=0, le=1, description=(
        "share of the corner's pixels in stamp colours, to look again"))
    max_colour_share_alone: float = Field(0.08, ge=0, le=1, description=(
        "up to this share of stamp-coloured pixels (a stamp's digits), the colour alone opens "
        "the second look; above it (a warm scene) the first pass must also have seen text "
        "there; 0: never the colour alone"))
    min_text_probability: float = Field(0.02, ge=0, le=1, description=(
        "highest text probability in the corner's cells (first pass); 0: colour alone decides"))
    min_region_colour_share: float = Field(
        0.02, ge=0, le=1, description="share of a read region's pixels in stamp colours")
    join_gap: float = Field(1.0, ge=0, description=(
        "regions on one line are read as one when the gap between them is at most this many "
        "line heights (a date the detector cut in two: '2020-11-' '-04'); 0: never joined"))
    read_colour_mask: bool = Field(True, description=(
        "where the corner's own pixels give no date and stamp colours are few (at most "
        "max_colour_share_alone), read the stamp-coloured pixels alone, drawn dark on white: "
        "a stamp over texture in which the detector finds no text"))
    colour_mask_det_side: int = Field(256, ge=64, le=2048, description=(
        "the text detector's input side for the colour mask (plain dark text on white needs "
        "less than the photo's [models.ocr] det_max_side)"))


@dataclass(frozen=True)
class Corner:
    x: int
    y: int
    w: int
    h: int


class CornerStampReader:
    """Reads again the corner where a camera burns its date stamp: the bottom right of the
    frame the camera recorded, which the photo's EXIF orientation may have turned to another
    corner of the upright photo (and the stamp with it)."""

    def __init__(self, options: CornerStampOptions, engine: OcrEngine) -> None:
        self.options = options
        self.engine = engine
        self._probability_channel = channels_of(["text_prob"])[0]  # max-pooled text probability

    def corner(self, image: np.ndarray, orientation: int = 1) -> Corner:
        """The stamp's corner, in the upright photo's pixels."""
        height, width = image.shape[:2]
        size = (height, width) if orientation in TRANSPOSING_ORIENTATIONS else (width, height)
        x = size[0] * (1 - self.options.width_share)
        y = size[1] * (1 - self.options.height_share)
        ends = upright_points(np.array([[x, y], size], dtype=np.float32), size, orientation)
        (left, top), (right, bottom) = ends.min(axis=0).astype(int), ends.max(axis=0).astype(int)
        return Corner(left, top, right - left, bottom - top)

    def contains(self, image: np.ndarray, region: TextRegion, orientation: int = 1) -> bool:
        corner = self.corner(image, orientation)
        center_x, center_y = region.center
        return (corner.x <= center_x <= corner.x + corner.w
                and corner.y <= center_y <= corner.y + corner.h)

    def stamp_coloured(self, pixels: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2HSV)
        return ((hsv[..., 0] <= self.options.max_hue) & (hsv[..., 1] >= self.options.min_saturation)
                & (hsv[..., 2] >= self.options.min_value))

    def worth_reading(self, image: np.ndarray, features: TextFeatures | None,
                      orientation: int = 1) -> bool:
        corner = self.corner(image, orientation)
        pixels = image[corner.y:corner.y + corner.h, corner.x:corner.x + corner.w]
        if pixels.size == 0:
            return False
        share = float(self.stamp_coloured(pixels).mean())
        if share < self.options.min_colour_share:
            return False
        return (share <= self.options.max_colour_share_alone
                or self._text_seen(image, corner, features, orientation))

    def _text_seen(self, image: np.ndarray, corner: Corner, features: TextFeatures | None,
                   orientation: int) -> bool:
        if features is None or orientation in TRANSPOSING_ORIENTATIONS:
            return True  # on its side, a small stamp barely moves the first pass's text map
        probability = features.values[self._probability_channel]
        rows, cols = probability.shape
        height, width = image.shape[:2]
        top, bottom = int(corner.y * rows / height), -(-(corner.y + corner.h) * rows // height)
        left, right = int(corner.x * cols / width), -(-(corner.x + corner.w) * cols // width)
        cells = probability[top:bottom, left:right]
        return cells.size > 0 and float(cells.max()) >= self.options.min_text_probability

    def read(self, image: np.ndarray, orientation: int = 1) -> list[TextRegion]:
        """The corner's stamp-coloured text, line by line, read in the camera's frame (where
        the stamp lies flat), in the upright photo's pixels. Regions of other colours are not
        read (most text in that corner is not a stamp). Where no line holds a date, the
        stamp-coloured pixels alone are read too (`read_colour_mask`)."""
        corner = self.corner(image, orientation)
        upright = image[corner.y:corner.y + corner.h, corner.x:corner.x + corner.w]
        pixels = np.ascontiguousarray(camera_frame(upright, orientation))
        coloured = self.stamp_coloured(pixels)
        lines = self._read_lines(pixels, coloured)
        if (self.options.read_colour_mask and not any(stamp_dates(line.text) for line in lines)
                and 0 < coloured.mean() <= self.options.max_colour_share_alone):
            lines += self._read_lines(_dark_on_white(coloured),
                                      det_side=self.options.colour_mask_det_side)
        size = (pixels.shape[1], pixels.shape[0])
        offset = np.array([corner.x, corner.y], dtype=np.float32)
        return [region_of(upright_points(line.quad, size, orientation) + offset,
                          line.text, line.confidence, line.score) for line in lines]

    def _read_lines(self, pixels: np.ndarray, coloured: np.ndarray | None = None,
                    det_side: int | None = None) -> list[_Read]:
        """The text lines in `pixels`; with the stamp-colour mask `coloured`, only regions
        stamp-coloured enough (`min_region_colour_share`) are read."""
        quads, scores = self.engine.detect(pixels, det_side)
        found = [(quad, score) for quad, score in zip(quads, scores) if coloured is None
                 or _share_inside(coloured, quad) >= self.options.min_region_colour_share]
        texts = self.engine.recognize(pixels, [quad for quad, _ in found])
        reads = [_Read(quad, text.strip(), confidence, score)
                 for (quad, score), (text, confidence) in zip(found, texts)
                 if text.strip() and confidence >= self.engine.options.min_confidence]
        return _join_lines(reads, self.options.join_gap)


def _share_inside(coloured: np.ndarray, quad: np.ndarray) -> float:
    """The share of a quad's bounding box that the colour mask covers."""
    x0, y0 = np.floor(quad.min(axis=0)).astype(int).clip(0)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    inside = coloured[y0:y1, x0:x1]
    return float(inside.mean()) if inside.size else 0.0


@dataclass(frozen=True)
class _Read:
    quad: np.ndarray  # 4 x 2 corners in the read image's pixels
    text: str
    confidence: float
    score: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        (left, top), (right, bottom) = self.quad.min(axis=0), self.quad.max(axis=0)
        return float(left), float(top), float(right), float(bottom)


def _join_lines(reads: list[_Read], max_gap: float) -> list[_Read]:
    """Regions on one line, close together, read as one, left to right: the detector may cut
    a stamp where its digits are spaced ("'25" "0212") or at a separator ("2020-11-" "-04")."""
    lines: list[list[_Read]] = []
    for read in sorted(reads, key=lambda read: read.bounds[0]):
        line = next((line for line in lines
                     if on_one_line(line[-1].bounds, read.bounds, max_gap)), None)
        if line is None:
            lines.append([read])
        else:
            line.append(read)
    return [_joined(line) for line in lines]


def _joined(line: list[_Read]) -> _Read:
    if len(line) == 1:
        return line[0]
    text = line[0].text
    for read in line[1:]:
        if text[-1] in _SEPARATORS and read.text[0] in _SEPARATORS:
            text += read.text[1:]  # both regions hold the separator they were cut at
        elif text[-1] in _SEPARATORS or read.text[0] in _SEPARATORS:
            text += read.text
        else:
            text += " " + read.text
    points = np.concatenate([read.quad for read in line])
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    quad = np.array([[left, top], [right, top], [right, bottom], [left, bottom]],
                    dtype=np.float32)
    return _Read(quad, text, min(read.confidence for read in line),
                 max(read.score for read in line))


def _dark_on_white(coloured: np.ndarray) -> np.ndarray:
    """The stamp-coloured pixels as black text on white, the form the detector reads best."""
    image = np.full((*coloured.shape, 3), 255, dtype=np.uint8)
    image[coloured] = 0
    return image


def stamp_dates(text: str) -> list[tuple[int, int]]:
    """(start, end) of each date in `text` as a camera stamps it and OCR reads it."""
    found = []
    for match in _SEPARATED.finditer(text):
        first, second, third = match.groups()
        if _valid_separated(first, second, third):
            found.append(match.span())
    for match in _RUN.finditer(text):
        year, month, day = (int(group) for group in match.groups())
        if 1 <= month <= 12 and 1 <= day <= 31 and not any(
                start < match.end() and end > match.start() for start, end in found):
            found.append(match.span())
    for match in _NAMED.finditer(text):
        if not any(start < match.end() and end > match.start() for start, end in found):
            found.append(match.span())
    return sorted(found)


def _valid_separated(first: str, second: str, third: str) -> bool:
    if len(first) == 4:  # year-month-day
        return 1 <= int(second) <= 12 and 1 <= int(third[:2]) <= 31
    month, day = int(first), int(second)
    return (1 <= month <= 12 and 1 <= day <= 31) or (1 <= day <= 12 and 1 <= month <= 31)
