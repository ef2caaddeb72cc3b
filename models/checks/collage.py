"""`collage`: the gallery takes single photos, not composites.

The learned model (`models.collage.CollageNet`, promoted in the model registry) scores the
photo; the seam analysis joins it (a calibrated combination shipped with the model, or a
uniform gutter crossing the whole photo raising the score); label text read by OCR (BEFORE/AFTER, PRE-OP/POST-OP ... in two places of one photo)
raises the score when the OCR component is installed; the seam analysis
(`models.collage.find_seams`) gives the evidence: seam lines and panel boxes, in the
original photo's pixels.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.collage import CollageScorer, Seam, panel_boxes
from models.registry import ModelRegistry
from moderation.checks.base import GALLERY_ONLY, Check, CheckContext, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.policy import on_scale
from moderation.schemas import Evidence, ModelRef
from moderation.settings import CheckSettings

LABEL_PATTERN = re.compile(
    r"\b(before|after|pre[- ]?op|post[- ]?op|pre|post|\d+\s*(?:days?|weeks?|months?|years?|yrs?))\b",
    re.IGNORECASE)


class CollageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field("collage", description="model name in the registry")
    evidence_from: float = Field(0.3, ge=0, le=1, description="score from which seams are drawn")
    band_score: float = Field(0.9, ge=0, le=1,
                              description="score when a uniform gutter crosses the whole photo")
    label_pair_score: float = Field(0.9, ge=0, le=1,
                                    description="score when two separate labels are read")
    use_ocr_labels: bool = True
    threads: int = Field(1, ge=1)
    backend: Literal["onnxruntime", "torchscript"] = Field(
        "onnxruntime", description="runtime of the learned model (same outputs to ~1e-6)")


class CollageCheck(Check):
    name = "collage"
    version = "1.0"
    destinations = GALLERY_ONLY
    Options = CollageOptions

    def __init__(self, settings: CheckSettings, context: CheckContext) -> None:
        super().__init__(settings, context)
        registry = ModelRegistry.default(context.data_dir)
        promoted = registry.promoted(self.options.model)
        if promoted is None:
            raise RuntimeError(f"no promoted '{self.options.model}' model in the model registry; "
                               "train one with `python -m training.train_collage`")
        self._ref = promoted.ref
        # Versions trained from staff labels carry a threshold chosen on validation data.
        self._threshold: float | None = promoted.thresholds.get("score")
        self._scorer: CollageScorer = context.shared(
            f"model:{promoted.name}:{promoted.version}",
            lambda: CollageScorer(promoted, self.options.band_score, self.options.threads,
                                  self.options.backend))
        self._ocr = _ocr_engine(context) if self.options.use_ocr_labels else None

    @property
    def model(self) -> ModelRef:
        return self._ref

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self._observe(photo) for photo in submission.photos]

    def _observe(self, photo: PreparedPhoto) -> Observation:
        if photo.image is None:
            return Observation(photo.target, 0.0, f"{photo.target} did not decode; not checked")
        score, probability, seams = self._scorer.score(photo.image)
        if self._threshold is not None:
            score = on_scale(score, self._threshold, self.settings.fail_at)
        values: dict[str, Any] = {"model_probability": round(probability, 4)}
        height, width = photo.image.shape[:2]
        labels = self._labels(photo)
        evidence = Evidence(values=values)
        if len(labels) >= 2:
            score = max(score, self.options.label_pair_score)
            values["labels_read"] = [label["text"] for label in labels]
            evidence.boxes.extend(photo.to_original(l["x"], l["y"], l["w"], l["h"], label="label")
                                  for l in labels)
        if score < self.options.evidence_from:
            return Observation(photo.target, score, f"{photo.target} is a single photo", evidence)
        panels = panel_boxes(width, height, seams)
        evidence.lines = [_line(photo, seam) for seam in seams]  # type: ignore[attr-defined]
        evidence.boxes.extend(photo.to_original(*box, label="panel") for box in panels)
        values["seams"] = len(seams)
        values["panels"] = len(panels)
        values["separator_bands"] = sum(seam.kind == "band" for seam in seams)
        return Observation(photo.target, score, _reason(photo, len(panels), len(seams), labels),
                           evidence)

    def _labels(self, photo: PreparedPhoto) -> list[dict[str, Any]]:
        if self._ocr is None:
            return []
        from models.ocr import read_text  # present with the OCR component (issue 4)

        found = []
        for region in read_text(photo, self._ocr):
            match = LABEL_PATTERN.search(region.text or "")
            if match:
                found.append({"text": match.group(0).upper(), "x": region.x, "y": region.y,
                              "w": region.w, "h": region.h})
        # Two labels count only if they are apart (not two words of one line).
        apart = []
        for label in found:
            if all(abs(label["x"] - other["x"]) > other["w"] or abs(label["y"] - other["y"]) > other["h"]
                   for other in apart):
                apart.append(label)
        return apart


def _ocr_engine(context: CheckContext):  # type: ignore[no-untyped-def]
    try:
        from models.ocr import ocr_engine
    except ImportError:  # the OCR component is not installed in this build
        return None
    return ocr_engine(context)


def _line(photo: PreparedPhoto, seam: Seam) -> dict[str, Any]:
    x1, y1, x2, y2 = seam.as_line()
    factor = 1.0 / photo.scale
    return {"x1": round(x1 * factor), "y1": round(y1 * factor), "x2": round(x2 * factor),
            "y2": round(y2 * factor), "label": f"seam ({seam.kind})"}


def _reason(photo: PreparedPhoto, panels: int, seams: int, labels: list[dict[str, Any]]) -> str:
    details = []
    if panels:
        details.append(f"{panels} panels")
    elif seams:
        details.append(f"{seams} straight seam{'s' if seams > 1 else ''}")
    if len(labels) >= 2:
        details.append(f"{len(labels)} before/after labels")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{photo.target} looks like a collage{suffix}"
