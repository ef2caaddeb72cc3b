"""Recognising an upload by its first bytes, never by its file name."""

from __future__ import annotations

from enum import StrEnum

from moderation.errors import InvalidSubmission, UnsupportedMediaType

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


class ImageFormat(StrEnum):
    JPEG = "JPEG"
    PNG = "PNG"


def sniff(data: bytes) -> str:
    """The name of the format `data` starts with: JPEG, PNG, or what else it looks like."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIC"
        return "an ISO media file"
    if head[:2] == b"BM":
        return "BMP"
    if head[:5] == b"%PDF-":
        return "PDF"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    if head[:4] == b"PK\x03\x04":
        return "ZIP"
    return "unknown"


def require_supported(part: str, data: bytes) -> ImageFormat:
    """The format of an uploaded photo, or a clear refusal naming the file part."""
    if not data:
        raise InvalidSubmission(f"file part '{part}' is empty")
    kind = sniff(data)
    if kind in ImageFormat.__members__:
        return ImageFormat(kind)
    described = "not an image format this service recognises" if kind == "unknown" else f"a {kind} file"
    raise UnsupportedMediaType(
        f"file part '{part}' is {described}; photos must be JPEG or PNG (recognised by content, "
        "not by file name)"
    )
