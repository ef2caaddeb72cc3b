"""Choose the procedure_match check's classifier settings on people the classifier never saw.

The training folder (`python -m datasets.region_photos training-folder DIR`) records in
`DIR/groups.json` which person or scene each crop was cut from. `--split group` training
(the default when that file exists) holds out whole people and scenes; this script rebuilds
the same held-out share (same `--seed` and `--val-fraction` as the training run) and runs the
check on it, as `bench/procedure_match.py` does on the benchmark photos: each crop declared
once with a procedure whose regions it shows and once with one whose regions it does not
(rotating through the benchmark's choices; scenes twice without). Side by side: the
detectors alone, and each classifier version given (trained on the same split: the script
refuses one that saw the held-out people), without and with the mirror-image average
(`classifier_flip`), at several `classifier_weight`s. Never the benchmark photos: none of their sources is in the folder.

    .venv/bin/python bench/procedure_match_val.py --data data/region_crops \\
        --classifier-dir /tmp/reg/region-classifier/VERSION [--classifier-dir ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procedure_match import build_check, metrics, prepared_photo  # noqa: E402
from datasets.labelled_photos import read_labelled  # noqa: E402
from datasets.region_photos import (  # noqa: E402
    _MATCHING,
    _MISMATCHING,
    CATEGORY_REGIONS,
    _enlarged,
    folder_name,
)
from models.region_classifier import RegionClassifier  # noqa: E402
from models.registry import ModelVersion  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.taxonomy import default_taxonomy  # noqa: E402
from training.train_region_classifier import group_split, read_groups  # noqa: E402

CATEGORY_OF_FOLDER = {folder_name(regions): category
                      for category, regions in reversed(CATEGORY_REGIONS.items())}


def held_out_photos(data: Path, seed: int, fraction: float, per_group: int):
    """(photo, category, group) for the validation share, at most `per_group` crops of each
    group and kind (the first by file name: a fixed, unchosen subset)."""
    taxonomy = default_taxonomy()
    groups = read_groups(data)
    if groups is None:
        raise SystemExit(f"{data} has no groups.json: rebuild it with datasets.region_photos")
    _, val = group_split(read_labelled(data, taxonomy), groups, fraction, seed)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    chosen = []
    for photo in sorted(val, key=lambda p: str(p.path)):
        category = CATEGORY_OF_FOLDER[photo.path.parent.name]
        key = (groups[photo.path], category)
        if taken[key] < per_group:
            taken[key] += 1
            chosen.append((photo, category, groups[photo.path]))
    return chosen, sorted({groups[p.path] for p in val})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="training folder with groups.json")
    parser.add_argument("--classifier-dir", type=Path, action="append", default=[],
                        help="a version trained with --split group on the same folder and seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--per-group", type=int, default=6,
                        help="crops per held-out group and kind (each person's face, eyes, ...)")
    parser.add_argument("--weights", default="0.5,0.7,0.8,0.9,1.0",
                        help="classifier_weight values to compare")
    args = parser.parse_args()

    console = Console(width=170)
    settings = Settings(data_dir=Path("data"))
    taxonomy = default_taxonomy()
    chosen, held_out = held_out_photos(args.data, args.seed, args.val_fraction, args.per_group)
    console.print(f"held-out groups ({len(held_out)}): {', '.join(held_out)}")
    counts: dict[str, int] = defaultdict(int)
    for _, category, _ in chosen:
        counts[category] += 1
    console.print(f"{len(chosen)} held-out crops: {dict(counts)}")

    classifiers = []
    for folder in args.classifier_dir:
        version = ModelVersion.read(folder)
        meta = json.loads((folder / "meta.json").read_text())
        config = meta.get("config", {})
        if (config.get("split_used") != "group" or config.get("seed") != args.seed
                or config.get("val_fraction") != args.val_fraction
                or sorted(config.get("held_out", [])) != held_out):
            raise SystemExit(f"{folder.name} was not trained holding out these groups "
                             "(--split group, same --seed and --val-fraction): it saw them")
        classifiers.append((RegionClassifier(version), RegionClassifier(version, flip=True)))

    weights = [float(w) for w in args.weights.split(",")]
    detectors = build_check(settings, {"classifier": ""}, None)
    pass_below = settings.check("procedure_match").pass_below
    # per crop: the detectors' estimate, then each classifier's output without / with flip
    results: dict[str, list[dict]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    turns: dict[str, int] = defaultdict(int)
    for photo, category, group in track(chosen, description="held-out crops"):
        image = _enlarged(np.asarray(Image.open(photo.path).convert("RGB")), 400)
        prepared = prepared_photo(image, settings)
        estimate = detectors.regions_of(prepared)
        outputs = {"detectors": None}
        for plain, flipped in classifiers:
            for name, classifier in ((f"{plain.model.version}", plain),
                                     (f"{plain.model.version} flip", flipped)):
                started = time.process_time()
                outputs[name] = classifier.predict(prepared.image).regions
                cpu[name].append((time.process_time() - started) * 1000)
        # as the benchmark declares: one match and one mismatch (rotating), scenes two mismatches
        turn, options = turns[category], _MISMATCHING[category]
        turns[category] += 1
        trials = [(code, False) for code in [_MATCHING.get(category)] if code]
        trials += [(options[(turn + k) % len(options)], True)
                   for k in range(2 if category == "non_human" else 1)]
        for name, regions in outputs.items():
            for weight in ([None] if regions is None else weights):
                combined = estimate if regions is None else estimate.combined_with(regions, weight)
                label = name if weight is None else f"{name}, weight {weight}"
                for code, mismatch in trials:
                    probability, _ = detectors.match_probability(combined, taxonomy.get(code))
                    results[label].append({"category": category, "group": group,
                                           "mismatch": mismatch, "score": 1 - probability})

    table = Table(title=f"procedure_match on {len(chosen)} crops of held-out people and scenes "
                        f"(flagged = score >= pass_below {pass_below})")
    for column in ("configuration", "trials", "accuracy", "mismatch precision",
                   "mismatch recall", "false flags", "missed", "classifier CPU ms/photo"):
        table.add_column(column, justify="right" if column != "configuration" else "left")
    for label, rows in results.items():
        m = metrics(rows, pass_below)
        name = label.split(", weight")[0]
        table.add_row(label, str(len(rows)), f"{m['accuracy']:.3f}", f"{m['precision']:.3f}",
                      f"{m['recall']:.3f}", str(m["fp"]), str(m["fn"]),
                      f"{np.median(cpu[name]):.1f}" if name in cpu else "")
    console.print(table)
    by_kind = Table(title="errors by kind (missed mismatches / false flags)")
    by_kind.add_column("configuration")
    kinds = sorted({r["category"] for rows in results.values() for r in rows})
    for kind in kinds:
        by_kind.add_column(kind, justify="right")
    for label, rows in results.items():
        cells = []
        for kind in kinds:
            mine = [r for r in rows if r["category"] == kind]
            missed = sum(r["mismatch"] and r["score"] < pass_below for r in mine)
            false = sum((not r["mismatch"]) and r["score"] >= pass_below for r in mine)
            cells.append(f"{missed}/{sum(r['mismatch'] for r in mine)} · "
                         f"{false}/{sum(not r['mismatch'] for r in mine)}")
        by_kind.add_row(label, *cells)
    console.print(by_kind)


if __name__ == "__main__":
    main()
