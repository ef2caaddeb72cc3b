"""Body parts in a photo: NudeNet's detector (a YOLOv8n ONNX model in the nudenet wheel).

Only its model file is used, through ONNX Runtime; the decoding is vectorised here (the
package's own loops over every anchor in Python). Licence: the nudenet wheel's metadata says
MIT, its licence file is the AGPL-3.0; README.md ("Licences of models and data") records why
the service uses it and how to run without it (`body_detector = "none"`).

Its labels name covered and exposed parts and, for faces, a gender; the procedure check uses
the part, never the gender (it calls male faces female on ordinary portraits).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import onnxruntime
from pydantic import BaseModel, ConfigDict, Field

from models.mtcnn import nms
from models.onnx_runtime import cpu_session
from moderation.imaging import shrink

if TYPE_CHECKING:
    from moderation.checks.base import CheckContext
    from moderation.intake import PreparedPhoto

MODEL_DISTRIBUTION = "nudenet"
MODEL_FILE = "nudenet/320n.onnx"
SHARED_NAME = "body_part_detector"
DERIVED_KEY = "body_parts"

LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


class BodyPartModelMissing(RuntimeError):
    """The nudenet package (which carries the model file) is not installed."""


def model_file() -> Path:
    try:
        distribution = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BodyPartModelMissing(
            "the body-part detector needs the nudenet package for its model file "
            "(pip install nudenet==3.4.2), or set body_detector = \"none\"") from None
    path = Path(str(distribution.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise BodyPartModelMissing(f"nudenet is installed but {path.name} is missing")
    return path


@dataclass(frozen=True)
class BodyPart:
    label: str  # one of LABELS
    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    @property
    def part(self) -> str:
        """The label without its covered/exposed state or gender: BREAST, FACE, BELLY ..."""
        words = [w for w in self.label.split("_") if w not in {"COVERED", "EXPOSED", "MALE", "FEMALE"}]
        return "_".join(words)


@dataclass
class BodyPartDetectorConfig:
    input_size: int = 320  # the model's square input; the photo is padded to a square first
    min_score: float = 0.25
    nms_iou: float = 0.45
    threads: int = 1
    model: str = "fp32"  # the wheel's 320n.onnx; "int8": a static INT8 copy (models.quantize)


@dataclass
class BodyPartDetector:
    config: BodyPartDetectorConfig = field(default_factory=BodyPartDetectorConfig)

    def __post_init__(self) -> None:
        self._session = _session(_model_path(self.config.model), self.config.threads)
        self._input = self._session.get_inputs()[0].name

    def with_model(self, model: str) -> BodyPartDetector:
        """This detector running `model` ("fp32" or "int8") instead."""
        if model != self.config.model:
            self.config.model = model
            self.__post_init__()
        return self

    @property
    def model_name(self) -> str:
        return "nudenet-320n" + ("-int8" if self.config.model == "int8" else "")

    def detect(self, rgb: np.ndarray) -> list[BodyPart]:
        """Body parts in `rgb` (H, W, 3 uint8), in its pixels, best first."""
        size = self.config.input_size
        height, width = rgb.shape[:2]
        side = max(height, width)
        factor = size / side
        resized = shrink(rgb, (max(1, round(width * factor)), max(1, round(height * factor))))
        square = np.zeros((size, size, 3), np.float32)  # padded right and below, as trained
        square[:resized.shape[0], :resized.shape[1]] = resized / 255.0
        output = self._session.run(None, {self._input: square.transpose(2, 0, 1)[None]})[0][0]
        return self._decode(output.T, 1.0 / factor, width, height)

    def _decode(self, rows: np.ndarray, factor: float, width: int, height: int) -> list[BodyPart]:
        class_scores = rows[:, 4:]
        classes = class_scores.argmax(axis=1)
        scores = class_scores.max(axis=1)
        keep = scores >= self.config.min_score
        if not keep.any():
            return []
        centre_x, centre_y, box_w, box_h = (rows[keep, i] * factor for i in range(4))
        corners = np.stack([centre_x - box_w / 2, centre_y - box_h / 2,
                            centre_x + box_w / 2, centre_y + box_h / 2], axis=1)
        corners[:, [0, 2]] = corners[:, [0, 2]].clip(0, width)
        corners[:, [1, 3]] = corners[:, [1, 3]].clip(0, height)
        # Per class: shift each class's boxes apart so that they never overlap another's.
        shifted = corners + (classes[keep] * (max(width, height) + 1))[:, None]
        picked = nms(shifted, scores[keep], self.config.nms_iou).numpy()
        return [
            BodyPart(label=LABELS[classes[keep][i]], x=float(corners[i, 0]), y=float(corners[i, 1]),
                     w=float(corners[i, 2] - corners[i, 0]), h=float(corners[i, 3] - corners[i, 1]),
                     score=float(scores[keep][i]))
            for i in picked
        ]


def _model_path(model: str) -> str:
    if model == "int8":
        from models.quantize import int8_model
        return str(int8_model("nudenet"))
    if model != "fp32":
        raise ValueError(f"the body-part detector's model is \"fp32\" or \"int8\", not {model!r}")
    return str(model_file())


class NudeNetOptions(BaseModel):
    """`[models.nudenet]` in settings: which copy of the model every check runs."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["fp32", "int8"] = Field("fp32", description=(
        "the wheel's 320n.onnx, or a static INT8 copy built here by "
        "`python -m models.quantize --models nudenet` (not shipped: README, licences)"))


@lru_cache(maxsize=4)
def _session(path: str, threads: int) -> onnxruntime.InferenceSession:
    """One ONNX Runtime session per process and model file (sessions are safe to share)."""
    return cpu_session(path, threads)


def body_parts_of(photo: PreparedPhoto, detector: BodyPartDetector) -> list[BodyPart]:
    """The body parts on `photo`'s working image, detected once per photo and request."""
    def compute(prepared: PreparedPhoto) -> list[BodyPart]:
        return [] if prepared.image is None else detector.detect(prepared.image)
    return photo.derive(DERIVED_KEY, compute)


def shared_body_part_detector(context: CheckContext,
                              build: Callable[[], BodyPartDetector] = BodyPartDetector
                              ) -> BodyPartDetector:
    """The service's one body-part detector, running the model `[models.nudenet]` names."""
    options = NudeNetOptions.model_validate(context.settings.models.get("nudenet", {}))
    return context.shared(SHARED_NAME, lambda: build().with_model(options.model))
