"""The procedure taxonomy: codes, the regions their photos show, their fields.

The list itself is data (`procedures.toml`); this module loads and validates it and checks a
submission's procedure-specific fields against it.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

PROCEDURES_FILE = Path(__file__).with_name("procedures.toml")

_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

FieldType = Literal["integer", "number", "string", "boolean", "enum"]


class FieldSpec(BaseModel):
    name: str
    type: FieldType
    unit: str | None = None
    choices: list[str] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    required: bool = False

    @model_validator(mode="after")
    def _enum_has_choices(self) -> FieldSpec:
        if (self.type == "enum") != bool(self.choices):
            raise ValueError(f"field {self.name}: choices go with type enum, and only with it")
        return self

    def problem_with(self, value: Any) -> str | None:
        """Why `value` does not fit this field, or None. Never quotes the value."""
        if self.type == "boolean":
            return None if isinstance(value, bool) else "must be true or false"
        if self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be a whole number"
            return self._range_problem(value)
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return "must be a number"
            return self._range_problem(value)
        if not isinstance(value, str):
            return "must be text"
        if self.type == "enum" and value not in (self.choices or []):
            return f"must be one of: {', '.join(self.choices or [])}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters"
        return None

    def _range_problem(self, value: float) -> str | None:
        if self.min is not None and value < self.min:
            return f"must be at least {self.min:g}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max:g}"
        return None


class Procedure(BaseModel):
    code: str
    name: str
    category: str
    regions: list[str] = Field(min_length=1)
    fields: list[FieldSpec] = Field(default_factory=list)

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)

    def field_problems(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """(field name, problem) for every value that does not fit, and every missing required one."""
        problems = []
        for name, value in values.items():
            if not _FIELD_NAME.fullmatch(name):
                # Not echoed: a hostile key could be anything.
                problems.append(("(unnamed)", "a field name may hold only letters, digits and _ "
                                              "(at most 64)"))
                continue
            spec = self.field(name)
            if spec is None:
                problems.append((name, f"is not a field of procedure {self.code}"))
            elif value is not None and (problem := spec.problem_with(value)):
                problems.append((name, problem))
        for spec in self.fields:
            if spec.required and values.get(spec.name) is None:
                problems.append((spec.name, "is required"))
        return problems


class Taxonomy(BaseModel):
    regions: list[str]
    procedures: list[Procedure]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        codes = [procedure.code for procedure in self.procedures]
        if len(codes) != len(set(codes)):
            raise ValueError("procedure codes must be unique")
        for procedure in self.procedures:
            unknown = set(procedure.regions) - set(self.regions)
            if unknown:
                raise ValueError(f"{procedure.code}: unknown regions {sorted(unknown)}")
        return self

    def get(self, code: str) -> Procedure | None:
        return next((p for p in self.procedures if p.code == code), None)

    @property
    def codes(self) -> list[str]:
        return [procedure.code for procedure in self.procedures]


def load_taxonomy(path: Path = PROCEDURES_FILE) -> Taxonomy:
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    common = [FieldSpec.model_validate(spec) for spec in raw.get("common_fields", [])]
    procedures = []
    for entry in raw["procedure"]:
        procedure = Procedure.model_validate(entry)
        own = {spec.name for spec in procedure.fields}
        procedure.fields.extend(spec for spec in common if spec.name not in own)
        procedures.append(procedure)
    return Taxonomy(regions=raw["regions"], procedures=procedures)


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return load_taxonomy()
