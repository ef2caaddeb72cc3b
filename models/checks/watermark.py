"""`watermark`: no visible watermark or practice logo in a public-gallery photo.

Two kinds of evidence, combined as independent signals (noisy-OR):
- text read by the shared OCR (`models.ocr`) that looks like a mark: a URL or social handle,
  ©/®/™, a phone number, practice words (Dr., MD, clinic, plastic surgery, aesthetics ...),
  the same text tiled over the photo, or any text in a corner or at the centre;
- the learned detector (`models.watermark`), which also finds text-free logos and faint marks
  the OCR cannot read: either a network of its own on the photo's pixels (versions 1.x), or
  a small head on the features the OCR text detector already computed for the photo
  (versions 2.x; `[models.ocr] features = true`). Its probability is mapped so that its registered threshold lands on
  this check's `fail_at`: retraining moves the threshold without editing settings.

Evidence: one box per mark in the photo's own pixels, with the text read where there is text
(the text goes to the response and the review page only; reasons name the kind of mark).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.ocr import OcrEngine, TextRegion, ocr_engine, read_text, text_features
from models.watermark import AnyDetector, DetectorOptions, MarkBox, MarkMap, watermark_detector
from moderation.checks.base import GALLERY_ONLY, Check, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.policy import on_scale
from moderation.schemas import Box, Evidence, ModelRef

_URL = re.compile(r"(www\s?\.|\bww\s?\.|https?:|\.\s?(com|net|org|clinic|md|co\.uk|us|ca|io)\b)",
                  re.IGNORECASE)
_HANDLE = re.compile(r"@[A-Za-z0-9_.]{3,}")
_SYMBOL = re.compile(r"[©®™]|\(c\)|\bcopyright\b", re.IGNORECASE)
_PHONE = re.compile(r"\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}")
_PRACTICE = re.compile(
    r"\b(dr|md|m\.d|facs|clinic|surgery|surgical|aesthetics?|plastics?|cosmetic|medspa|spa|"
    r"laser|beauty|institute|center|centre|dermatology|rejuvenation|photography|studio)\b",
    re.IGNORECASE)


# The words of a practice's name, for recognising a mark the OCR cut at a region's edge.
_PRACTICE_WORDS = ("aesthetic", "aesthetics", "beauty", "center", "centre", "clinic", "contouring",
                   "cosmetic", "cosmetics", "dermatology", "facial", "institute", "laser",
                   "medspa", "photography", "plastic", "plastics", "reconstructive",
                   "rejuvenation", "studio", "surgery", "surgical")


def cut_practice_mark(text: str) -> bool:
    """Whether the text reads like a piece of a practice's mark that the OCR cut, misread or
    ran together ("FACIAL PLASTI", "Rossi Cosmet", "Dsmetic Surge", "Elevate Alesthetics",
    "Aesthetiverly Hills", "OKAFOR FAOXKPLASTICS"): a word holding a practice word, or one
    letter from one, or sharing its first six letters; a last word that starts one (3+
    letters), or a first word that ends one (4+ letters)."""
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return False
    if any(_practice_piece(word) for word in words):
        return True
    last, first = words[-1], words[0]
    return ((len(last) >= 3 and any(p.startswith(last) for p in _PRACTICE_WORDS))
            or (len(first) >= 4 and any(p.endswith(first) for p in _PRACTICE_WORDS)))


def _practice_piece(word: str) -> bool:
    for practice in _PRACTICE_WORDS:
        if practice in word or (len(word) >= 6 and (
                word[:6] == practice[:6] or _one_edit_apart(word, practice))):
            return True
    return False


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter replaced, added or dropped (the OCR's usual misreading of a word)."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def practice_mark_kind(text: str) -> str | None:
    """`url`, `symbol` or `practice` when the text reads like a practice's own mark."""
    if _URL.search(text) or _HANDLE.search(text):
        return "url"
    if _SYMBOL.search(text):
        return "symbol"
    if _PRACTICE.search(text):
        return "practice"
    return None


