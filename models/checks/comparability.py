"""`comparability`: is each before/after pair a reasonable comparison?

Photographic guidelines for before/after photos ask to hold constant the view and pose, the
subject's scale and place in the frame, exposure, colour balance, sharpness and background,
and to keep the treated area visible. Each is measured (`models.comparability`) and compared
with its tolerance from settings; the score grows with how far the worst differences go past
their tolerances. The finding targets the set's after photo (`photo:setN/after`): the after is
judged against its before, and the evidence holds every measured difference.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from models.comparability import FacePose, Geometry, as_values, face_pose, photometry, register
from moderation.checks.base import GALLERY_ONLY, Check, Observation
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.schemas import Evidence


class Tolerances(BaseModel):
    """How far each measure may differ before the pair stops being a fair comparison."""

    model_config = ConfigDict(extra="forbid")

    view_change_deg: float = Field(15.0, gt=0)
    face_yaw_deg: float = Field(15.0, gt=0)
    face_pitch_deg: float = Field(15.0, gt=0)
    scale_ratio: float = Field(1.25, gt=1)
    shift_percent: float = Field(12.0, gt=0)
    rotation_deg: float = Field(8.0, gt=0)
    exposure_ev: float = Field(0.7, gt=0)
    colour_delta_ab: float = Field(8.0, gt=0)
    sharpness_ratio: float = Field(2.5, gt=1)
    background_delta_e: float = Field(18.0, gt=0)
    lost_detail_percent: float = Field(12.0, gt=0)


class ComparabilityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tolerances: Tolerances = Field(default_factory=Tolerances)
    unregistered_excess: float = Field(
        0.8, ge=0, description="excess given to a pair whose framing cannot be matched at all")
    steepness: float = Field(2.77, gt=0, description="score = 1 - exp(-steepness * sum(excess^2))")
    use_faces: bool = True
    register_features: int = Field(
        2000, ge=50, description="ORB features per photo for registration (the cost grows with "
        "their square)")


class ComparabilityCheck(Check):
    name = "comparability"
    version = "1.0"
    destinations = GALLERY_ONLY
    Options = ComparabilityOptions

    def __init__(self, settings, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, context)
        self._faces = None
        if self.options.use_faces:
            from models.faces import shared_face_detector

            self._faces = shared_face_detector(context)

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        return [self._observe(before, after) for before, after in submission.pairs()]

    def _observe(self, before: PreparedPhoto, after: PreparedPhoto) -> Observation:
        set_name = after.id.split("/")[0]
        if before.image is None or after.image is None:
            return Observation(after.target, 0.0, f"{set_name}: a photo did not decode; not compared")
        geometry = register(before.image, after.image, features=self.options.register_features)
        light = photometry(before.image, after.image)
        faces = self._face_poses(before, after)
        excesses = self._excesses(geometry, light, faces)
        total = sum(value ** 2 for value in excesses.values())
        score = 1 - math.exp(-self.options.steepness * total)
        values = as_values(geometry, light)
        if faces:
            (pose_b, pose_a) = faces
            values["face_yaw_difference_deg"] = round(abs(pose_a.yaw_deg - pose_b.yaw_deg), 1)
            values["face_pitch_difference_deg"] = round(abs(pose_a.pitch_deg - pose_b.pitch_deg), 1)
            values["face_scale_ratio"] = round(pose_a.eye_distance_share / pose_b.eye_distance_share, 2)
        values["beyond_tolerance"] = sorted(name for name, excess in excesses.items() if excess > 0.5)
        return Observation(after.target, score, self._reason(set_name, excesses, values),
                           Evidence(values=values))

    def _face_poses(self, before: PreparedPhoto,
                    after: PreparedPhoto) -> tuple[FacePose, FacePose] | None:
        if self._faces is None:
            return None
        from models.faces import faces_of

        found = [faces_of(photo, self._faces) for photo in (before, after)]
        if not all(found):
            return None
        return tuple(face_pose(faces[0], photo.image.shape[1], photo.image.shape[0])  # type: ignore[return-value, union-attr]
                     for faces, photo in zip(found, (before, after)))

    def _excesses(self, geometry: Geometry, light, faces) -> dict[str, float]:  # type: ignore[no-untyped-def]
        """Each difference over its tolerance, less one half: 0.5 = at the tolerance."""
        t = self.options.tolerances
        measured: dict[str, float] = {
            "exposure": abs(light.exposure_difference_ev) / t.exposure_ev,
            "colour": light.colour_shift_delta_ab / t.colour_delta_ab,
            "sharpness": abs(math.log(light.sharpness_ratio)) / math.log(t.sharpness_ratio),
            "background": light.background_delta_e / t.background_delta_e,
            "lost_detail": abs(light.lost_detail_difference_percent) / t.lost_detail_percent,
        }
        if geometry.registered:
            assert geometry.scale_ratio is not None
            measured["scale"] = abs(math.log(geometry.scale_ratio)) / math.log(t.scale_ratio)
            measured["position"] = (geometry.shift_percent or 0.0) / t.shift_percent
            measured["rotation"] = abs(geometry.rotation_deg or 0.0) / t.rotation_deg
            if geometry.view_change_deg is not None:
                measured["view"] = geometry.view_change_deg / t.view_change_deg
        if faces:
            pose_b, pose_a = faces
            measured["face_yaw"] = abs(pose_a.yaw_deg - pose_b.yaw_deg) / t.face_yaw_deg
            measured["face_pitch"] = abs(pose_a.pitch_deg - pose_b.pitch_deg) / t.face_pitch_deg
            measured["face_scale"] = (abs(math.log(pose_a.eye_distance_share / pose_b.eye_distance_share))
                                      / math.log(t.scale_ratio))
        excesses = {name: max(0.0, value - 0.5) for name, value in measured.items()}
        if not geometry.registered:
            excesses["framing_unmatched"] = self.options.unregistered_excess
        return excesses

    @staticmethod
    def _reason(set_name: str, excesses: dict[str, float], values: dict[str, object]) -> str:
        over = sorted((name for name, excess in excesses.items() if excess > 0.5),
                      key=lambda name: -excesses[name])
        if not over:
            return f"{set_name}: before and after are comparable (view, framing, light, colour)"
        words = {
            "exposure": f"exposure ({values.get('exposure_difference_ev', 0):+} EV)",
            "colour": f"colour balance (delta ab {values.get('colour_shift_delta_ab')})",
            "sharpness": f"sharpness (x{values.get('sharpness_ratio')})",
            "background": f"background (delta E {values.get('background_delta_e')})",
            "lost_detail": "shadow/highlight detail "
                           f"({values.get('lost_detail_difference_percent'):+}% of the photo)",
            "scale": f"subject scale (x{values.get('scale_ratio')})",
            "position": f"position in frame ({values.get('shift_percent')}% shift)",
            "rotation": f"rotation ({values.get('rotation_deg')} degrees)",
            "view": f"viewpoint ({values.get('view_change_deg')} degrees)",
            "face_yaw": f"head turn ({values.get('face_yaw_difference_deg')} degrees)",
            "face_pitch": f"head tilt ({values.get('face_pitch_difference_deg')} degrees)",
            "face_scale": f"face size (x{values.get('face_scale_ratio')})",
            "framing_unmatched": "framing (the two photos could not be matched: another view?)",
        }
        return f"{set_name}: after differs from before in " + ", ".join(words[n] for n in over[:3])
