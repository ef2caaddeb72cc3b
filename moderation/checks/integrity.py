"""`integrity`: every photo is a working image, not broken, cut off, blank or a thumbnail."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from moderation.checks.base import BOTH_DESTINATIONS, Check, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.schemas import Evidence

_DECODE_FAILURE_SCORE = 1.0
_BLANK_SCORE = 0.95
_PARTIAL_SCORE = 0.9
_SMALL_SCORE = 0.7
_HEALTHY_SCORE = 0.0
# libjpeg fills what a cut-off file does not hold with mid-grey.
_FILL_GREY = (118, 138)


class IntegrityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_side: int = Field(300, ge=1)
    blank_std: float = Field(2.0, ge=0)
    partial_rows: float = Field(0.08, gt=0, lt=1)


class IntegrityCheck(Check):
    name = "integrity"
    version = "1.0"
    destinations = BOTH_DESTINATIONS
    Options = IntegrityOptions

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self._observe(photo) for photo in submission.photos]

    def _observe(self, photo: PreparedPhoto) -> Observation:
        values: dict[str, object] = {"format": photo.format.value, "width": photo.width,
                                     "height": photo.height}
        if photo.problem is not None or photo.image is None:
            code = photo.problem.code if photo.problem else "unreadable"
            message = photo.problem.message if photo.problem else "the image could not be decoded"
            values["problem"] = code
            return Observation(photo.target, _DECODE_FAILURE_SCORE,
                               f"{photo.target} is {code}: {message}",
                               Evidence(values=values))
        grey = cv2.cvtColor(photo.image, cv2.COLOR_RGB2GRAY)
        values["std"] = round(float(cv2.meanStdDev(grey)[1][0, 0]), 2)
        if values["std"] < self.options.blank_std:
            values["problem"] = "blank"
            return Observation(photo.target, _BLANK_SCORE,
                               f"{photo.target} is blank (one flat colour)", Evidence(values=values))
        filled = _grey_fill_share(grey)
        if filled >= self.options.partial_rows:
            values["problem"] = "partial"
            values["grey_fill_share"] = round(filled, 3)
            return Observation(photo.target, _PARTIAL_SCORE,
                               f"{photo.target} is cut off: its lower part is empty grey fill",
                               Evidence(values=values))
        if min(photo.width or 0, photo.height or 0) < self.options.min_side:
            values["problem"] = "too_small"
            return Observation(
                photo.target, _SMALL_SCORE,
                f"{photo.target} is too small to review ({photo.width}x{photo.height} px)",
                Evidence(values=values))
        return Observation(photo.target, _HEALTHY_SCORE, f"{photo.target} decodes cleanly",
                           Evidence(values=values))


def _grey_fill_share(grey: np.ndarray) -> float:
    """Share of the image height, from the bottom up, that is one flat mid-grey."""
    if not _is_flat_grey(grey[-1:]):
        return 0.0  # the usual case, decided on one row
    row_min, row_max = grey.min(axis=1), grey.max(axis=1)
    flat_grey = ((row_max.astype(np.int16) - row_min <= 2) & (row_min >= _FILL_GREY[0])
                 & (row_max <= _FILL_GREY[1]))
    not_flat = np.flatnonzero(~flat_grey)
    first_filled_row = not_flat[-1] + 1 if not_flat.size else 0
    return (grey.shape[0] - first_filled_row) / grey.shape[0]


def _is_flat_grey(rows: np.ndarray) -> bool:
    low, high = int(rows.min()), int(rows.max())
    return high - low <= 2 and low >= _FILL_GREY[0] and high <= _FILL_GREY[1]
