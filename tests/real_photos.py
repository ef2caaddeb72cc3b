"""Real photographs that ship inside installed packages, for tests that need real people.

- scikit-image's `astronaut` (Eileen Collins, NASA: public domain) and `camera` (scikit-image
  says it has no known copyright restrictions); `coffee`, `chelsea` (a cat), `rocket`, `horse`.
- matplotlib's `grace_hopper.jpg` (US Navy photo: public domain).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def skimage_photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def crop(image: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    return np.ascontiguousarray(image[y:y + h, x:x + w])


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def upscaled(image: np.ndarray, min_side: int = 400) -> np.ndarray:
    """A crop enlarged (bicubic) so the service's integrity check takes it as a photo."""
    height, width = image.shape[:2]
    factor = max(1.0, min_side / min(height, width))
    if factor == 1.0:
        return image
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
