"""Log set-up. Log lines carry ids, counts and timings only: never notes, fields, text read
from photos or file names."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(handler, "_moderation", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._moderation = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
