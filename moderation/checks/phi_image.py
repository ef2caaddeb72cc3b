"""`phi_image`: protected health information carried by a photo.

This covers identifying metadata (GPS position, names, device serials, free text in EXIF,
XMP, IPTC and PNG text), which is also stripped from the stored copy. Text burned into the
pixels is read by OCR in a later component of this check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from moderation.checks.base import BOTH_DESTINATIONS, Check, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.metadata import MetadataItem, MetadataKind
from moderation.schemas import Evidence, ModelRef

_KIND_WORDS: dict[MetadataKind, str] = {
    "gps": "GPS position",
    "name": "a name field",
    "serial": "a device serial number",
    "text": "free text",
}


class PhiImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gps_score: float = Field(0.95, ge=0, le=1)
    name_score: float = Field(0.9, ge=0, le=1)
    serial_score: float = Field(0.6, ge=0, le=1)
    text_score: float = Field(0.6, ge=0, le=1)


class PhiImageCheck(Check):
    name = "phi_image"
    version = "1.0"
    destinations = BOTH_DESTINATIONS
    Options = PhiImageOptions

    @property
    def model(self) -> ModelRef:
        return ModelRef(name="metadata-rules", version=self.version)

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self._observe_metadata(photo) for photo in submission.photos]

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
