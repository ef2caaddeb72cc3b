"""Fit how the collage check combines the model with the seam analysis, on photos it never saw.

    python -m training.calibrate_collage --from-version 1.6.0 --version 1.7.0 --shipped

A logistic regression over `--features` (default `COMBINER_FEATURES`: the model's logit, a
full-length gutter, the number of parallel cuts (one per gutter), the strongest abrupt seam,
one or two cuts making equal panels, the step contrast at the halves and thirds and its lead
over the strongest line elsewhere) is fitted on examples built at full upload size from the
*val* photos and drawn hard negatives (`--split val`, which the network
never trained on, so the fit weighs the network as it does on new photos; `--split train` with
the five features of 1.1.0-1.5.0 is how those were fitted), so the check learns that many
parallel straight lines (tiles, shelving, ruled paper) are scenery while one or two dividing
cuts are panels. With `--split val` it also prints the AUROC of a leave-one-photo-out fit (each
val photo's examples scored by a fit on the others). The weights are copied unchanged;
`combiner.json` joins them in a new registered version. Held-out photos stay for the benchmark.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.progress import track

from datasets.collage import VERSION as DATA_VERSION
from datasets.collage import build
from models.collage import (
    CollageModel,
    analysis_copy,
    combiner_features,
    find_seams,
    layout_contrast,
)
from models.registry import SHIPPED_ROOT, ModelRegistry


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> np.ndarray:
    """Newton's method on the L2-regularised log loss; returns [bias, weights...]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ weights))
        gradient = design.T @ (p - y) + l2 * np.r_[0, weights[1:]]
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + l2 * np.diag(np.r_[0, np.ones(len(weights) - 1)])
        weights -= np.linalg.solve(hessian, gradient)
    return weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-version", required=True)
    parser.add_argument("--version", help="register the fit as this version (and promote it)")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--split", choices=["val", "train"], default="val",
                        help="photos of the calibration examples (val: never trained on)")
    parser.add_argument("--drawn", action=argparse.BooleanOptionalAction, default=True,
                        help="mix the drawn hard negatives (brick, tiles, planks) into the singles")
    parser.add_argument("--features", nargs="+", default=COMBINER_FEATURES,
                        help=f"combiner features (1.1.0-1.5.0: {' '.join(FEATURES_1_1)})")
    parser.add_argument("--shipped", action="store_true")
    parser.add_argument("--dry-run", action="store_true",
                        help="fit and print the figures only (compare feature sets)")
    args = parser.parse_args(argv)
    registry = ModelRegistry([SHIPPED_ROOT]) if args.shipped else None
    if registry is None:
        from moderation.settings import get_settings

        registry = ModelRegistry.default(get_settings().data_dir)
    source = registry.get("collage", args.from_version)
    if source is None:
        raise SystemExit(f"no collage model {args.from_version} in the registry")
    model = CollageModel(source.path("collage.pt"))
    features, labels, groups = [], [], []
    for example in track(build(args.split, args.count, args.seed, drawn=args.drawn),
                         total=args.count,
                         description=f"calibration examples ({args.split} photos)"):
        probability = float(model.probabilities([example.image])[0])
        height, width = example.image.shape[:2]
        analysed = analysis_copy(example.image)
        contrast = (layout_contrast(analysed[0])
                    if {"layout_contrast", "layout_lead"} & set(args.features) else (0.0, 0.0))
        values = combiner_features(probability, find_seams(example.image, analysed), width,
                                   height, contrast)
        features.append([values[name] for name in args.features])
        labels.append(example.label)
        # Leave-one-photo-out groups; the drawn singles fall in five groups of their own.
        groups.append(example.sources[0] if example.sources else f"drawn{len(groups) % 5}")
    x, y = np.array(features), np.array(labels, dtype=float)
    weights = fit_logistic(x, y)
    combined = 1 / (1 + np.exp(-(weights[0] + x @ weights[1:])))
    metrics = {"calibration_auroc_model": _auroc(y, x[:, 0]),
               "calibration_auroc_combined": _auroc(y, combined)}
    if args.split == "val":
        metrics["calibration_auroc_leave_one_photo_out"] = _auroc(y, leave_one_out(x, y, groups))
    print(json.dumps({"features": args.features, "weights": weights.round(4).tolist(), **metrics}))
    if args.dry_run:
        return
    if not args.version:
        raise SystemExit("--version is needed to register the fit (or --dry-run)")
    with tempfile.TemporaryDirectory() as folder:
        combiner = Path(folder) / "combiner.json"
        combiner.write_text(json.dumps({"features": args.features,
                                        "weights": weights.round(6).tolist()}, indent=1))
        command = "python -m training.calibrate_collage " + shlex.join(sys.argv[1:])
        card = (source.directory / "card.md").read_text().replace(
            f"# collage {args.from_version}", f"# collage {args.version}", 1) + f"""
## {args.version}: calibrated combination with the seam analysis

The network weights are those of {args.from_version}. `combiner.json` is a logistic regression
over {args.features}, fitted by `{command}` on {args.count} examples built from the
*{args.split}* photos (seed {args.seed}, full upload size; data version {DATA_VERSION}{
    "; the network never trained on them" if args.split == "val" else ""}{
    "; drawn hard negatives among the singles" if args.drawn else ""}).
Calibration metrics: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}.
"""
        registry.add("collage", args.version, {"collage.pt": source.path("collage.pt"),
                                               "combiner.json": combiner},
                     metrics={**source.metrics, **metrics}, data_version=source.data_version,
                     command=command, config={"from_version": args.from_version}, card=card)
    registry.promote("collage", args.version, root=registry.writable_root)
    print(f"registered and promoted collage {args.version}")


FEATURES_1_1 = ["model_logit", "full_band", "parallel_seams", "strongest_edge", "equal_panels"]
COMBINER_FEATURES = ["model_logit", "full_band", "cuts", "strongest_edge", "equal_cuts",
                     "layout_contrast", "layout_lead"]


def leave_one_out(x: np.ndarray, y: np.ndarray, groups: list[str]) -> np.ndarray:
    """Each example scored by a fit on the examples whose first photo is another one."""
    names = np.array(groups)
    scores = np.zeros(len(y))
    for name in sorted(set(groups)):
        held = names == name
        if held.all() or len(set(y[~held])) < 2:
            continue
        weights = fit_logistic(x[~held], y[~held])
        scores[held] = weights[0] + x[held] @ weights[1:]
    return scores


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[labels == 1], scores[labels == 0]
    return float((positives[:, None] > negatives[None, :]).mean()
                 + 0.5 * (positives[:, None] == negatives[None, :]).mean())


if __name__ == "__main__":
    main()
