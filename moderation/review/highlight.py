"""Split a text at its PHI spans so a page can mark them without building HTML by hand."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from moderation.review.schemas import TextSegment


def segments(text: str, spans: Iterable[dict[str, Any]]) -> list[TextSegment]:
    """Plain and marked pieces of `text`, in order, covering it exactly once.

    Spans may overlap (two checks, two entity types): where they do, the higher-scoring
    span names the piece. Offsets outside the text are clipped; empty spans are ignored."""
    usable = []
    for span in spans:
        try:
            start, end = max(0, int(span["start"])), min(len(text), int(span["end"]))
        except (KeyError, TypeError, ValueError):
            continue
        if start < end:
            usable.append((start, end, str(span.get("entity_type") or "PHI"),
                           float(span.get("score") or 0.0)))
    if not usable:
        return [TextSegment(text=text)] if text else []
    cuts = sorted({0, len(text), *(s for s, _, _, _ in usable), *(e for _, e, _, _ in usable)})
    pieces: list[TextSegment] = []
    for start, end in pairwise(cuts):
        covering = [u for u in usable if u[0] <= start and end <= u[1]]
        best = max(covering, key=lambda u: u[3]) if covering else None
        piece = TextSegment(text=text[start:end], entity_type=best[2] if best else None,
                            score=best[3] if best else None)
        previous = pieces[-1] if pieces else None
        if previous and (previous.entity_type, previous.score) == (piece.entity_type, piece.score):
            previous.text += piece.text  # one marked run for one span cut by another's ends
        else:
            pieces.append(piece)
    return pieces
