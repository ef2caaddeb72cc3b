"""Faces in a photo: boxes, five landmarks and a score, in working-image pixels.

One detector per service (`shared_face_detector(context)`), one detection per photo and request
(`faces_of(photo, detector)` caches through `photo.derive("faces", ...)`), so every check that
needs faces (procedure match, comparability) shares the same result.

The detector runs MTCNN on a downscaled copy (`detect_side`, long side in pixels): faces in
before/after photos are large, and the cascade's cost grows with the pixel count. When it finds
nothing it looks once more with the photo shrunk inside a grey canvas, which finds faces that
the frame cuts off (a close-up of the eyes, the middle of a face); those faces are `partial`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from models.mtcnn import Mtcnn, RawFace
from moderation.imaging import shrink, shrink_to_side

if TYPE_CHECKING:
    from moderation.checks.base import CheckContext
    from moderation.intake import PreparedPhoto

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
FacePose = Literal["frontal", "oblique", "profile"]
SHARED_NAME = "face_detector"
DERIVED_KEY = "faces"


@dataclass(frozen=True)
class Face:
    """One face, in the pixels of the image it was found on (the working image for photos)."""

    x: float
    y: float
    w: float
    h: float
    landmarks: tuple[tuple[float, float], ...]  # LANDMARK_NAMES order; left/right as seen
    score: float
    partial: bool = False  # the frame cuts part of this face off (found in the zoomed-out pass)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    def landmark(self, name: str) -> tuple[float, float]:
        return self.landmarks[LANDMARK_NAMES.index(name)]

    @property
    def eye_distance(self) -> float:
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        return math.hypot(rx - lx, ry - ly)

    @property
    def roll_degrees(self) -> float:
        """Head tilt in the image plane: the angle of the line between the eyes."""
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        return math.degrees(math.atan2(ry - ly, rx - lx))

    @property
    def yaw_ratio(self) -> float:
        """Where the nose sits between the eyes, from -1 to 1: about 0 when the face looks at
        the camera, towards +-1 as it turns (the sign says which way, as seen in the photo)."""
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        nx, ny = self.landmarks[2]
        axis = np.array([rx - lx, ry - ly])
        length = float(np.linalg.norm(axis)) or 1.0
        along = float(np.dot([nx - (lx + rx) / 2, ny - (ly + ry) / 2], axis / length))
        return float(np.clip(2 * along / length, -1.0, 1.0))

    @property
    def pose(self) -> FacePose:
        yaw = abs(self.yaw_ratio)
        if yaw < 0.35:
            return "frontal"
        return "oblique" if yaw < 0.8 else "profile"

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0, *,
               partial: bool | None = None) -> Face:
        """The same face in another image's pixels: p' = p * factor + (dx, dy)."""
        return Face(
            x=self.x * factor + dx, y=self.y * factor + dy, w=self.w * factor, h=self.h * factor,
            landmarks=tuple((px * factor + dx, py * factor + dy) for px, py in self.landmarks),
            score=self.score, partial=self.partial if partial is None else partial)

    def to_dict(self) -> dict[str, object]:
        return {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4),
                "landmarks": {name: [round(px, 1), round(py, 1)]
                              for name, (px, py) in zip(LANDMARK_NAMES, self.landmarks, strict=True)},
                "pose": self.pose, "partial": self.partial}


@dataclass
class FaceDetectorConfig:
    detect_side: int = 384  # long side, in pixels, of the copy the cascade runs on
    min_face_fraction: float = 0.10  # smallest face looked for, as a share of the long side
    min_score: float = 0.9
    # Canvas side / photo long side for the second look, tried in turn; (): no second look.
    # One look at 1.8: a 2.6 look after it, for photos 1.8 found no face on, added nothing on the
    # benches and cost a pass (README, issue 9).
    zoom_out_canvases: tuple[float, ...] = (1.8,)
    # Smallest face looked for in a zoomed-out look, as a share of the photo's long side: a face
    # the frame cuts off is a large one (a smaller face fits the frame, and the first look
    # finds it). Skipping the small scales makes a zoomed-out look ~5x cheaper.
    zoom_out_min_face: float = 0.5
    threads: int = 1  # on 2 shared cores one thread beats two (measured: 3-5x)


@dataclass
class FaceDetector:
    config: FaceDetectorConfig = field(default_factory=FaceDetectorConfig)

    def __post_init__(self) -> None:
        min_face = max(12, round(self.config.detect_side * self.config.min_face_fraction))
        self._mtcnn = _mtcnn(min_face, self.config.threads)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in `rgb` (H, W, 3 uint8), in its pixels, best first."""
        with _threads(self.config.threads):
            faces = self._detect_scaled(rgb)
            for canvas in self.config.zoom_out_canvases:
                if faces:
                    break
                faces = self._detect_zoomed_out(rgb, canvas)
        return sorted(faces, key=lambda face: face.score, reverse=True)

    def _detect_scaled(self, rgb: np.ndarray) -> list[Face]:
        small, factor = _fit(rgb, self.config.detect_side)
        return [face.scaled(1 / factor) for face in self._run(small)]

    def _detect_zoomed_out(self, rgb: np.ndarray, canvas_factor: float) -> list[Face]:
        height, width = rgb.shape[:2]
        side = int(max(height, width) * canvas_factor)
        factor = self.config.detect_side / side
        inner = shrink(rgb, (max(1, round(width * factor)), max(1, round(height * factor))))
        canvas = np.full((self.config.detect_side, self.config.detect_side, 3), 127, np.uint8)
        top = (canvas.shape[0] - inner.shape[0]) // 2
        left = (canvas.shape[1] - inner.shape[1]) // 2
        canvas[top:top + inner.shape[0], left:left + inner.shape[1]] = inner
        min_face = round(self.config.zoom_out_min_face * max(inner.shape[:2]))
        faces = []
        for face in self._run(canvas, min_face):
            mapped = face.scaled(1 / factor, -left / factor, -top / factor)
            if _overlap_share(mapped, width, height) >= 0.2:
                faces.append(Face(**{**mapped.__dict__,
                                     "partial": not _inside(mapped, width, height)}))
        return faces

    def _run(self, rgb: np.ndarray, min_face: int | None = None) -> list[Face]:
        return [_from_raw(raw) for raw in self._mtcnn.detect(rgb, min_face)
                if raw.score >= self.config.min_score]


