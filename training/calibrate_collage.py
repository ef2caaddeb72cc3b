"""Fit how the collage check combines the model with the seam analysis, on training photos.

    python -m training.calibrate_collage --from-version 1.0.0 --version 1.1.0 --shipped

A logistic regression over [model logit, a full-length gutter, the number of full-length
parallel seams, the strongest abrupt seam, one or two seams cutting equal panels] is fitted on examples built from the *train*
photos (a seed training never used), at full upload size, so the check learns that many
parallel straight lines (tiles, shelving, ruled paper) are scenery while one or two dividing
seams are panels. The weights are copied unchanged; `combiner.json` joins them in a new
registered version. Held-out photos stay for the benchmark.
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
from models.collage import CollageModel, combiner_features, find_seams
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
    parser.add_argument("--version", required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--shipped", action="store_true")
    args = parser.parse_args(argv)
    registry = ModelRegistry([SHIPPED_ROOT]) if args.shipped else None
    if registry is None:
        from moderation.settings import get_settings

        registry = ModelRegistry.default(get_settings().data_dir)
    source = registry.get("collage", args.from_version)
    if source is None:
        raise SystemExit(f"no collage model {args.from_version} in the registry")
    model = CollageModel(source.path("collage.pt"))
    features, labels = [], []
    for example in track(build("train", args.count, args.seed), total=args.count,
                         description="calibration examples (train photos)"):
        probability = float(model.probabilities([example.image])[0])
        height, width = example.image.shape[:2]
        values = combiner_features(probability, find_seams(example.image), width, height)
        features.append([values[name] for name in COMBINER_FEATURES])
        labels.append(example.label)
    x, y = np.array(features), np.array(labels, dtype=float)
    weights = fit_logistic(x, y)
    combined = 1 / (1 + np.exp(-(weights[0] + x @ weights[1:])))
    metrics = {"calibration_auroc_model": _auroc(y, x[:, 0]),
               "calibration_auroc_combined": _auroc(y, combined)}
    print(json.dumps({"weights": weights.round(4).tolist(), **metrics}))
    with tempfile.TemporaryDirectory() as folder:
        combiner = Path(folder) / "combiner.json"
        combiner.write_text(json.dumps({"features": COMBINER_FEATURES,
                                        "weights": weights.round(6).tolist()}, indent=1))
        command = "python -m training.calibrate_collage " + shlex.join(sys.argv[1:])
        card = (source.directory / "card.md").read_text().replace(
            f"# collage {args.from_version}", f"# collage {args.version}", 1) + f"""
## {args.version}: calibrated combination with the seam analysis

The network weights are those of {args.from_version}. `combiner.json` is a logistic regression
over {COMBINER_FEATURES}, fitted by `{command}` on {args.count} examples built from the
*train* photos (seed {args.seed}, full upload size; data version {DATA_VERSION}).
Calibration metrics: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}.
"""
        registry.add("collage", args.version, {"collage.pt": source.path("collage.pt"),
                                               "combiner.json": combiner},
                     metrics={**source.metrics, **metrics}, data_version=source.data_version,
                     command=command, config={"from_version": args.from_version}, card=card)
    registry.promote("collage", args.version, root=registry.writable_root)
    print(f"registered and promoted collage {args.version}")


COMBINER_FEATURES = ["model_logit", "full_band", "parallel_seams", "strongest_edge", "equal_panels"]


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[labels == 1], scores[labels == 0]
    return float((positives[:, None] > negatives[None, :]).mean()
                 + 0.5 * (positives[:, None] == negatives[None, :]).mean())


if __name__ == "__main__":
    main()
