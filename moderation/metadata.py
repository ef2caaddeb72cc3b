"""Identifying metadata in photos: finding it, and removing it from the stored copy.

Stripping is lossless: JPEG segments and PNG chunks that can carry metadata are dropped and
the pixels are never re-encoded. The EXIF orientation survives in a minimal EXIF block so the
stored copy still displays upright.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from PIL import Image, IptcImagePlugin

from moderation.image_formats import ImageFormat

MetadataKind = Literal["gps", "name", "serial", "text"]

ORIENTATION_TAG = 0x0112
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769

_IFD0_TAGS: dict[int, tuple[str, MetadataKind]] = {
    0x013B: ("Artist", "name"),
    0x9C9D: ("XPAuthor", "name"),
    0x010E: ("ImageDescription", "text"),
    0x010D: ("DocumentName", "text"),
    0x8298: ("Copyright", "text"),
    0x9C9B: ("XPTitle", "text"),
    0x9C9C: ("XPComment", "text"),
    0x9C9E: ("XPKeywords", "text"),
    0x9C9F: ("XPSubject", "text"),
}
_EXIF_IFD_TAGS: dict[int, tuple[str, MetadataKind]] = {
    0xA430: ("CameraOwnerName", "name"),
    0xA431: ("BodySerialNumber", "serial"),
    0xA435: ("LensSerialNumber", "serial"),
    0x9286: ("UserComment", "text"),
}
_GPS_POSITION_TAGS = {1, 2, 3, 4}  # latitude ref, latitude, longitude ref, longitude
_IPTC_TAGS: dict[tuple[int, int], tuple[str, MetadataKind]] = {
    (2, 80): ("IPTC By-line", "name"),
    (2, 5): ("IPTC ObjectName", "text"),
    (2, 25): ("IPTC Keywords", "text"),
    (2, 116): ("IPTC CopyrightNotice", "text"),
    (2, 120): ("IPTC Caption", "text"),
}
_XMP_TAGS: dict[str, MetadataKind] = {
    "dc:creator": "name",
    "Iptc4xmpExt:PersonInImage": "name",
    "photoshop:AuthorsPosition": "name",
    "dc:description": "text",
    "dc:title": "text",
    "dc:rights": "text",
    "dc:subject": "text",
    "photoshop:Headline": "text",
    "exif:GPSLatitude": "gps",
    "exif:GPSLongitude": "gps",
}
_PNG_NAME_KEYS = {"author"}
_PNG_HARMLESS_KEYS = {"software", "creation time", "xml:com.adobe.xmp", "raw profile type exif"}
_VALUE_PREVIEW_CHARS = 120


@dataclass(frozen=True)
class MetadataItem:
    key: str
    kind: MetadataKind
    value: str | None = None  # a preview for the reviewer; never logged


def _clean(value: object) -> str:
    if isinstance(value, bytes):
        # XP* tags are UTF-16LE; UserComment starts with an 8-byte character-code prefix.
        if value[:8] in (b"ASCII\x00\x00\x00", b"UNICODE\x00", b"\x00" * 8):
            value = value[8:]
        try:
            text = value.decode("utf-16-le") if b"\x00" in value else value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
    elif isinstance(value, (list, tuple)):
        text = " ".join(_clean(part) for part in value)
    else:
        text = str(value)
    return text.replace("\x00", "").strip()


def _item(key: str, kind: MetadataKind, value: object) -> MetadataItem | None:
    text = _clean(value)
    if not text:
        return None
    preview = None if kind == "gps" else text[:_VALUE_PREVIEW_CHARS]
    return MetadataItem(key=key, kind=kind, value=preview)


def identifying_metadata(image: Image.Image) -> list[MetadataItem]:
    """Every metadata entry in `image` that can identify a patient, a person or a device."""
    items: list[MetadataItem | None] = []
    exif = image.getexif()
    for tag, (key, kind) in _IFD0_TAGS.items():
        if tag in exif:
            items.append(_item(f"EXIF {key}", kind, exif[tag]))
    exif_ifd = exif.get_ifd(_EXIF_IFD)
    for tag, (key, kind) in _EXIF_IFD_TAGS.items():
        if tag in exif_ifd:
            items.append(_item(f"EXIF {key}", kind, exif_ifd[tag]))
    gps = exif.get_ifd(_GPS_IFD)
    if _GPS_POSITION_TAGS & set(gps):
        items.append(MetadataItem(key="EXIF GPSInfo", kind="gps"))
    items.extend(_xmp_items(image))
    items.extend(_iptc_items(image))
    items.extend(_text_items(image))
    return [item for item in items if item is not None]


def _xmp_items(image: Image.Image) -> list[MetadataItem | None]:
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if not xmp:
        return []
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    items = []
    for tag, kind in _XMP_TAGS.items():
        element = re.search(rf"<{re.escape(tag)}\b[^>]*>(.*?)</{re.escape(tag)}>", text, re.S)
        attribute = re.search(rf'\b{re.escape(tag)}="([^"]*)"', text)
        found = element or attribute
        if found:
            value = re.sub(r"<[^>]+>", " ", found.group(1))
            items.append(_item(f"XMP {tag}", kind, re.sub(r"\s+", " ", value) or tag))
    return items


def _iptc_items(image: Image.Image) -> list[MetadataItem | None]:
    if image.format != "JPEG":
        return []
    try:
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except (OSError, SyntaxError, ValueError):
        return [MetadataItem(key="IPTC (unreadable block)", kind="text")]
    return [
        _item(key, kind, iptc[tag]) for tag, (key, kind) in _IPTC_TAGS.items() if tag in iptc
    ]


def _text_items(image: Image.Image) -> list[MetadataItem | None]:
    items: list[MetadataItem | None] = []
    if image.format == "JPEG" and image.info.get("comment"):
        items.append(_item("JPEG comment", "text", image.info["comment"]))
    if image.format == "PNG":
        for key, value in getattr(image, "text", {}).items():
            if key.lower() in _PNG_HARMLESS_KEYS:
                continue
            kind: MetadataKind = "name" if key.lower() in _PNG_NAME_KEYS else "text"
            items.append(_item(f"PNG text {key[:40]}", kind, value))
    return items


# ---------------------------------------------------------------- stripping


class StripError(ValueError):
    """The file's structure could not be walked, so no clean copy can be made."""


