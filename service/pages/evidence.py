"""Evidence from the findings, arranged as shapes to draw on each photo, one layer per check."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from moderation.review.schemas import CaseDetail, FindingView


@dataclass
class Shape:
    kind: str  # box, line
    finding_id: int
    label: str
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0
    x2: float = 0
    y2: float = 0
    text: str | None = None
    score: float | None = None


@dataclass
class Layer:
    check: str
    kinds: set[str] = field(default_factory=set)
    shapes: dict[str, list[Shape]] = field(default_factory=lambda: defaultdict(list))

    @property
    def description(self) -> str:
        words = {"box": "boxes", "text": "text regions", "region": "regions", "line": "seams"}
        return ", ".join(words[kind] for kind in sorted(self.kinds))


def layers(case: CaseDetail) -> list[Layer]:
    """One layer per check with something to draw, shapes grouped by photo id."""
    by_check: dict[str, Layer] = {}
    for finding in case.findings:
        if not finding.target.startswith("photo:"):
            continue
        photo_id = finding.target.removeprefix("photo:")
        for shape, kind in _shapes(finding):
            layer = by_check.setdefault(finding.check, Layer(check=finding.check))
            layer.kinds.add(kind)
            layer.shapes[photo_id].append(shape)
    return sorted(by_check.values(), key=lambda layer: layer.check)


def _shapes(finding: FindingView) -> list[tuple[Shape, str]]:
    found: list[tuple[Shape, str]] = []
    evidence: dict[str, Any] = finding.evidence
    for box in evidence.get("boxes") or []:
        try:
            shape = Shape(kind="box", finding_id=finding.id,
                          label=str(box.get("label") or finding.check),
                          x=float(box["x"]), y=float(box["y"]), w=float(box["w"]),
                          h=float(box["h"]), text=box.get("text"), score=box.get("score"))
        except (KeyError, TypeError, ValueError):
            continue
        kind = "text" if shape.text else "region" if finding.check == "procedure_match" else "box"
        found.append((shape, kind))
    for line in evidence.get("lines") or []:
        try:
            shape = Shape(kind="line", finding_id=finding.id,
                          label=str(line.get("label") or "seam"), x=float(line["x1"]),
                          y=float(line["y1"]), x2=float(line["x2"]), y2=float(line["y2"]))
        except (KeyError, TypeError, ValueError):
            continue
        found.append((shape, "line"))
    return found