class TextRules(BaseModel):
    """Scores that text read in a photo gives to 'this photo carries a mark'."""

    model_config = ConfigDict(extra="forbid")

    url: float = Field(0.9, ge=0, le=1)
    symbol: float = Field(0.9, ge=0, le=1, description="©, ®, ™, (c), copyright")
    phone: float = Field(0.85, ge=0, le=1)
    practice: float = Field(0.85, ge=0, le=1, description="Dr., MD, clinic, aesthetics ...")
    tiled: float = Field(0.9, ge=0, le=1, description="one text repeated 3+ times")
    # Text that reads like no mark counts for nothing by default: a badge, a sign or lettering
    # on clothing only lifted clean photos into review (defaults.toml says what was measured).
    placed: float = Field(0.0, ge=0, le=1, description="other text in a corner or the centre")
    other: float = Field(0.0, ge=0, le=1, description="any other legible text")
    corner_share: float = Field(0.22, gt=0, lt=0.5, description="corner zone, share of a side")
    min_letters: int = Field(3, ge=1, description="text with fewer letters is ignored")


class WatermarkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    use_ocr: bool = True
    use_model: bool = True
    detector: DetectorOptions = Field(default_factory=DetectorOptions)
    also_version: str = Field("", description=(
        "a second registered watermark version (e.g. \"1.2\", on the pixels) run beside the "
        "detector, each mapped by its own threshold and joined as `combine` says; "
        "\"\": the detector alone"))
    combine: str = Field("max", pattern="^(max|mean)$", description=(
        "with `also_version`: the model score is the higher (max) or the mean of the two "
        "detectors' calibrated scores"))
    also_weight: float = Field(0.5, ge=0, le=1, description=(
        "with combine = \"mean\": the `also_version` detector's share of the mean (0.5: "
        "the plain mean, 1: that detector alone); combine = \"max\" does not read it"))
    text: TextRules = Field(default_factory=TextRules)
    max_boxes: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _second_model_needs_the_first(self) -> WatermarkOptions:
        if self.also_version and not self.use_model:
            raise ValueError("also_version runs a second detector beside the first: it needs "
                             "use_model = true (or also_version = \"\")")
        return self


@dataclass(frozen=True)
class TextMark:
    region: TextRegion
    kind: str  # url, symbol, phone, practice, tiled, placed, other
    score: float


