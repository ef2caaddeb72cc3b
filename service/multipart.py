"""A streaming multipart/form-data reader that enforces size limits as the bytes arrive.

Starlette's own form parser spools every file to disk before the handler sees it, so a 2 GB
upload would be read whole. This one refuses a body whose declared length is over the limit
before reading any of it, and stops reading a part as soon as it passes its limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from moderation.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType

_MB = 1024 * 1024


@dataclass(frozen=True)
class MultipartLimits:
    max_file_bytes: int
    max_field_bytes: int
    max_parts: int
    field_names: frozenset[str] = frozenset({"submission"})  # parts that are text, not photos

    @property
    def max_body_bytes(self) -> int:
        return self.max_field_bytes * len(self.field_names) + self.max_parts * (
            self.max_file_bytes + 16 * 1024)


@dataclass
class FormPart:
    name: str
    data: bytearray = field(default_factory=bytearray)


class _PartCollector:
    def __init__(self, limits: MultipartLimits) -> None:
        self.limits = limits
        self.parts: dict[str, FormPart] = {}
        self.current: FormPart | None = None
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.finished = False

    # python-multipart callbacks -------------------------------------------------
    def on_part_begin(self) -> None:
        self.headers = {}
        if len(self.parts) >= self.limits.max_parts:
            raise PayloadTooLarge(f"the request has more than {self.limits.max_parts} parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.decode("latin-1").lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", b""))
        raw_name = options.get(b"name")
        if not raw_name:
            raise MalformedRequest("a multipart part has no name in its Content-Disposition")
        name = raw_name.decode("utf-8", "replace")
        if len(name) > 64 or not name.isprintable():
            raise MalformedRequest("a multipart part name is longer than 64 characters or unprintable")
        if name in self.parts:
            raise MalformedRequest(f"the multipart part '{name}' appears more than once")
        # The part's file name is deliberately not kept: it may name the patient.
        self.current = self.parts[name] = FormPart(name=name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        assert self.current is not None
        self.current.data += data[start:end]
        is_field = self.current.name in self.limits.field_names
        limit = self.limits.max_field_bytes if is_field else self.limits.max_file_bytes
        if len(self.current.data) > limit:
            kind = "the part" if is_field else "the file part"
            raise PayloadTooLarge(
                f"{kind} '{self.current.name}' is larger than the limit of {_human(limit)}")

    def on_part_end(self) -> None:
        self.current = None

    def on_end(self) -> None:
        self.finished = True


async def read_multipart(request: Request, limits: MultipartLimits) -> dict[str, FormPart]:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("this endpoint takes multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedRequest("the multipart Content-Type has no boundary")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedRequest("the Content-Length header is not a number")
        if int(declared) > limits.max_body_bytes:
            raise PayloadTooLarge(
                f"the request declares {_human(int(declared))}; the most a submission can carry "
                f"is {_human(limits.max_body_bytes)} ({_human(limits.max_file_bytes)} per photo)")
    collector = _PartCollector(limits)
    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        name: getattr(collector, name) for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end", "on_end")
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise MalformedRequest("the multipart body is malformed") from None
    if not collector.finished:
        raise MalformedRequest("the multipart body ends before its closing boundary")
    return collector.parts


def _human(size: int) -> str:
    return f"{size / _MB:.0f} MB" if size >= _MB else f"{size / 1024:.0f} KB"
