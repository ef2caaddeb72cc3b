"""`procedure_match`: do the photos show the regions of the declared procedure?

Per photo: the probability that it does *not* show any of the procedure's regions
(`moderation/procedures.toml`), from face and body-part detectors and, when one is promoted,
the region classifier. Per case (target `case`): the probability that no photo shows them,
with the regions the photos do show and the procedures those would fit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.body_parts import (
    BodyPartDetector,
    BodyPartDetectorConfig,
    body_parts_of,
    shared_body_part_detector,
)
from models.faces import FaceDetector, FaceDetectorConfig, faces_of, shared_face_detector
from models.region_classifier import MODEL_NAME, RegionClassifier, load_promoted
from models.regions import RegionEstimate, RegionRules, estimate_regions
from moderation.checks.base import BOTH_DESTINATIONS, Check, CheckContext, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.policy import on_scale
from moderation.schemas import Box, Evidence, ModelRef
from moderation.settings import CheckSettings
from moderation.taxonomy import Procedure

DETECTORS_REF = ModelRef(name="procedure-match-detectors", version="mtcnn-nudenet-1")


class ProcedureMatchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    face_detect_side: int = Field(384, ge=64, description="long side the face detector sees")
    face_min_fraction: float = Field(0.10, gt=0, lt=1)
    face_min_score: float = Field(0.9, ge=0, le=1)
    face_zoom_out_canvases: tuple[float, ...] = Field(
        (1.8,), description="second looks at faceless photos (close-ups); () for none")
    face_zoom_out_min_face: float = Field(
        0.5, gt=0, le=2, description="smallest face a second look seeks, share of the photo's side")
    body_detector: Literal["nudenet", "none"] = "nudenet"
    body_input_size: int = Field(320, ge=64)
    classifier: str = Field(MODEL_NAME, description="registry name of the region classifier; "
                                                    "empty: detectors only")
    classifier_weight: float = Field(0.9, ge=0, le=1)
    classifier_flip: bool = Field(True, description="average the classifier over the photo and "
                                                     "its mirror image (one run, a batch of two)")
    shown_at: float = Field(0.5, ge=0, le=1, description="a region counts as shown from here")
    face_min_height: float = 0.12
    feature_min_height: float = 0.22
    body_part_min_score: float = 0.3
    body_part_min_area: float = 0.01
    dominant_face_height: float = 0.3
    threads: int = Field(1, ge=1)

    @property
    def rules(self) -> RegionRules:
        return RegionRules(face_min_height=self.face_min_height,
                           feature_min_height=self.feature_min_height,
                           body_part_min_score=self.body_part_min_score,
                           body_part_min_area=self.body_part_min_area,
                           dominant_face_height=self.dominant_face_height)


class ProcedureMatchCheck(Check):
    name = "procedure_match"
    version = "1.0"
    destinations = BOTH_DESTINATIONS
    Options = ProcedureMatchOptions

    def __init__(self, settings: CheckSettings, context: CheckContext) -> None:
        super().__init__(settings, context)
        options: ProcedureMatchOptions = self.options
        self.faces = shared_face_detector(context, lambda: FaceDetector(FaceDetectorConfig(
            detect_side=options.face_detect_side, min_face_fraction=options.face_min_fraction,
            min_score=options.face_min_score, zoom_out_canvases=options.face_zoom_out_canvases,
            zoom_out_min_face=options.face_zoom_out_min_face, threads=options.threads)))
        self.bodies: BodyPartDetector | None = None
        if options.body_detector == "nudenet":
            self.bodies = shared_body_part_detector(context, lambda: BodyPartDetector(
                BodyPartDetectorConfig(input_size=options.body_input_size, threads=options.threads)))
        self.classifier: RegionClassifier | None = None
        if options.classifier:
            self.classifier = context.shared(
                f"classifier:{options.classifier}:flip={options.classifier_flip}",
                lambda: load_promoted(context.data_dir, options.classifier, options.threads,
                                      options.classifier_flip))

    @property
    def model(self) -> ModelRef:
        return self.classifier.model.ref if self.classifier else DETECTORS_REF

    # ------------------------------------------------------------ observing

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        procedure = submission.procedure
        observed = [(photo, self.regions_of(photo)) for photo in submission.photos
                    if photo.image is not None]
        observations = [self._observe_photo(photo, estimate, procedure)
                        for photo, estimate in observed]
        if observed:
            observations.append(self._observe_case(observed, procedure))
        return observations

    def regions_of(self, photo: PreparedPhoto) -> RegionEstimate:
        assert photo.image is not None
        height, width = photo.image.shape[:2]
        faces = faces_of(photo, self.faces)
        parts = body_parts_of(photo, self.bodies) if self.bodies else []
        estimate = estimate_regions(faces, parts, width, height, self.options.rules)
        if self.classifier is not None:
            predicted = photo.derive(f"regions:{self.classifier.model.version}"
                                     f":flip={self.classifier.flip}",
                                     lambda p: self.classifier.predict(p.image))
            estimate = estimate.combined_with(self._on_scale(predicted.regions),
                                              self.options.classifier_weight)
        return estimate

    def _on_scale(self, regions: dict[str, float]) -> dict[str, float]:
        """A version trained from staff labels registers `score`, its validation threshold on
        1 - P(region): a region probability of 1 - score then counts as just shown."""
        threshold = self.classifier.model.thresholds.get("score") if self.classifier else None
        if threshold is None:
            return regions
        shown_from = 1.0 - threshold
        return {region: on_scale(p, shown_from, self.options.shown_at)
                for region, p in regions.items()}

    def match_probability(self, estimate: RegionEstimate, procedure: Procedure) -> tuple[float, str | None]:
        best = max(procedure.regions, key=estimate.probability)
        probability = estimate.probability(best)
        return probability, (best if probability > 0 else None)

    def _observe_photo(self, photo: PreparedPhoto, estimate: RegionEstimate,
                       procedure: Procedure) -> Observation:
        probability, best = self.match_probability(estimate, procedure)
        shown = estimate.shown(self.options.shown_at)
        expected = ", ".join(procedure.regions)
        if probability >= self.options.shown_at:
            reason = f"{photo.target} shows {best}, a region of {procedure.code}"
        elif shown:
            reason = (f"{photo.target} shows {', '.join(shown[:3])}, not the {expected} "
                      f"that {procedure.code} treats")
        else:
            reason = f"{photo.target} shows none of the {expected} that {procedure.code} treats"
        boxes = [photo.to_original(*s.box, label=s.region, score=round(s.probability, 3))
                 for s in estimate.sightings if s.box is not None and s.probability >= 0.2]
        detections = [{"region": s.region, "source": s.source, "label": s.label,
                       "score": round(s.probability, 3),
                       **({"box": _box_dict(photo.to_original(*s.box))} if s.box else {})}
                      for s in estimate.sightings if s.probability >= 0.05]
        evidence = Evidence(
            boxes=boxes,
            values={"match_probability": round(probability, 4), "matched_region": best
                    if probability >= self.options.shown_at else None,
                    "shown_regions": shown,
                    "region_probabilities": {r: round(p, 3) for r, p in sorted(
                        estimate.probabilities.items(), key=lambda item: -item[1]) if p >= 0.05}},
            expected_regions=list(procedure.regions),
            detected_regions=detections,
        )
        return Observation(photo.target, 1.0 - probability, reason, evidence, self.model)

    def _observe_case(self, observed: list[tuple[PreparedPhoto, RegionEstimate]],
                      procedure: Procedure) -> Observation:
        matches = {photo.id: self.match_probability(estimate, procedure)[0]
                   for photo, estimate in observed}
        best = max(matches.values())
        union: dict[str, float] = {}
        for _, estimate in observed:
            for region, p in estimate.probabilities.items():
                union[region] = max(union.get(region, 0.0), p)
        shown = sorted((r for r, p in union.items() if p >= self.options.shown_at),
                       key=lambda r: -union[r])
        off = sorted(photo_id for photo_id, p in matches.items() if p < self.options.shown_at)
        if best >= self.options.shown_at:
            reason = (f"{len(matches) - len(off)} of {len(matches)} photos show the regions of "
                      f"{procedure.code}")
        else:
            reason = f"no photo shows the {', '.join(procedure.regions)} that {procedure.code} treats"
        evidence = Evidence(
            values={"match_probability": round(best, 4), "shown_regions": shown,
                    "photos_not_matching": off,
                    "procedures_fitting_the_photos": self._fitting_procedures(union, procedure)},
            expected_regions=list(procedure.regions),
        )
        return Observation("case", 1.0 - best, reason, evidence, self.model)

    def _fitting_procedures(self, union: dict[str, float], declared: Procedure,
                            limit: int = 3) -> list[str]:
        """Procedures whose regions the photos show, the most specific first (for staff)."""
        fitting = []
        for procedure in self.context.taxonomy.procedures:
            if procedure.code == declared.code:
                continue
            p = max(union.get(region, 0.0) for region in procedure.regions)
            if p >= self.options.shown_at:
                fitting.append((p, -len(procedure.regions), procedure.code))
        return [code for _, _, code in sorted(fitting, reverse=True)[:limit]]


def _box_dict(box: Box) -> dict[str, int]:
    return {"x": box.x, "y": box.y, "w": box.w, "h": box.h}