class WatermarkCheck(Check):
    name = "watermark"
    version = "1.0"
    destinations = GALLERY_ONLY
    Options = WatermarkOptions

    def __init__(self, settings, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, context)
        self.ocr = ocr_engine(context) if self.options.use_ocr else None
        self.detector = (watermark_detector(context, self.options.detector)
                         if self.options.use_model else None)
        self.second = None
        if self.detector is not None and self.options.also_version:
            second = self.options.detector.model_copy(update={"version": self.options.also_version})
            self.second = watermark_detector(context, second)
        self.feature_ocr = self._feature_ocr(context)

    @property
    def detectors(self) -> list[AnyDetector]:
        return [d for d in (self.detector, self.second) if d is not None]

    def _feature_ocr(self, context) -> OcrEngine | None:  # type: ignore[no-untyped-def]
        """The shared OCR engine, when a detector scores its text detector's features."""
        readers = [d for d in self.detectors if d.uses_text_features]
        if not readers:
            return None
        engine = self.ocr or ocr_engine(context)
        for reader in readers:
            _require_its_features(reader, engine)
        return engine

    @property
    def model(self) -> ModelRef:
        if self.detector is None:
            return ModelRef(name="watermark-text-rules", version=self.version)
        return self.detector.ref

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self.observe(photo) for photo in submission.photos if photo.image is not None]

    def observe(self, photo: PreparedPhoto) -> Observation:
        text_marks = self.text_marks(photo)
        model_score, maps = self.detector_scores(photo)
        mark_map = maps[0][1] if maps else None
        text_score = max((mark.score for mark in text_marks), default=0.0)
        score = 1.0 - (1.0 - text_score) * (1.0 - model_score)
        boxes = self.boxes(photo, text_marks, maps)
        values = {"text_score": round(text_score, 4), "model_score": round(model_score, 4),
                  "model_probability": round(mark_map.score, 4) if mark_map else None,
                  "text_regions": len(read_text(photo, self.ocr)) if self.ocr else None}
        if len(maps) > 1:
            values["also_model_probability"] = round(maps[1][1].score, 4)
        return Observation(photo.target, score, self.reason(photo, text_marks, model_score, score),
                           Evidence(boxes=boxes, values=values), model=self.deciding_model(maps))

    # ------------------------------------------------------------ text evidence

    def text_marks(self, photo: PreparedPhoto) -> list[TextMark]:
        if self.ocr is None:
            return []
        found = read_text(photo, self.ocr)
        regions = [r for r in found if r.text]
        height, width = photo.image.shape[:2]
        repeats = repeated_texts(regions)
        shapes = _shape_counts(found)
        marks = []
        for region in regions:
            repeated = region.text.lower() in repeats or shapes[_shape(region)] >= 3
            kind = self.classify(region, (width, height), repeated)
            if kind is not None:
                marks.append(TextMark(region, kind, getattr(self.options.text, kind)))
        return sorted(marks, key=lambda mark: -mark.score)

    def classify(self, region: TextRegion, size: tuple[int, int], repeated: bool) -> str | None:
        text = region.text
        kind = practice_mark_kind(text)
        if kind in ("url", "symbol"):
            return kind
        if _PHONE.search(text):
            return "phone"
        if sum(char.isalpha() for char in text) < self.options.text.min_letters:
            return None  # ruler and tape numbers, single letters drawn on skin
        if kind == "practice":
            return kind
        if repeated:
            return "tiled"
        if _placed(region, size, self.options.text.corner_share):
            return "placed"
        return "other"

    # ------------------------------------------------------------ the model

    def mark_map(self, photo: PreparedPhoto, detector: AnyDetector | None = None) -> MarkMap | None:
        detector = detector or self.detector
        if detector is None:
            return None
        if detector.uses_text_features:
            return detector.predict_features(text_features(photo, self.feature_ocr))
        return detector.predict(photo.image)

    def detector_scores(self, photo: PreparedPhoto,
                        ) -> tuple[float, list[tuple[AnyDetector, MarkMap]]]:
        """The model score (the detectors' calibrated scores, joined as `combine` says) and
        their maps."""
        maps = [(detector, self.mark_map(photo, detector)) for detector in self.detectors]
        return self.join_scores([self.calibrated(m.score, d) for d, m in maps]), maps

    def join_scores(self, scores: list[float]) -> float:
        """The detectors' calibrated scores (the promoted one's first) joined as `combine` and
        `also_weight` say; one score stands alone, none is 0."""
        if len(scores) < 2:
            return scores[0] if scores else 0.0
        if self.options.combine == "max":
            return max(scores)
        weight = self.options.also_weight
        return (1.0 - weight) * scores[0] + weight * scores[1]

    def deciding_model(self, maps: list[tuple[AnyDetector, MarkMap]]) -> ModelRef | None:
        """The `also_version` detector's model when its calibrated score counts (always when
        the two are averaged with a weight above 0; with `max`, when it is the higher), so that
        the response names it among the models used; else None (the check's own)."""
        if len(maps) < 2:
            return None
        if self.options.combine == "mean":
            return maps[1][0].ref if self.options.also_weight > 0 else None
        scores = [self.calibrated(mark_map.score, detector) for detector, mark_map in maps]
        return maps[1][0].ref if scores[1] > scores[0] else None

    def calibrated(self, probability: float, detector: AnyDetector | None = None) -> float:
        """A model's probability mapped so that its threshold becomes this check's fail_at."""
        threshold = (detector or self.detector).threshold
        return on_scale(probability, threshold, self.settings.fail_at)

    # ------------------------------------------------------------ evidence

    def boxes(self, photo: PreparedPhoto, text_marks: list[TextMark],
              maps: list[tuple[AnyDetector, MarkMap]]) -> list[Box]:
        # A hot region of a detector's map is its own box unless a text box already shows it;
        # text that scores below review (text of the scene, by default) shows nothing.
        shown = [m for m in text_marks if m.score >= self.settings.pass_below]
        boxes = [photo.to_original(m.region.x, m.region.y, m.region.w, m.region.h,
                                   label=f"text:{m.kind}", score=round(m.score, 4),
                                   text=m.region.text)
                 for m in shown]
        for detector, mark_map in maps:
            for hot in mark_map.boxes(detector.threshold, self.options.max_boxes):
                if not any(_overlaps(hot, m.region) for m in shown):
                    score = round(self.calibrated(hot.score, detector), 4)
                    boxes.append(photo.to_original(hot.x, hot.y, hot.w, hot.h, label="mark",
                                                   score=score))
        return boxes[: self.options.max_boxes]

    def reason(self, photo: PreparedPhoto, text_marks: list[TextMark], model_score: float,
               score: float) -> str:
        if score < self.settings.pass_below:
            return f"no watermark or logo found in {photo.target}"
        parts = []
        if text_marks and text_marks[0].score >= self.settings.pass_below:
            parts.append(f"watermark-like text ({_KIND_WORDS[text_marks[0].kind]})")
        if model_score >= self.settings.pass_below:
            parts.append(f"a mark or logo the detector finds ({model_score:.2f})")
        return f"{' and '.join(parts) or 'a possible mark'} in {photo.target}"


