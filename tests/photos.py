"""Real image files made in the tests: JPEG and PNG bytes from Pillow, with or without
metadata, and the broken files the intake must recognise."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin


def scene(width: int = 800, height: int = 600, seed: int = 0) -> Image.Image:
    """A photo-like image: smooth gradients, a few shapes, a little sensor noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        80 + 100 * xs / width,
        60 + 120 * ys / height,
        120 + 60 * np.sin(xs / (37 + seed % 11)) * np.cos(ys / 53),
    ], axis=-1)
    for _ in range(6):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        radius = rng.integers(min(width, height) // 12, min(width, height) // 4)
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 < radius**2
        base[mask] = base[mask] * 0.4 + rng.integers(0, 255, 3) * 0.6
    base += rng.normal(0, 4, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image | None = None, *, quality: int = 90, exif: Image.Exif | None = None,
         **save_options: object) -> bytes:
    image = image or scene()
    buffer = io.BytesIO()
    if exif is not None:
        save_options["exif"] = exif
    image.save(buffer, "JPEG", quality=quality, **save_options)
    return buffer.getvalue()


def png(image: Image.Image | None = None, *, text: dict[str, str] | None = None) -> bytes:
    image = image or scene()
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def exif_with(orientation: int | None = None, artist: str | None = None, gps: bool = False,
              serial: str | None = None, description: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if artist:
        exif[0x013B] = artist
    if description:
        exif[0x010E] = description
    if gps:
        position = exif.get_ifd(0x8825)
        position[1], position[2] = "N", (40.0, 44.0, 54.36)
        position[3], position[4] = "W", (73.0, 59.0, 8.0)
    if serial:
        exif.get_ifd(0x8769)[0xA431] = serial
    return exif


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def png_with_bad_crc(data: bytes) -> bytes:
    """Flip a byte inside the first IDAT chunk, leaving its CRC stale."""
    position = data.index(b"IDAT") + 4 + 20
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file that declares a huge size: a decompression bomb's header."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to declare another size."""
    data = bytearray(jpeg(scene(64, 48)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


OTHER_FORMATS: dict[str, bytes] = {
    "GIF": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
           b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    "HEIC": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
    "WebP": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40,
    "BMP": b"BM" + b"\x00" * 60,
    "PDF": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
    "SVG": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
}
