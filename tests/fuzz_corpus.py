"""A corpus of hostile uploads: malformed images, malformed multipart bodies, oversized JSON,
unicode edge cases and injection strings. Each must get a clear 4xx and change nothing."""

from __future__ import annotations

import json
import struct
import zlib

from tests import photos


def _png_chunk(kind: bytes, payload: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def malformed_images() -> dict[str, bytes]:
    """name -> bytes. None of these is a working JPEG or PNG."""
    good_jpeg = photos.jpeg(photos.scene(320, 240, seed=21))
    good_png = photos.png(photos.scene(320, 240, seed=22))
    ihdr = struct.pack(">IIBBBBB", 320, 240, 8, 2, 0, 0, 0)
    return {
        "zero_bytes": b"",
        "one_byte": b"\xff",
        "jpeg_magic_only": b"\xff\xd8\xff",
        "jpeg_truncated_in_header": good_jpeg[:40],
        "jpeg_truncated_in_scan": good_jpeg[: len(good_jpeg) // 2],
        "jpeg_random_after_magic": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40,
        "jpeg_65500x65500_header": photos.jpeg_declaring(65_500, 65_500),
        "jpeg_zero_size_header": photos.jpeg_declaring(0, 0),
        "png_signature_only": b"\x89PNG\r\n\x1a\n",
        "png_bad_crc": photos.png_with_bad_crc(good_png),
        "png_truncated": good_png[: len(good_png) // 3],
        "png_100000x100000_header": photos.png_header_only(100_000, 100_000),
        "png_chunk_length_overflow": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0xFFFFFFF0) + b"IHDR" + ihdr,
        "png_bad_ihdr_crc": b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr, crc=0) + _png_chunk(b"IEND", b""),
        "png_garbage_idat": b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"not zlib data at all" * 10) + _png_chunk(b"IEND", b""),
        "polyglot_zip_with_jpeg_magic": b"\xff\xd8\xff" + b"PK\x03\x04" + b"\x00" * 200,
        "polyglot_html_in_png": b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
        "gif": photos.OTHER_FORMATS["GIF"],
        "svg_with_script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "pdf": photos.OTHER_FORMATS["PDF"],
        "webp": photos.OTHER_FORMATS["WebP"],
        "heic": photos.OTHER_FORMATS["HEIC"],
        "elf_binary": b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
    }


INJECTIONS = [
    "'; DROP TABLE submissions; --",
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "{{7*7}}${7*7}<%= 7*7 %>",
    "../../../../etc/passwd",
    "\x00\x01\x02 control characters",
    "\u202e right-to-left override \u202d",
    "zero\u200bwidth\u200cjoiners\u200d",
    "e\u0301\u0301\u0301 combining marks",
    "\U0001f600\U0001f3fd emoji with modifiers",
    "\ud800 lone surrogate",
    "A" * 5000,
]


def hostile_submissions() -> dict[str, bytes]:
    """name -> the `submission` part. Each is refused with a 4xx."""
    base = json.loads(photos_submission())
    cases: dict[str, bytes] = {
        "empty": b"",
        "not_json": b"{this is not json",
        "json_array": b"[1, 2, 3]",
        "json_null": b"null",
        "deeply_nested": b'{"fields": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "oversized": json.dumps({**base, "description": "x" * 300_000}).encode(),
        "invalid_utf8": b'{"case_id": "\xff\xfe"}',
        "consent_as_string": json.dumps({**base, "consent_confirmed": "true"}).encode(),
        "fields_not_object": json.dumps({**base, "fields": ["a"]}).encode(),
        "photo_sets_huge": json.dumps({**base, "photo_sets": [{"before": "b1", "after": "a1"}] * 500}).encode(),
    }
    for index, value in enumerate(INJECTIONS):
        cases[f"case_id_injection_{index}"] = json.dumps({**base, "case_id": value}).encode()
        cases[f"member_id_injection_{index}"] = json.dumps({**base, "member_id": value}).encode()
        cases[f"procedure_injection_{index}"] = json.dumps({**base, "procedure": value}).encode()
        cases[f"field_name_injection_{index}"] = json.dumps({**base, "fields": {value[:60]: 1}}).encode()
        cases[f"part_name_injection_{index}"] = json.dumps(
            {**base, "photo_sets": [{"before": value, "after": "a1"}]}).encode()
    return cases


def photos_submission() -> str:
    from tests.conftest import submission_json

    return submission_json()


MALFORMED_MULTIPART: dict[str, tuple[str, bytes]] = {
    "no_boundary": ("multipart/form-data", b"--x\r\n\r\n"),
    "wrong_boundary": ("multipart/form-data; boundary=abc", b"--xyz\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}\r\n--xyz--\r\n"),
    "unterminated": ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}"),
    "no_content_disposition": ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Type: text/plain\r\n\r\n{}\r\n--xyz--\r\n"),
    "part_without_name": ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--xyz--\r\n"),
    "duplicate_part": ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}\r\n--xyz\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}\r\n--xyz--\r\n"),
    "header_flood": ("multipart/form-data; boundary=xyz", b"--xyz\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n{}\r\n--xyz--\r\n"),
    "huge_header_line": ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"" + b"a" * 100_000 + b"\"\r\n\r\n{}\r\n--xyz--\r\n"),
    "not_multipart": ("application/x-www-form-urlencoded", b"submission=%7B%7D"),
    "text_plain": ("text/plain", b"hello"),
}
