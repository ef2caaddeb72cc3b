"""From detections to the taxonomy's regions: how likely a photo is to *show* each region.

A region counts as shown when it is in the frame and large enough to be the subject: a face
that fills a tenth of a full-body photo shows a face, not a nose a surgeon would present.
Faces (MTCNN) give the face and, through their landmarks, where each feature lies (forehead,
eyes, nose, cheeks, lips, chin, ears, neck); a feature counts when its place is inside the
frame. Body parts (NudeNet) give breast/chest, abdomen/flanks, buttocks, genital, arms (from
armpits) and legs (from feet). A region classifier, when one is installed, adds its own
probabilities (noisy-OR), which is what resolves close-ups no detector fires on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.body_parts import BodyPart
from models.faces import Face

# Where each face feature lies, in face-box units from the box's top-left corner
# (x across, y down), for features MTCNN has no landmark for.
_FACE_POINTS = {
    "forehead": (0.5, 0.05),
    "chin": (0.5, 1.0),
    "neck": (0.5, 1.35),
}
# Body-part labels (without covered/exposed or gender) and the regions they show.
BODY_PART_REGIONS: dict[str, tuple[str, ...]] = {
    "BREAST": ("breast", "chest"),
    "BELLY": ("abdomen", "flanks"),
    "BUTTOCKS": ("buttocks",),
    "ANUS": ("buttocks",),
    "GENITALIA": ("genital",),
    "ARMPITS": ("arms", "chest"),
    "FEET": ("legs",),
    "FACE": ("face",),
}
FACE_PART_REGIONS = ("forehead", "eyes", "nose", "ears", "lips", "chin", "cheeks")
HEAD_REGIONS = frozenset({"face", "neck", "skin", *FACE_PART_REGIONS})
HEAD_SHOT_BODY_DAMPING = 0.3  # what a head shot's "body region" evidence is worth


@dataclass(frozen=True)
class RegionRules:
    """The tunables of the mapping (`[checks.procedure_match.options]`)."""

    face_min_height: float = 0.12  # face box height / photo height for the face to count
    feature_min_height: float = 0.22  # ... for its features (nose, eyes ...) to count
    prominence_softness: float = 0.04  # width of the ramp around those minimums
    neck_visible_below: float = 0.25  # photo must reach this many face heights below the chin
    body_part_min_score: float = 0.3
    body_part_min_area: float = 0.01  # box area / photo area
    dominant_face_height: float = 0.3  # a face this tall (share of the height): a head shot
    partial_face_weight: float = 0.85  # a face the frame cuts off is less certain
    partial_landmark_margin: float = 0.2  # eye distances inside the frame, for partial faces
    closeup_face_area: float = 0.6  # a body-detector face box this big is a feature close-up


@dataclass
class RegionSighting:
    """One piece of evidence for a region: which detector saw what, where (working pixels)."""

    region: str
    probability: float
    source: str  # "face", "body", "classifier"
    label: str  # the detector's own label
    box: tuple[float, float, float, float] | None = None


@dataclass
class RegionEstimate:
    probabilities: dict[str, float] = field(default_factory=dict)
    sightings: list[RegionSighting] = field(default_factory=list)
    head_shot: bool = False  # a detected face fills the frame: no room for a body region

    def add(self, sighting: RegionSighting) -> None:
        self.sightings.append(sighting)
        current = self.probabilities.get(sighting.region, 0.0)
        self.probabilities[sighting.region] = max(current, sighting.probability)

    def probability(self, region: str) -> float:
        return self.probabilities.get(region, 0.0)

    def combined_with(self, classifier: Mapping[str, float], weight: float) -> RegionEstimate:
        """Noisy-OR of the detectors' and the classifier's probability for each region."""
        merged = RegionEstimate(dict(self.probabilities), list(self.sightings), self.head_shot)
        for region, probability in classifier.items():
            if self.head_shot and region not in HEAD_REGIONS:
                probability *= HEAD_SHOT_BODY_DAMPING
            own = merged.probabilities.get(region, 0.0)
            merged.probabilities[region] = 1 - (1 - own) * (1 - weight * probability)
            if probability >= 0.3:
                merged.sightings.append(RegionSighting(region, probability, "classifier",
                                                       "region-classifier"))
        return merged

    def shown(self, threshold: float = 0.5) -> list[str]:
        return sorted((r for r, p in self.probabilities.items() if p >= threshold),
                      key=lambda r: -self.probabilities[r])


def estimate_regions(faces: Iterable[Face], parts: Iterable[BodyPart], width: int, height: int,
                     rules: RegionRules = RegionRules()) -> RegionEstimate:
    estimate = RegionEstimate()
    faces = list(faces)
    for face in faces:
        _add_face(estimate, face, width, height, rules)
    tallest = max((min(f.h, height) / height for f in faces if not f.partial), default=0.0)
    estimate.head_shot = tallest > rules.dominant_face_height
    for part in parts:
        _add_body_part(estimate, part, width, height, tallest, bool(faces), rules)
    skin = max(estimate.probabilities.values(), default=0.0)
    if skin:
        estimate.probabilities["skin"] = skin
    return estimate


def _ramp(value: float, minimum: float, softness: float) -> float:
    return 1 / (1 + math.exp(-(value - minimum) / max(softness, 1e-6)))


def _add_face(estimate: RegionEstimate, face: Face, width: int, height: int,
              rules: RegionRules) -> None:
    visible_h = max(0.0, min(face.y + face.h, height) - max(face.y, 0.0))
    # A close-up cut from a face is as good as a face filling the frame.
    share = 1.0 if face.partial else visible_h / height
    weight = face.score * (rules.partial_face_weight if face.partial else 1.0)
    face_p = weight * _ramp(share, rules.face_min_height, rules.prominence_softness)
    feature_p = weight * _ramp(share, rules.feature_min_height, rules.prominence_softness)
    if not face.partial:
        estimate.add(RegionSighting("face", face_p, "face", "face", face.box))
    # A partial face's landmarks are guesses past the frame's edge: a feature counts only
    # well inside it.
    margin = rules.partial_landmark_margin * face.eye_distance if face.partial else 0.0
    for region, points in _feature_points(face).items():
        inside = [p for p in points
                  if margin <= p[0] < width - margin and margin <= p[1] < height - margin]
        if not inside:
            continue
        shown = len(inside) / len(points)
        estimate.add(RegionSighting(region, feature_p * shown, "face", region,
                                    _point_box(inside, face.eye_distance)))
    neck_y = face.y + face.h * (1 + rules.neck_visible_below)
    if not face.partial and neck_y < height:
        estimate.add(RegionSighting("neck", face_p, "face", "neck",
                                    (face.x, face.y + face.h, face.w, min(face.h * 0.5, height - face.y - face.h))))


def _feature_points(face: Face) -> dict[str, list[tuple[float, float]]]:
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    points: dict[str, list[tuple[float, float]]] = {
        "eyes": [left_eye, right_eye],
        "nose": [nose],
        "lips": [mouth_left, mouth_right],
        "cheeks": [((left_eye[0] + mouth_left[0]) / 2, (left_eye[1] + nose[1]) / 2),
                   ((right_eye[0] + mouth_right[0]) / 2, (right_eye[1] + nose[1]) / 2)],
        "ears": [(face.x, (left_eye[1] + nose[1]) / 2), (face.x + face.w, (right_eye[1] + nose[1]) / 2)],
    }
    for region, (ux, uy) in _FACE_POINTS.items():
        if region != "neck":
            points[region] = [(face.x + ux * face.w, face.y + uy * face.h)]
    if face.pose == "profile":  # the far ear is hidden; the near one decides
        points["ears"] = [max(points["ears"], key=lambda p: abs(p[0] - nose[0]))]
    return points


def _point_box(points: list[tuple[float, float]], eye_distance: float) -> tuple[float, float, float, float]:
    pad = max(eye_distance * 0.3, 2.0)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad


def _add_body_part(estimate: RegionEstimate, part: BodyPart, width: int, height: int,
                   tallest_face: float, has_face: bool, rules: RegionRules) -> None:
    regions = BODY_PART_REGIONS.get(part.part, ())
    if not regions or part.score < rules.body_part_min_score:
        return
    area = part.w * part.h / max(width * height, 1)
    probability = min(1.0, part.score * 1.25) * _ramp(area, rules.body_part_min_area, rules.body_part_min_area / 2)
    if part.part != "FACE" and tallest_face > rules.dominant_face_height:
        probability *= HEAD_SHOT_BODY_DAMPING  # a head shot: what looks like a body part is most likely not one
    if part.part == "FACE" and area >= rules.closeup_face_area:
        return  # a "face" filling the frame: a close-up of one feature, which it does not say
    for region in regions:
        estimate.add(RegionSighting(region, probability, "body", part.label, part.box))
    if part.part == "FACE" and not has_face:
        # A face MTCNN missed (a profile, say): its features go with it.
        share = min(part.h, height) / height
        feature_p = probability * 0.8 * _ramp(share, rules.feature_min_height, rules.prominence_softness)
        for region in FACE_PART_REGIONS:
            estimate.add(RegionSighting(region, feature_p, "body", part.label, part.box))
