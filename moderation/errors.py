"""Errors for input the service refuses. Each carries the HTTP status the API answers with;
the CLI prints the message and exits non-zero. Messages name the problem and the part or
field it is in, and never quote submitted content, which may hold PHI."""

from __future__ import annotations

from typing import Any


class InputError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class MalformedRequest(InputError):
    status_code = 400


class InvalidSubmission(InputError):
    status_code = 422


class PayloadTooLarge(InputError):
    status_code = 413


class UnsupportedMediaType(InputError):
    status_code = 415


class CaseConflict(InputError):
    status_code = 409
