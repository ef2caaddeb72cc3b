"""The one place that lists the checks. Adding a check is one file and one line here.

Entries are import paths, so `moderation` names checks that `models/` and `nlp/` implement
without importing them (the imports point one way: those packages depend on this one).
"""

from __future__ import annotations

import importlib

from moderation.checks.base import Check, CheckContext

CHECKS: dict[str, str] = {
    "integrity": "moderation.checks.integrity:IntegrityCheck",
    "phi_image": "models.checks.phi_image:PhiImageCheck",
    "phi_text": "moderation.checks.phi_text:PhiTextCheck",
    "procedure_match": "models.procedure_match:ProcedureMatchCheck",
    "duplicate": "moderation.checks.duplicate:DuplicateCheck",
    "collage": "models.checks.collage:CollageCheck",
    "comparability": "models.checks.comparability:ComparabilityCheck",
    "watermark": "models.checks.watermark:WatermarkCheck",
}


def load_check_class(path: str) -> type[Check]:
    module_name, _, class_name = path.partition(":")
    check_class = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(check_class, type) and issubclass(check_class, Check)):
        raise TypeError(f"{path} is not a Check")
    return check_class


def build_checks(context: CheckContext, registry: dict[str, str] | None = None) -> list[Check]:
    """Instantiate every enabled check, in registry order."""
    checks = []
    entries = {**(registry or CHECKS), **context.settings.extra_checks}
    for name, path in entries.items():
        check_settings = context.settings.check(name)
        if not check_settings.enabled:
            continue
        check_class = load_check_class(path)
        if check_class.name != name:
            raise ValueError(f"registry entry {name} points at check {check_class.name}")
        checks.append(check_class(check_settings, context))
    return checks
