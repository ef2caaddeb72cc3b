"""Train the collage model on composites of real open photos, evaluate it, ship it.

    python -m training.train_collage --out runs/collage            # train + evaluate
    python -m training.train_collage --out runs/collage --register 1.0.0 --shipped
    python -m training.train_collage --out runs/c2 --init-from 1.0.0 --epochs 3 --lr 5e-4 ...

Seeded end to end: the same arguments give the same examples and the same weights (on the
same torch build). Examples come from `datasets.collage.build` on the *train* photos only;
the validation set (which picks the epoch kept) is built from the *val* photos, which training
never sees (`--val-split train` builds it from the training photos with another seed, as
before collage-data-4), and the held-out photos of `datasets.open_photos` stay for
`bench/collage_comparability_duplicate.py`. Writes the weights,
metrics.json, a training curve and a ROC plot to --out; --register copies the weights into the
model registry (the shipped root with --shipped) with a model card, and promotes them.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch import nn

from datasets.collage import VERSION as DATA_VERSION
from datasets.collage import build, manifest
from models.collage import INPUT_SIDE, CollageNet, features, shrink
from models.registry import SHIPPED_ROOT, ModelRegistry

BUILD_SCALE = 0.5  # examples built at half size: the model sees 160 x 160 anyway


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the collage model.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-count", type=int, default=3000)
    parser.add_argument("--val-count", type=int, default=600)
    parser.add_argument("--val-split", choices=["val", "train"], default="val",
                        help="photos of the validation examples (val: never trained on)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init-from", metavar="VERSION",
                        help="start from the weights of this registered collage version")
    parser.add_argument("--register", metavar="VERSION", help="register the weights as VERSION")
    parser.add_argument("--shipped", action="store_true",
                        help="register into the shipped models/weights root, not DATA_DIR")
    return parser.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_arrays(split: str, count: int, seed: int, cache: Path, title: str,
                progress: Progress) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Examples shrunk to the model's input, cached by (split, count, seed)."""
    path = cache / f"{DATA_VERSION}_{split}_{count}_{seed}_{INPUT_SIDE}_{BUILD_SCALE}.npz"
    if path.exists():
        data = np.load(path)
        return data["images"], data["labels"], list(data["kinds"])
    images = np.zeros((count, INPUT_SIDE, INPUT_SIDE, 3), np.uint8)
    labels = np.zeros(count, np.float32)
    kinds = []
    task = progress.add_task(title, total=count)
    for index, example in enumerate(build(split, count, seed, scale=BUILD_SCALE)):  # type: ignore[arg-type]
        images[index] = shrink(example.image)
        labels[index] = example.label
        kinds.append(example.kind)
        progress.advance(task)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, labels=labels, kinds=np.array(kinds))
    return images, labels, kinds


def batches(images: np.ndarray, labels: np.ndarray, batch_size: int, rng: np.random.Generator,
            augment: bool):
    order = rng.permutation(len(images)) if augment else np.arange(len(images))
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        smalls = images[chosen]
        if augment:  # a mirrored or upside-down collage is still a collage
            flips = rng.random((len(chosen), 2)) < 0.5
            smalls = np.stack([s[:, ::-1] if fx else s for s, (fx, _) in zip(smalls, flips)])
            smalls = np.stack([s[::-1] if fy else s for s, (_, fy) in zip(smalls, flips)])
        x = torch.from_numpy(np.stack([features(s) for s in smalls]))
        yield x, torch.from_numpy(labels[chosen])