def strip_metadata(data: bytes, fmt: ImageFormat, orientation: int = 1) -> bytes:
    if fmt is ImageFormat.JPEG:
        return _strip_jpeg(data, orientation)
    return _strip_png(data, orientation)


def _orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return exif.tobytes()


# APP0 JFIF, APP2 ICC profile and APP14 Adobe describe how to read the pixels; keep them.
def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == 0xE0:
        return payload.startswith(b"JFIF\x00")
    if marker == 0xE2:
        return payload.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return payload.startswith(b"Adobe")
    return not (0xE0 <= marker <= 0xEF or marker == 0xFE)


_STANDALONE_MARKERS = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _strip_jpeg(data: bytes, orientation: int) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise StripError("no JPEG start marker")
    out = bytearray(b"\xff\xd8")
    exif_written = orientation == 1
    position = 2
    while position < len(data):
        if data[position] != 0xFF:
            return bytes(out)  # broken structure: keep what parsed, drop the rest
        if position + 1 >= len(data):
            return bytes(out)  # truncated: keep what there is
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _STANDALONE_MARKERS:
            out += data[position : position + 2]
            position += 2
            continue
        if marker == 0xD9:
            out += b"\xff\xd9"
            return bytes(out)  # anything after the end marker is dropped
        if position + 4 > len(data):
            return bytes(out)  # truncated: keep what there is
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        payload = data[position + 4 : end]
        if not exif_written and not (marker == 0xE0 and payload.startswith(b"JFIF\x00")):
            exif = _orientation_exif(orientation)
            out += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
            exif_written = True
        if _keep_jpeg_segment(marker, payload):
            out += data[position:end]
        position = end
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            scan_end = _scan_end(data, position)
            out += data[position:scan_end]
            position = scan_end
    return bytes(out)


# Inside entropy-coded data, 0xFF is followed by 0x00 (stuffing), a restart marker or fill;
# anything else is the next real marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _scan_end(data: bytes, position: int) -> int:
    found = _NEXT_MARKER.search(data, position)
    return found.start() if found else len(data)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
    b"sBIT", b"pHYs", b"bKGD", b"cICP",
}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _strip_png(data: bytes, orientation: int) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise StripError("no PNG signature")
    out = bytearray(_PNG_SIGNATURE)
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if kind in _PNG_KEEP:
            out += data[position : min(end, len(data))]
        if kind == b"IHDR" and orientation != 1:
            out += _png_chunk(b"eXIf", _orientation_exif(orientation)[6:])
        if kind == b"IEND":
            break
        position = end
    return bytes(out)
