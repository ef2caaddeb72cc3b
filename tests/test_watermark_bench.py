"""The watermark benchmark's options and its scorer table (real checks, real registered models;
the photos are small, the figures are not the benchmark's)."""

from __future__ import annotations

import pytest

from bench import watermark_bench
from moderation.settings import Settings


def test_compare_versions_takes_a_version_or_a_version_at_a_side() -> None:
    args = watermark_bench.parse_args(["--compare-versions", "1.4, 1.5@512"])
    assert args.compare_versions == "1.4, 1.5@512"
    for bad in ("1.5@x", "latest", "1.5@64"):
        with pytest.raises(SystemExit):
            watermark_bench.parse_args(["--compare-versions", bad])


def test_a_version_at_a_side_sees_the_photo_at_that_side() -> None:
    watermark, _, context = watermark_bench.build_checks(Settings())
    others = watermark_bench.other_versions(watermark, context, "1.4,1.4@512")
    assert others["1.4"].detector.long_side == 640  # the side 1.4 learnt at
    assert others["1.4@512"].detector.long_side == 512
    assert others["1.4@512"].detector.ref.version == "1.4"
    assert not others["1.4@512"].options.also_version


def _row(label: int, text: float, model: float, other: float, band: str | None) -> dict:
    return {"label": label, "text": text, "model": model,
            "combined": 1 - (1 - text) * (1 - model), "model 1.5": other,
            "combined 1.5": 1 - (1 - text) * (1 - other),
            "join 1.5": 1 - (1 - text) * (1 - max(model, other)),
            "kind": "logo" if label else None, "band": band, "negatives": []}


def test_the_join_column_counts_what_either_detector_finds() -> None:
    rows = [_row(1, 0.0, 0.9, 0.1, "50-100%"),   # the shipped detector finds it
            _row(1, 0.0, 0.2, 0.85, "15-30%"),   # only the compared one does
            _row(1, 0.0, 0.3, 0.3, "15-30%"),    # neither
            _row(0, 0.0, 0.1, 0.2, None), _row(0, 0.0, 0.4, 0.1, None)]
    _, figures = watermark_bench.scorer_table(rows, 0.8, "2.2", ("1.5",))
    assert figures["combined"]["recall"] == pytest.approx(1 / 3)
    assert figures["join 1.5"]["recall"] == pytest.approx(2 / 3)
    assert figures["join 1.5"]["recall band 15-30%"] == (0.5, 2)
    assert figures["join 1.5"]["precision"] == 1.0
