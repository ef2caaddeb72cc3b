"""Where a submission stands in the review queue, as one number the database can index.

Open work first: cases with no destination decided, then cases with one decided, then
decided ones; within each, the highest risk first. One ascending column makes keyset
pagination a single row-value comparison that an index answers directly.
"""

from __future__ import annotations

DESTINATION_COUNT = 2  # profile, gallery
_STAGE_WIDTH = 2.0  # each stage spans [2k, 2k + 1]: stages never interleave


def priority_of(decided: int, risk: float) -> float:
    """`decided` destinations (0, 1 or 2) and the risk in [0, 1]; lower comes first."""
    return round(_STAGE_WIDTH * decided + (1.0 - risk), 6)


def stage_bounds(decided: int) -> tuple[float, float]:
    """The [low, high) priority range of the cases with `decided` destinations decided."""
    return _STAGE_WIDTH * decided, _STAGE_WIDTH * decided + 1.5
