"""CPU time per stage of scoring one typical submission, in-process (no HTTP): where the
service's CPU goes, measured as CPU seconds rather than wall time (the machine is shared).

    .venv/bin/python bench/check_cpu.py [--repeats 5] [--profile out.prof]
                                        [--compare ocr.det_model=wheel,intake.working_max_side=1000]
                                        [--compare checks.procedure_match.face_zoom_out_canvases=[1.8,2.6]]

The submission is bench/score_latency.py's: 2 photo sets of 12-MP JPEGs and a 300-word note.
Stages run one after another on one thread (each model runtime keeps its own threads, which
`time.process_time` counts): intake (header, sha256, decode, stored copy), then each check.
Work that checks share through `PreparedPhoto.derive` (OCR, faces, body parts, the region
classifier ...) is charged to its own line, so each check's line is its own work only.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parents[1]))
from bench.score_latency import real_base_photos, submission, twelve_megapixel_jpeg  # noqa: E402
from moderation import intake  # noqa: E402
from moderation.pipeline import ModerationPipeline  # noqa: E402
from moderation.settings import Settings  # noqa: E402


class DerivedTimer:
    """Charges the CPU time of each `PreparedPhoto.derive` computation to its key."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self._original = intake.PreparedPhoto.derive

    def install(self) -> None:
        original, cpu = self._original, self.cpu

        def derive(photo, key, compute):  # type: ignore[no-untyped-def]
            def timed(p):  # type: ignore[no-untyped-def]
                started = time.process_time()
                try:
                    return compute(p)
                finally:
                    cpu["shared: " + key.split(":")[0]] += time.process_time() - started
            return original(photo, key, timed)

        intake.PreparedPhoto.derive = derive  # type: ignore[method-assign]


def run_once(pipeline: ModerationPipeline, photos: list[bytes], number: int,
             derived: DerivedTimer) -> dict[str, float]:
    cpu: dict[str, float] = {}
    derived.cpu.clear()
    files = dict(zip(["b1", "a1", "b2", "a2"], photos, strict=True))
    started = time.process_time()
    parsed = pipeline.parse_submission(submission(number).encode())
    photos_prepared = [intake.inspect_upload(pid, part, None, files[part], pipeline.settings.intake)
                       for pid, part in parsed.photo_targets()]
    cpu["intake: header + sha256"] = time.process_time() - started
    started = time.process_time()
    for photo in photos_prepared:
        intake.decode_for_checks(photo, pipeline.settings.intake.working_max_side)
    cpu["intake: decode"] = time.process_time() - started
    started = time.process_time()
    for photo in photos_prepared:
        intake.make_stored_copy(photo)
    cpu["intake: stored copy"] = time.process_time() - started
    prepared = pipeline.restore(parsed, photos_prepared)
    for check in pipeline.checks:
        before_shared = sum(derived.cpu.values())
        started = time.process_time()
        check.run(prepared)
        spent = time.process_time() - started
        cpu[check.name] = spent - (sum(derived.cpu.values()) - before_shared)
    cpu.update(derived.cpu)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed runs here")
    parser.add_argument("--compare", action="append", default=[], help=(
        "also score with these [models], [intake] or check options changed (section.key=value, "
        "checks.<check>.<option>=value, "
        "comma-separated, e.g. intake.working_max_side=1000,ocr.read_max_side=2000), "
        "in the same run, alternating: a column per configuration; repeat for more columns"))
    args = parser.parse_args()
    console = Console()
    photos = [twelve_megapixel_jpeg(base, seed) for seed, base in enumerate(real_base_photos())]
    variants = {"configured": {}}
    for compare in args.compare:
        variants[f"with {compare}"] = _overrides(compare)
    with tempfile.TemporaryDirectory() as data_dir:
        pipelines = {}
        for label, overrides in variants.items():
            settings = Settings(data_dir=Path(data_dir) / str(len(pipelines)))
            models = {section: {**values, **overrides.get(section, {})}
                      for section, values in settings.models.items()}
            intake_settings = settings.intake.model_validate(
                {**settings.intake.model_dump(), **overrides.get("intake", {})})
            pipelines[label] = ModerationPipeline.from_settings(settings.model_copy(update={
                "models": models, "intake": intake_settings,
                "checks": _with_check_options(settings, overrides.get("checks", {}))}))
        derived = DerivedTimer()
        derived.install()
        for pipeline in pipelines.values():  # warm-up: lazy loads, first-call allocations
            run_once(pipeline, photos, -1, derived)
        profiler = cProfile.Profile() if args.profile else None
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in pipelines}
        for number in range(args.repeats):
            for label, pipeline in pipelines.items():
                if profiler and label == "configured":
                    profiler.enable()
                runs[label].append(run_once(pipeline, photos, number, derived))
                if profiler:
                    profiler.disable()
        if profiler:
            profiler.dump_stats(args.profile)
    first = runs["configured"]
    stages = sorted({name for run in first for name in run},
                    key=lambda name: -statistics.median(run.get(name, 0.0) for run in first))
    table = Table(title=f"CPU ms per typical submission (4 x 12-MP JPEG + note), median of "
                        f"{args.repeats}; load average {os.getloadavg()[0]:.1f} on "
                        f"{os.cpu_count()} cores")
    table.add_column("stage")
    for label in runs:
        table.add_column(f"CPU ms, {label}" if len(runs) > 1 else "CPU ms", justify="right",
                         overflow="fold")
    table.add_column("share", justify="right")
    total = statistics.median(sum(run.values()) for run in first)
    for name in stages:
        cells = [f"{statistics.median(run.get(name, 0.0) for run in label_runs) * 1000:.1f}"
                 for label_runs in runs.values()]
        ms = statistics.median(run.get(name, 0.0) for run in first) * 1000
        table.add_row(name, *cells, f"{ms / (total * 1000):.0%}")
    totals = [statistics.median(sum(run.values()) for run in label_runs) * 1000
              for label_runs in runs.values()]
    table.add_row("[bold]total", *[f"[bold]{ms:.1f}" for ms in totals], "")
    console.print(table)


def _overrides(text: str) -> dict[str, dict[str, object]]:
    """`section.key=value` items, comma-separated (commas inside [...] belong to a list);
    values are read as JSON when they parse (numbers, lists), else kept as text."""
    overrides: dict[str, dict[str, object]] = {}
    for item in filter(None, (part.strip() for part in re.split(r",(?![^\[]*\])", text))):
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not (section and name and value):
            raise SystemExit(f"--compare takes section.key=value items, not {item!r}")
        try:
            overrides.setdefault(section, {})[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides.setdefault(section, {})[name] = value
    return overrides


def _with_check_options(settings: Settings, options: dict[str, object]) -> dict[str, object]:
    """The settings' checks with `check.option` values replaced (`checks.` items of --compare)."""
    checks = dict(settings.checks)
    for key, value in options.items():
        name, _, option = key.partition(".")
        if not option:
            raise SystemExit(f"--compare takes checks.<check>.<option>=value, not checks.{key}")
        current = settings.check(name)
        checks[name] = current.model_copy(update={"options": {**current.options, option: value}})
    return checks


if __name__ == "__main__":
    main()
