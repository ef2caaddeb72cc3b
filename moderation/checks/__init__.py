"""Checks: one class per rule, listed in `registry.py`."""

from moderation.checks.base import (
    BOTH_DESTINATIONS,
    GALLERY_ONLY,
    Check,
    CheckContext,
    Observation,
)

__all__ = ["BOTH_DESTINATIONS", "GALLERY_ONLY", "Check", "CheckContext", "Observation"]
