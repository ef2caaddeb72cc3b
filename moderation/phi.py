"""The interface of a PHI detector for free text, which `nlp/` implements.

Both `phi_text` (case notes and fields) and `phi_image` (text read from photos by OCR) use
one shared detector, built once from the import path in settings (`[phi] detector`).
"""

from __future__ import annotations

import importlib
import json
import threading
from typing import TYPE_CHECKING, Any, Protocol

from moderation.schemas import Span

if TYPE_CHECKING:
    from moderation.checks.base import CheckContext

SHARED_NAME = "phi_detector"


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


def shared_detector(context: CheckContext) -> PhiTextDetector:
    """The service's one detector (built on first use from `[phi]` in settings)."""
    phi = context.settings.phi
    return context.shared(SHARED_NAME, lambda: cached_detector(phi.detector, phi.options))


_BUILT: dict[str, PhiTextDetector] = {}
_BUILD_LOCK = threading.Lock()


def cached_detector(import_path: str, options: dict[str, Any]) -> PhiTextDetector:
    """One detector per configuration per process: loading a language model takes seconds,
    and every app, CLI run or test in one process can use the same (it keeps no state)."""
    key = json.dumps([import_path, options], sort_keys=True, default=str)
    with _BUILD_LOCK:
        if key not in _BUILT:
            _BUILT[key] = load_detector(import_path, **options)
        return _BUILT[key]
