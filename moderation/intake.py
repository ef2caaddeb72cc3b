"""From uploaded bytes to what the checks see.

Each photo is opened once to read its header (format, size, metadata), refused early when it
is not JPEG/PNG or has too many pixels, then decoded once at the working resolution (JPEG
draft mode decodes at 1/2, 1/4 or 1/8 scale directly) and shared by every check.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from struct import error as struct_error  # raised by Pillow on some malformed EXIF blocks

import numpy as np
import cv2
from PIL import Image

from moderation.errors import PayloadTooLarge
from moderation.image_formats import ImageFormat, require_supported
from moderation.metadata import (
    ORIENTATION_TAG,
    MetadataItem,
    StripError,
    identifying_metadata,
    strip_metadata,
)
from moderation.schemas import Box, Submission, View
from moderation.settings import IntakeSettings
from moderation.taxonomy import Procedure

TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
T = TypeVar("T")


@dataclass(frozen=True)
class DecodeProblem:
    """Why a photo could not be decoded, in our words (never the decoder's raw message)."""

    code: str  # "unreadable", "truncated", "corrupted"
    message: str


@dataclass
class PreparedPhoto:
    id: str  # "set1/before"
    part: str
    view: View | None
    data: bytes
    sha256: str  # of the uploaded bytes
    format: ImageFormat
    upload_size: int = 0
    width: int | None = None  # of the upright original
    height: int | None = None
    orientation: int = 1
    metadata: list[MetadataItem] = field(default_factory=list)
    image: np.ndarray | None = None  # upright RGB at the working resolution
    decoded_size: tuple[int, int] | None = None  # what the decoder produced, before resizing
    problem: DecodeProblem | None = None
    stored_bytes: bytes | None = None  # set with keep_stored_copy, which hashes them once
    stored_sha256: str | None = None
    # Results several checks need (OCR text, faces, perceptual hashes), computed once.
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _key_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _locks_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derive(self, key: str, compute: Callable[[PreparedPhoto], T]) -> T:
        """`compute(self)` the first time `key` is asked for; the same result afterwards.
        Checks run concurrently: a second caller waits for the first's result."""
        with self._locks_lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._derived:
                self._derived[key] = compute(self)
            return self._derived[key]

    @property
    def target(self) -> str:
        return f"photo:{self.id}"

    @property
    def scale(self) -> float:
        """Working-image pixels per original pixel."""
        if self.image is None or not self.width:
            return 1.0
        return self.image.shape[1] / self.width

    def to_original(self, x: float, y: float, w: float, h: float, **extra: object) -> Box:
        """A box measured on the working image, in the original photo's coordinates."""
        factor = 1.0 / self.scale
        return Box(
            x=round(x * factor), y=round(y * factor), w=round(w * factor), h=round(h * factor),
            **extra,
        )

    def detail_image(self, max_side: int) -> np.ndarray | None:
        """The photo decoded again, larger than the working image, for work that needs more
        detail than the checks do (reading small text); None when it would be no larger."""
        return decode_detail(self, max_side)

    def keep_stored_copy(self, stored: bytes | None, sha256: str | None = None) -> None:
        """The copy the service keeps, hashed once (or `sha256`, its hash known already):
        storage, the photo index and the response all ask for it."""
        self.stored_bytes = stored
        self.stored_sha256 = (sha256 or hashlib.sha256(stored).hexdigest()) if stored else None


def inspect_upload(photo_id: str, part: str, view: View | None, data: bytes,
                   limits: IntakeSettings) -> PreparedPhoto:
    """Refuse what the service never takes (415, 413); read the header of what it does."""
    fmt = require_supported(part, data)
    photo = PreparedPhoto(
        id=photo_id, part=part, view=view, data=data,
        sha256=hashlib.sha256(data).hexdigest(), format=fmt, upload_size=len(data),
    )
    try:
        image = _open(data)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(part, None, limits) from exc
    except (OSError, SyntaxError, ValueError):
        photo.problem = DecodeProblem("unreadable", "the image header cannot be read")
        return photo
    width, height = image.size
    if width * height > limits.max_photo_pixels:
        raise _too_many_pixels(part, width * height, limits)
    try:
        photo.orientation = int(image.getexif().get(ORIENTATION_TAG, 1) or 1)
        photo.metadata = identifying_metadata(image)
    except (OSError, SyntaxError, ValueError, struct_error):
        photo.metadata = [MetadataItem(key="EXIF (unreadable block)", kind="text")]
    if photo.orientation not in range(1, 9):
        photo.orientation = 1
    if photo.orientation in TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    photo.width, photo.height = width, height
    return photo


def restore_stored(photo_id: str, part: str, view: View | None, stored: bytes, *,
                   upload_sha256: str, upload_size: int, metadata: list[MetadataItem],
                   limits: IntakeSettings) -> PreparedPhoto:
    """A photo rebuilt from its stored copy, for re-scoring: the same pixels and orientation,
    and the identifying metadata recorded when it was uploaded."""
    photo = inspect_upload(photo_id, part, view, stored, limits)
    photo.sha256, photo.upload_size, photo.metadata = upload_sha256, upload_size, metadata
    photo.keep_stored_copy(stored)
    return photo


def decode_for_checks(photo: PreparedPhoto, working_max_side: int) -> None:
    """Decode once at the working resolution, upright, RGB; or record why it cannot be."""
    if photo.problem is not None or photo.image is not None:
        return
    image = _open(photo.data)
    longest = max(image.size)
    if photo.format is ImageFormat.JPEG and longest > working_max_side:
        factor = working_max_side / longest
        image.draft("RGB", (max(1, int(image.width * factor)), max(1, int(image.height * factor))))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        photo.problem = _classify_decode_error(exc)
        return
    photo.decoded_size = image.size
    pixels = np.asarray(_to_rgb(image))
    longest = max(pixels.shape[:2])
    if longest > working_max_side:
        # After DCT scaling the remaining shrink is mild (> 1/2), where bilinear does not alias;
        # OpenCV's is ~5x faster here than its area filter or Pillow's resampling.
        factor = working_max_side / longest
        size = (max(1, round(pixels.shape[1] * factor)), max(1, round(pixels.shape[0] * factor)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR)
    photo.image = np.ascontiguousarray(_upright(pixels, photo.orientation))


def decode_detail(photo: PreparedPhoto, max_side: int) -> np.ndarray | None:
    """The uploaded bytes decoded again, upright RGB, at a long side of at least `max_side`
    where the photo has it (JPEG: the smallest DCT scale that reaches it, no resize after), so
    the frame is the working image's at a larger scale. None when that would not be larger
    than the working image, or the bytes are gone or cannot be decoded."""
    if photo.problem is not None or photo.image is None or not photo.data:
        return None
    working = max(photo.image.shape[:2])
    try:
        image = _open(photo.data)
        if max(image.size) <= working:
            return None
        if photo.format is ImageFormat.JPEG and max(image.size) > max_side:
            factor = max_side / max(image.size)
            image.draft("RGB", (max(1, math.ceil(image.width * factor)),
                                max(1, math.ceil(image.height * factor))))
        image.load()
        pixels = np.asarray(_to_rgb(image))
    except (OSError, SyntaxError, ValueError, EOFError):
        return None
    if max(pixels.shape[:2]) <= working:
        return None
    return np.ascontiguousarray(_upright(pixels, photo.orientation))


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to a pixel array, as ImageOps.exif_transpose would."""
    if orientation in (2, 4, 5, 7):
        pixels = pixels[:, ::-1]  # mirror first, then rotate as for 1, 3, 8, 6
    turns = _TURNS.get(orientation, 0)
    return np.rot90(pixels, turns) if turns else pixels


_TURNS = {3: 2, 4: 2, 5: 1, 6: 3, 7: 3, 8: 1}  # quarter turns (np.rot90) after the mirror


def camera_frame(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Upright pixels (or a crop of them) back in the frame the camera recorded them in,
    before its EXIF orientation was applied: `_upright` undone."""
    turns = _TURNS.get(orientation, 0)
    pixels = np.rot90(pixels, -turns) if turns else pixels
    return pixels[:, ::-1] if orientation in (2, 4, 5, 7) else pixels


def upright_points(points: np.ndarray, size: tuple[int, int], orientation: int) -> np.ndarray:
    """(x, y) points of a camera-frame image of `size` (width, height) where `_upright` puts
    them."""
    width, height = size
    points = np.asarray(points, dtype=np.float32).copy()
    if orientation in (2, 4, 5, 7):
        points[:, 0] = width - points[:, 0]
    for _ in range(_TURNS.get(orientation, 0)):  # np.rot90 once: (x, y) -> (y, width - x)
        points = np.stack([points[:, 1], width - points[:, 0]], axis=1)
        width, height = height, width
    return points


def make_stored_copy(photo: PreparedPhoto) -> None:
    """The copy the service keeps: same pixels, no metadata but the orientation."""
    if photo.stored_bytes is not None:
        return
    try:
        stored = strip_metadata(photo.data, photo.format, photo.orientation)
    except StripError:
        photo.keep_stored_copy(None)
        return
    # Nothing stripped: the upload's own hash, which inspect_upload computed from these bytes
    # (comparing them costs ~1/20 of hashing them again).
    photo.keep_stored_copy(stored, photo.sha256 if stored == photo.data else None)


# ---------------------------------------------------------------- helpers

def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # The pixel limit is ours (IntakeSettings.max_photo_pixels), checked on the header.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def _too_many_pixels(part: str, pixels: int | None, limits: IntakeSettings) -> PayloadTooLarge:
    size = f"{pixels:,} pixels" if pixels else "too many pixels"
    return PayloadTooLarge(
        f"file part '{part}' declares {size}; the limit is {limits.max_photo_pixels:,} "
        "(a guard against decompression bombs)"
    )


def _classify_decode_error(exc: BaseException) -> DecodeProblem:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError):
        return DecodeProblem("truncated", "the file ends before the image data does")
    return DecodeProblem("corrupted", "the image data is corrupted and cannot be decoded")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray((array * (255.0 / peak)).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


@dataclass
class PreparedSubmission:
    """A validated submission with its photos inspected; what every check receives."""

    submission: Submission
    procedure: Procedure
    photos: list[PreparedPhoto]
    content_hash: str
    timings_ms: dict[str, float] = field(default_factory=dict)  # intake work done before scoring

    @property
    def submission_id(self) -> str:
        # Derived from the content, so the same case content always has the same id.
        return "s_" + self.content_hash[:24]

    def photo(self, photo_id: str) -> PreparedPhoto:
        return next(photo for photo in self.photos if photo.id == photo_id)

    def pairs(self) -> list[tuple[PreparedPhoto, PreparedPhoto]]:
        """(before, after) for every photo set, in order."""
        return [(self.photos[i], self.photos[i + 1]) for i in range(0, len(self.photos), 2)]
