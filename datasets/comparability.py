"""Seeded before/after pairs made from real open photos: a matched pair and its mismatches.

The matched pair is one scene twice, as a careful photographer would take it months apart:
the framing moves by a few percent, the light by a fraction of a stop, the subject changes
locally (the treated area). Each mismatch changes only the after photo, in one way the
guidelines forbid: another view (the camera turned 25-40 degrees), twice the scale, +-1.5 EV,
or a colour cast.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from datasets.open_photos import OpenPhoto, photos

MISMATCHES = ("different_view", "scale_2x", "exposure_plus_1.5ev", "exposure_minus_1.5ev",
              "colour_cast")


@dataclass
class PairCase:
    source: str
    before: np.ndarray
    matched_after: np.ndarray
    mismatched_after: dict[str, np.ndarray]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _view(photo: np.ndarray, rng: np.random.Generator, zoom: float, cx: float, cy: float,
          size: tuple[int, int]) -> np.ndarray:
    """A crop of `photo` centred at (cx, cy) shares, `zoom` of its short side, resized."""
    ph, pw = photo.shape[:2]
    width, height = size
    crop_h = min(ph, pw * height / width) * zoom
    crop_w = crop_h * width / height
    x0 = float(np.clip(cx * pw - crop_w / 2, 0, pw - crop_w))
    y0 = float(np.clip(cy * ph - crop_h / 2, 0, ph - crop_h))
    matrix = np.float32([[width / crop_w, 0, -x0 * width / crop_w],
                         [0, height / crop_h, -y0 * height / crop_h]])
    return cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def _exposure(rgb: np.ndarray, stops: float) -> np.ndarray:
    srgb = rgb.astype(np.float32) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(linear * 2 ** stops, 0, 1)
    out = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (out * 255).round().astype(np.uint8)


def _treatment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A local change near the centre, as a procedure changes the treated area."""
    h, w = rgb.shape[:2]
    out = rgb.copy()
    cx, cy = int(w * rng.uniform(0.35, 0.65)), int(h * rng.uniform(0.35, 0.65))
    rx, ry = int(w * rng.uniform(0.06, 0.14)), int(h * rng.uniform(0.06, 0.14))
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (cx, cy), (rx, ry), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(rx, ry) / 3)[..., None]
    smoothed = cv2.GaussianBlur(rgb, (0, 0), 4).astype(np.float32)
    return (out * (1 - mask) + smoothed * mask).astype(np.uint8)


def _turned(rgb: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """The scene seen from a camera turned by yaw/pitch degrees (a plane-induced homography)."""
    h, w = rgb.shape[:2]
    focal = 0.5 * w / math.tan(math.radians(22.5))
    k = np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1]])
    ry, rp = math.radians(yaw), math.radians(pitch)
    rotation_y = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    rotation_x = np.array([[1, 0, 0], [0, math.cos(rp), -math.sin(rp)], [0, math.sin(rp), math.cos(rp)]])
    homography = k @ rotation_y @ rotation_x @ np.linalg.inv(k)
    # Keep the centre of the frame on the subject after turning.
    centre = homography @ np.array([w / 2, h / 2, 1.0])
    shift = np.array([[1, 0, w / 2 - centre[0] / centre[2]], [0, 1, h / 2 - centre[1] / centre[2]],
                      [0, 0, 1]])
    return cv2.warpPerspective(rgb, shift @ homography, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)


def make_case(rng: np.random.Generator, source: OpenPhoto) -> PairCase:
    photo = source.load()
    height = int(rng.integers(360, 640))
    width = int(height * rng.uniform(0.75, 1.35))
    zoom = rng.uniform(0.6, 0.85)
    cx, cy = rng.uniform(0.4, 0.6, 2)
    before = _jpeg(_view(photo, rng, zoom, cx, cy, (width, height)), int(rng.integers(80, 95)))

    def after_view(zoom_factor: float = 1.0) -> np.ndarray:
        return _view(photo, rng, zoom * rng.uniform(0.96, 1.04) / zoom_factor,
                     cx + rng.uniform(-0.02, 0.02), cy + rng.uniform(-0.02, 0.02), (width, height))

    def finish(rgb: np.ndarray) -> np.ndarray:
        rgb = _exposure(_treatment(rgb, rng), rng.uniform(-0.15, 0.15))
        return _jpeg(rgb, int(rng.integers(80, 95)))

    matched = finish(after_view())
    sign = 1 if rng.random() < 0.5 else -1
    cast = np.array([1.0, 1.0, 1.0]) + rng.choice([-1, 1]) * np.array([0.18, 0.0, -0.18])
    mismatched = {
        "different_view": finish(_turned(after_view(), sign * rng.uniform(25, 40), rng.uniform(-8, 8))),
        "scale_2x": finish(after_view(2.0)),
        "exposure_plus_1.5ev": _jpeg(_exposure(after_view(), 1.5), 90),
        "exposure_minus_1.5ev": _jpeg(_exposure(after_view(), -1.5), 90),
        "colour_cast": _jpeg(np.clip(_treatment(after_view(), rng) * cast, 0, 255).astype(np.uint8), 90),
    }
    return PairCase(source.name, before, matched, mismatched)


def build(count: int, seed: int, split: str | None = None) -> Iterator[PairCase]:
    sources = [p for p in photos(split) if p.name not in ("text", "page")]  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    for index in range(count):
        yield make_case(rng, sources[index % len(sources)])