def _require_its_features(detector: AnyDetector, engine: OcrEngine) -> None:
    """Refuse to start when the OCR engine cannot give the features `detector` learnt: none
    (INT8 detector, `features` off), or at another detector input size than it was trained at."""
    version = detector.ref.version
    if not engine.gives_features:
        raise ValueError(f"watermark model {version} scores the OCR detector's features: set "
                         "[models.ocr] features = true with det_model \"fused\" or \"wheel\", "
                         "or choose a 1.x watermark version")
    learnt_at = detector.version.config.get("ocr_det_max_side")
    if learnt_at is not None and int(learnt_at) != engine.options.det_max_side:
        raise ValueError(f"watermark model {version} learnt the OCR detector's features at "
                         f"[models.ocr] det_max_side = {learnt_at}, not "
                         f"{engine.options.det_max_side}: set it back, retrain the head with "
                         "--det-max-side, or choose a 1.x watermark version")


_KIND_WORDS = {"url": "web address or handle", "symbol": "©/®/™", "phone": "phone number",
               "practice": "practice or doctor's name", "tiled": "repeated over the photo",
               "placed": "text in a corner or the centre", "other": "text"}


def repeated_texts(regions: list[TextRegion]) -> set[str]:
    """The texts (lower-cased) read twice or more: a tiled mark."""
    counts: dict[str, int] = {}
    for region in regions:
        key = region.text.lower()
        counts[key] = counts.get(key, 0) + 1
    # The OCR reads at most a couple of lookalike tiles, so twice already means tiled.
    return {text for text, count in counts.items() if count >= 2 and len(text) >= 4}


def _shape(region: TextRegion) -> tuple[int, int]:
    """Size on a ~10% log scale: equal for the tiles of one tiled mark."""
    return round(math.log(region.w) * 10), round(math.log(region.h) * 10)


def _shape_counts(regions: list[TextRegion]) -> Counter[tuple[int, int]]:
    return Counter(_shape(region) for region in regions)


def _placed(region: TextRegion, size: tuple[int, int], share: float) -> bool:
    width, height = size
    cx, cy = region.center
    near_x = cx < width * share or cx > width * (1 - share)
    near_y = cy < height * share or cy > height * (1 - share)
    central = abs(cx - width / 2) < width * 0.15 and abs(cy - height / 2) < height * 0.15
    return (near_x and near_y) or central


def _overlaps(box: MarkBox, region: TextRegion) -> bool:
    return not (box.x + box.w < region.x or region.x + region.w < box.x
                or box.y + box.h < region.y or region.y + region.h < box.y)
