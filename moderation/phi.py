"""The interface of a PHI detector for free text, which `nlp/` implements.

Both `phi_text` (case notes and fields) and `phi_image` (text read from photos by OCR) use
one shared detector, built once from the import path in settings (`[phi] detector`).
"""

from __future__ import annotations

import importlib
from typing import Protocol

from moderation.schemas import Span


class PhiTextDetector(Protocol):
    name: str
    version: str

    def analyze(self, text: str, context: str | None = None) -> list[Span]:
        """PHI spans in `text`. `context` names where the text came from (a field name,
        "description", "ocr") and may be used as a context word."""
        ...


def load_detector(import_path: str, **options: object) -> PhiTextDetector:
    module_name, _, factory_name = import_path.partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return factory(**options)
