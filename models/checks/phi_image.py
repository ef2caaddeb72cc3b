"""`phi_image`: protected health information carried by a photo, from two sources.

- Identifying metadata (GPS position, names, device serials, free text in EXIF, XMP, IPTC and
  PNG text), which is also stripped from the stored copy.
- Text burned into the pixels: the shared OCR (`models.ocr`) reads it, the shared PHI text
  detector (`moderation.phi`, implemented in `nlp/`) finds identifiers in it (a name label, a
  camera date stamp, a wristband, a chart sticker). Each region holding PHI becomes a box in
  the evidence with the text read and its spans; reasons name only the entity types.

It lives in `models/` because it runs the OCR model; `moderation` stays free of models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from models.checks.watermark import cut_practice_mark, practice_mark_kind, repeated_texts
from models.date_stamps import CornerStampOptions, CornerStampReader, stamp_dates
from models.ocr import TextRegion, ocr_engine, on_one_line, read_text, text_features
from moderation.checks.base import BOTH_DESTINATIONS, Check, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.metadata import MetadataItem, MetadataKind
from moderation.phi import PhiTextDetector, shared_detector
from moderation.schemas import Evidence, ModelRef, Span

_KIND_WORDS: dict[MetadataKind, str] = {
    "gps": "GPS position",
    "name": "a name field",
    "serial": "a device serial number",
    "text": "free text",
}
OCR_CONTEXT = "ocr"
# Camera date stamps as OCR reads them: 03/12/2024, 2024-03-12, 12.03.24, '19 03 12, /19/2026.
DATE_STAMP = re.compile(r"(?<!\d)(\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}"
                        r"|'\d{2}[ .]+\d{2}[ .]+\d{2}|/\d{1,2}/(19|20)\d{2})(?!\d)")
DATE_STAMP_SCORE = 0.8
AUTHOR = "author"  # a span's category for the surgeon's own name or practice (not PHI)


class PhiImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gps_score: float = Field(0.95, ge=0, le=1)
    name_score: float = Field(0.9, ge=0, le=1)
    serial_score: float = Field(0.6, ge=0, le=1)
    text_score: float = Field(0.6, ge=0, le=1)
    # Text in the pixels.
    read_text: bool = True
    burned_in_score: float = Field(
        0.9, ge=0, le=1, description="score of a photo whose text holds an identifier")
    min_span_score: float = Field(0.0, ge=0, le=1,
                                  description="detector spans scoring less are ignored")
    ignore_entities: list[str] = Field(
        default_factory=list, description="entity types that do not count in photo text")
    date_stamps: bool = Field(
        True, description="a date-like string read in a photo is a camera date stamp, even "
        "when the text detector, lacking context, does not call it a date")
    skip_practice_marks: bool = Field(
        True, description="text that reads like the practice's own mark (URL, ©, 'Dr. ... "
        "Plastic Surgery') is the watermark check's, not patient PHI")
    corner_stamps: CornerStampOptions = Field(default_factory=CornerStampOptions, description=(
        "a second look at the bottom-right corner where a camera's date stamp may be "
        "(models/date_stamps.py)"))


@dataclass(frozen=True)
class TextFinding:
    region: TextRegion
    spans: list[Span]  # offsets into region.text


class PhiImageCheck(Check):
    name = "phi_image"
    # 1.2: the second look at the date-stamp corner; 1.3: lines joined, colour mask; 1.4: month
    # names in the corner, marks the OCR cut or tiled left to the watermark check
    version = "1.4"
    destinations = BOTH_DESTINATIONS
    Options = PhiImageOptions

    def __init__(self, settings, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, context)
        self.ocr = ocr_engine(context) if self.options.read_text else None
        self.detector: PhiTextDetector | None = (
            shared_detector(context) if self.options.read_text else None)
        self.stamps = (CornerStampReader(self.options.corner_stamps, self.ocr)
                       if self.ocr is not None and self.options.date_stamps
                       and self.options.corner_stamps.enabled else None)

    @property
    def model(self) -> ModelRef:
        if self.ocr is None or self.detector is None:
            return ModelRef(name="metadata-rules", version=self.version)
        return ModelRef(name=f"metadata-rules+{self.ocr.model.name}+{self.detector.name}",
                        version=f"{self.version}/{self.ocr.model.version}/{self.detector.version}")

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self.observe(photo) for photo in submission.photos]

    def observe(self, photo: PreparedPhoto) -> Observation:
        metadata = self._observe_metadata(photo)
        text = self._observe_text(photo)
        if text is None:
            return metadata
        if metadata.score == 0.0:
            return text
        # Both sources: the worse decides the score, the evidence keeps both.
        first, second = (text, metadata) if text.score >= metadata.score else (metadata, text)
        evidence = Evidence(boxes=text.evidence.boxes, spans=text.evidence.spans,
                            values={**metadata.evidence.values, **text.evidence.values},
                            metadata=metadata.evidence.model_extra.get("metadata", []),
                            texts=text.evidence.model_extra.get("texts", []))
        return Observation(photo.target, first.score,
                           f"{first.reason.rsplit(' in ', 1)[0]} and "
                           f"{second.reason.rsplit(' in ', 1)[0]} in {photo.target}", evidence)

    # ------------------------------------------------------------ metadata

    def _score(self, item: MetadataItem) -> float:
        return getattr(self.options, f"{item.kind}_score")

    def _observe_metadata(self, photo: PreparedPhoto) -> Observation:
        if not photo.metadata:
            return Observation(photo.target, 0.0, f"{photo.target} carries no identifying metadata")
        worst = max(photo.metadata, key=self._score)
        entries = [
            {"key": item.key, "kind": item.kind, "value": item.value,
             "stripped": photo.stored_bytes is not None}
            for item in photo.metadata
        ]
        reason = (f"{worst.key} ({_KIND_WORDS[worst.kind]}) in {photo.target}"
                  f"{'' if len(photo.metadata) == 1 else f' and {len(photo.metadata) - 1} more'}")
        return Observation(photo.target, self._score(worst), reason,
                           Evidence(metadata=entries, values={"entries": len(entries)}))

    # ------------------------------------------------------------ text in the pixels

    def _observe_text(self, photo: PreparedPhoto) -> Observation | None:
        if self.ocr is None or self.detector is None or photo.image is None:
            return None
        findings = self.text_findings(photo)
        if not findings:
            return None
        types = sorted({span.entity_type for finding in findings for span in finding.spans})
        boxes = [photo.to_original(f.region.x, f.region.y, f.region.w, f.region.h,
                                   label=",".join(sorted({s.entity_type for s in f.spans})),
                                   score=round(max(s.score for s in f.spans), 4),
                                   text=f.region.text)
                 for f in findings]
        texts = [{"text": f.region.text, "box": box.model_dump(exclude_none=True),
                  "spans": [span.model_dump() for span in f.spans]}
                 for f, box in zip(findings, boxes)]
        reason = f"{', '.join(types)} burned into {photo.target}"
        return Observation(photo.target, self.options.burned_in_score, reason,
                           Evidence(boxes=boxes, texts=texts,
                                    values={"text_regions_with_phi": len(findings)}))

    def text_findings(self, photo: PreparedPhoto) -> list[TextFinding]:
        """Regions whose text holds PHI: those of the photo's one OCR pass, and the date stamp
        that a second look at the camera's corner reads (`models.date_stamps`)."""
        findings = self._first_pass_findings(photo)
        if self.stamps is not None and photo.image is not None:
            findings += self._corner_stamp_findings(photo, findings)
        return findings

    def _first_pass_findings(self, photo: PreparedPhoto) -> list[TextFinding]:
        """One detector call per photo: the regions' texts are joined line by line and the
        spans mapped back to their regions."""
        regions = [region for region in read_text(photo, self.ocr) if region.text]
        if self.options.skip_practice_marks:
            regions = _without_practice_marks(regions)
        if not regions:
            return []
        joined, starts = "", []
        for region in regions:
            starts.append(len(joined))
            joined += region.text + "\n"
        spans = [span for span in self.detector.analyze(joined, context=OCR_CONTEXT)
                 if span.score >= self.options.min_span_score and span.category != AUTHOR
                 and span.entity_type not in self.options.ignore_entities]
        if self.options.date_stamps:
            spans += [_date_span(*match.span()) for match in DATE_STAMP.finditer(joined)
                      if not any(s.start < match.end() and s.end > match.start() for s in spans)]
        findings = []
        for region, start in zip(regions, starts):
            end = start + len(region.text)
            inside = [Span(start=max(span.start, start) - start, end=min(span.end, end) - start,
                           entity_type=span.entity_type, score=span.score, category=span.category)
                      for span in spans if span.start < end and span.end > start]
            if inside:
                findings.append(TextFinding(region, inside))
        return findings

    def _corner_stamp_findings(self, photo: PreparedPhoto,
                               found: list[TextFinding]) -> list[TextFinding]:
        image, orientation = photo.image, photo.orientation
        if any(self.stamps.contains(image, finding.region, orientation)
               and any(span.entity_type == "DATE" for span in finding.spans) for finding in found):
            return []  # the first pass already read the stamp
        if not self.stamps.worth_reading(image, text_features(photo, self.ocr), orientation):
            return []
        return [TextFinding(region, [_date_span(start, end) for start, end in dates])
                for region in self.stamps.read(image, orientation)
                if (dates := stamp_dates(region.text))]


def _without_practice_marks(regions: list[TextRegion]) -> list[TextRegion]:
    """The regions that are not the practice's mark (the watermark check's, not PHI): a region
    that reads like one, whole or cut, or whose text, without digits, the photo shows twice or
    more (the watermark check's tiled text; a sheet of patient stickers repeats its MRN and
    stays PHI), and the regions on its line ("HADDAD" beside the "FACIAL PLAST" the OCR read
    apart)."""
    tiled = {text for text in repeated_texts(regions) if not any(c.isdigit() for c in text)}
    marks = [bool(practice_mark_kind(r.text)) or cut_practice_mark(r.text)
             or r.text.lower() in tiled for r in regions]
    for index, region in enumerate(regions):
        marks[index] = marks[index] or any(mark and on_one_line(region.bounds, other.bounds)
                                           for mark, other in zip(marks, regions))
    return [region for region, mark in zip(regions, marks) if not mark]


def _date_span(start: int, end: int) -> Span:
    return Span(start=start, end=end, entity_type="DATE", score=DATE_STAMP_SCORE,
                category="patient")