def predict(network: nn.Module, images: np.ndarray, batch_size: int) -> np.ndarray:
    network.eval()
    scores = []
    with torch.inference_mode():
        for x, _ in batches(images, np.zeros(len(images), np.float32), batch_size,
                            np.random.default_rng(0), augment=False):
            scores.append(torch.sigmoid(network(x)).numpy())
    return np.concatenate(scores)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(sorted_scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"
    with Progress() as progress:
        train_x, train_y, _ = make_arrays("train", args.train_count, args.seed, cache,
                                          "building training examples", progress)
        val_x, val_y, val_kinds = make_arrays(args.val_split, args.val_count, args.seed + 1000,
                                              cache, "building validation examples", progress)
    network = CollageNet()
    if args.init_from:
        network.load_state_dict(_registered_weights(args.init_from))
    optimiser = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * ((len(train_x) + args.batch_size - 1) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(args.seed)
    history = []
    best_auc, best_state = -1.0, None
    started = time.time()
    with Progress() as progress:
        task = progress.add_task("training", total=steps)
        for epoch in range(1, args.epochs + 1):
            network.train()
            losses = []
            for x, y in batches(train_x, train_y, args.batch_size, rng, augment=True):
                optimiser.zero_grad()
                loss = loss_fn(network(x), y)
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(loss.item())
                progress.advance(task)
            val_scores = predict(network, val_x, 256)
            auc = roc_auc(val_y, val_scores)
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_auroc": auc})
            progress.console.print(f"epoch {epoch}: loss {np.mean(losses):.4f}  val AUROC {auc:.4f}")
            if auc >= best_auc:
                best_auc = auc
                best_state = {k: v.clone() for k, v in network.state_dict().items()}
    assert best_state is not None
    network.load_state_dict(best_state)
    weights = args.out / "collage.pt"
    torch.save(best_state, weights)
    val_scores = predict(network, val_x, 256)
    metrics = {
        "val_auroc": round(roc_auc(val_y, val_scores), 4),
        "val_accuracy_at_0.5": round(float(((val_scores >= 0.5) == (val_y == 1)).mean()), 4),
        "train_seconds": round(time.time() - started, 1),
    }
    (args.out / "metrics.json").write_text(json.dumps({"metrics": metrics, "history": history},
                                                      indent=2))
    _plots(args.out, history, val_y, val_scores)
    print(json.dumps(metrics))
    if args.register:
        _register(args, weights, metrics)


def _registered_weights(version: str) -> dict[str, torch.Tensor]:
    from moderation.settings import get_settings

    found = ModelRegistry.default(get_settings().data_dir).get("collage", version)
    if found is None:
        raise SystemExit(f"--init-from: no registered collage version {version}")
    found.verify()
    return torch.load(found.path("collage.pt"), map_location="cpu", weights_only=True)


def _plots(out: Path, history: list[dict], labels: np.ndarray, scores: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([h["epoch"] for h in history], [h["loss"] for h in history], label="train loss")
    left.plot([h["epoch"] for h in history], [h["val_auroc"] for h in history], label="val AUROC")
    left.set_xlabel("epoch")
    left.legend()
    thresholds = np.unique(scores)[::-1]
    tpr = [((scores >= t) & (labels == 1)).sum() / (labels == 1).sum() for t in thresholds]
    fpr = [((scores >= t) & (labels == 0)).sum() / (labels == 0).sum() for t in thresholds]
    right.plot([0, *fpr], [0, *tpr])
    right.set_xlabel("false positive rate")
    right.set_ylabel("true positive rate")
    right.set_title("validation ROC")
    figure.tight_layout()
    figure.savefig(out / "training.png", dpi=100)
    plt.close(figure)


def _register(args: argparse.Namespace, weights: Path, metrics: dict[str, float]) -> None:
    from moderation.settings import get_settings

    registry = (ModelRegistry([SHIPPED_ROOT]) if args.shipped
                else ModelRegistry.default(get_settings().data_dir))
    command = "python -m training.train_collage " + shlex.join(sys.argv[1:])
    data = manifest("train", args.train_count, args.seed)
    if args.val_split == "val":
        data["photos"] += manifest("val", args.val_count, args.seed + 1000)["photos"]
    card = _card(args, metrics, data, command)
    model = registry.add("collage", args.register, {"collage.pt": weights}, metrics=metrics,
                         data_version=f"{DATA_VERSION}:train:{args.train_count}:seed{args.seed}",
                         command=command, config={k: str(v) for k, v in vars(args).items()},
                         card=card)
    registry.promote("collage", args.register, root=registry.writable_root)
    print(f"registered and promoted collage {model.version} in {model.directory}")


def _card(args: argparse.Namespace, metrics: dict[str, float], data: dict, command: str) -> str:
    licenses = "\n".join(f"| {p['name']} | {p['package']} ({p['registry']}) | {p['license']} |"
                         for p in data["photos"])
    return f"""# collage {args.register}

Detects composites (before/after side by side, angle grids of 2-6 panels, with or without
gutters, borders and labels, panels abutting without a gutter) in one uploaded photo.

- Architecture: `models.collage.CollageNet` (5 conv blocks, column/row profile branches,
  {sum(p.numel() for p in CollageNet().parameters()):,} parameters), input 160 x 160 RGB +
  gradient magnitudes, output a logit (sigmoid = probability of a collage).
- Data: `datasets.collage.build("train", {args.train_count}, seed={args.seed}, scale={BUILD_SCALE})` (version
  {DATA_VERSION}): composites and single crops of the *train* photos below, JPEG-encoded at
  quality 65-95, plus procedurally drawn hard negatives (`datasets.collage.drawn_architecture`:
  tiled and brick walls, planks, ruled pages, doors and windows, lying or upright, in colour or
  grey).
  Validation (picks the epoch kept): `build("{args.val_split}", {args.val_count},
  seed={args.seed + 1000})`, {"the *val* photos below, which training never sees"
                              if args.val_split == "val" else "the same photos"}.
  The held-out photos (`datasets.open_photos`, split "test") are never used here.
- Command: `{command}`
- Seed: {args.seed}; epochs {args.epochs}, batch {args.batch_size}, AdamW lr {args.lr}, one-cycle{
    f"; fine-tuned from collage {args.init_from}" if args.init_from else ""}.
- Metrics (validation): {json.dumps(metrics)}. Held-out figures: `python
  bench/collage_comparability_duplicate.py`.
- Intended use: a gallery gate that sends likely composites to review/reject; label text from
  OCR and the seam analysis in `models.collage.find_seams` complement it in the `collage` check.
- Limits: trained on about thirty source photos; photos with a plain frame or large flat
  areas next to strong straight edges are the hardest singles.

## Licenses of every input

| photo | shipped by | license |
|---|---|---|
{licenses}

The drawn hard negatives are generated by the builder (no outside data).
"""


if __name__ == "__main__":
    main()