def faces_of(photo: PreparedPhoto, detector: FaceDetector) -> list[Face]:
    """The faces on `photo`'s working image, detected once per photo and request."""
    def compute(prepared: PreparedPhoto) -> list[Face]:
        return [] if prepared.image is None else detector.detect(prepared.image)
    return photo.derive(DERIVED_KEY, compute)


def shared_face_detector(context: CheckContext,
                         build: Callable[[], FaceDetector] = FaceDetector) -> FaceDetector:
    """The service's one face detector (built on first use, kept for its lifetime)."""
    return context.shared(SHARED_NAME, build)


# ---------------------------------------------------------------- helpers

@lru_cache(maxsize=4)
def _mtcnn(min_face: int, threads: int) -> Mtcnn:
    """Loaded once per process and configuration: the networks are read-only after loading."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's exporter notes about its legacy path
        return Mtcnn(min_face=min_face, threads=threads)


def _from_raw(raw: RawFace) -> Face:
    x1, y1, x2, y2 = raw.box
    return Face(x=x1, y=y1, w=x2 - x1, h=y2 - y1, landmarks=raw.landmarks, score=raw.score)


def _fit(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    return shrink_to_side(rgb, side)


def _inside(face: Face, width: int, height: int, slack: float = 0.05) -> bool:
    margin_x, margin_y = face.w * slack, face.h * slack
    return (face.x >= -margin_x and face.y >= -margin_y
            and face.x + face.w <= width + margin_x and face.y + face.h <= height + margin_y)


def _overlap_share(face: Face, width: int, height: int) -> float:
    """The share of the face's box that lies inside the image."""
    inter_w = max(0.0, min(face.x + face.w, width) - max(face.x, 0.0))
    inter_h = max(0.0, min(face.y + face.h, height) - max(face.y, 0.0))
    return inter_w * inter_h / max(face.w * face.h, 1e-6)


class _threads:
    """Torch's intra-op thread count for one call (the service shares 2 cores between checks)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __enter__(self) -> None:
        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.count)

    def __exit__(self, *exc_info: object) -> None:
        torch.set_num_threads(self.previous)
