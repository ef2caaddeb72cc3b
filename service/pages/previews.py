"""Downscaled, upright copies of stored photos for the case page, made once and kept on disk.

A 12-MP original is several megabytes; the case page shows four of them at a few hundred
pixels each. The evidence overlay is drawn in original pixels (an SVG viewBox), so it fits a
preview as it fits the original."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

PREVIEW_WIDTHS = (800, 1600)


def preview_bytes(original: bytes, cache: Path, sha256: str, width: int) -> bytes:
    path = cache / sha256[:2] / f"{sha256}-{width}.jpg"
    if path.exists():
        return path.read_bytes()
    data = _render(original, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".preview-")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)
    return data


def _render(original: bytes, width: int) -> bytes:
    with Image.open(io.BytesIO(original)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (width, width))  # decode at 1/2..1/8 scale directly
        upright = ImageOps.exif_transpose(image).convert("RGB")
    if upright.width > width:
        upright.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=85, optimize=True)
    return buffer.getvalue()
