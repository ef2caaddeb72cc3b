"""Train the watermark / logo detector from scratch, export it, measure it, register it.

    python -m training.train_watermark --out runs/watermark --register models/weights --promote

Steps (torchvision-reference style; every number below is an argument):
1. build a seeded pool of synthetic samples (`datasets.watermarks.WatermarkSynth`) on the
   training photos, and a validation pool on the validation photos (never trained on);
2. train MarkNet (MobileNetV3-Small + dense head) on random crops: per-cell BCE against the
   mark mask plus image-level BCE on the hottest cell;
3. choose the score threshold on validation (best recall at precision >= --min-precision),
   i.e. on scenes the model has not seen, as a submitted photo will be;
4. evaluate on held-out photos (`datasets.sample_photos.split("test")`, never trained on);
5. export TorchScript and ONNX, check they agree, time both on CPU;
6. write card.md + meta.json into the registry (`--register ROOT`) and promote (`--promote`).

On a GPU machine (`--device cuda --stream`), step 1 builds the training samples in DataLoader
workers as the training reaches them, one pass over `--train-samples`; `--from-run DIR` then
does steps 5-6 on another machine (this one) from what the run left in DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import pickle
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm import tqdm

from datasets import sample_photos
from datasets.fonts import FONT_FILES
from datasets.watermarks import WatermarkSynth, mark_odds, share
from models.registry import ModelRegistry
from models.watermark import (ARCHS, FREEZE_STRIDES, MODEL_NAME, ONNX_FILE, STRIDE,
                              TORCHSCRIPT_FILE, MarkNet, to_input)

console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="run folder (weights, log); required unless --from-run")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping the built sample pools between runs")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--train-samples", type=int, default=4000)
    parser.add_argument("--val-samples", type=int, default=300)
    parser.add_argument("--test-samples", type=int, default=300)
    parser.add_argument("--long-side", type=int, default=448, help="input long side, px")
    parser.add_argument("--photo-set", type=int, default=1,
                        help="train on the photos of sets 1..N (datasets.sample_photos; every "
                             "1.x version so far used set 1)")
    parser.add_argument("--scene-text-rate", type=share, default=0.0, help=(
        "share of training samples that also show text belonging to the scene (a badge, a "
        "sign, lettering on clothing: label 0); validation and test sets stay without"))
    parser.add_argument("--mark-weights", type=mark_weights, default={}, help=(
        "relative weights of the mark kinds in the training samples, e.g. logo=3 (a kind not "
        "named weighs 1; default: every kind alike); validation and test sets stay even"))
    parser.add_argument("--crop", type=int, default=160, help="training crop, px")
    parser.add_argument("--width", type=float, default=0.5, help="MobileNetV3 width multiplier")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="plain crops and flips only (how version 1.0 was trained)")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (a watermark.pt of an earlier run)")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--workers", type=int, default=2, help="processes building samples")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--arch", choices=ARCHS, default="small", help=(
        "backbone: MobileNetV3 small or large from scratch, or ppocr: the OCR text detector's "
        "pretrained backbone, frozen up to --freeze-to (--width does not apply)"))
    parser.add_argument("--freeze-to", type=int, choices=FREEZE_STRIDES, default=8, help=(
        "ppocr: the stride up to which the detector's layers stay frozen (16: only the "
        "stride-32 stage and the head learn; 0: every layer learns, BatchNorm statistics kept; "
        "8 or 16 only share the OCR pass's layers)"))
    parser.add_argument("--device", default="cpu", help="torch device to train on: cpu, cuda")
    parser.add_argument("--stream", action="store_true", help=(
        "build each training sample when the training reaches it (DataLoader workers), one "
        "pass over --train-samples, instead of a pool in memory for --epochs passes"))
    parser.add_argument("--crops-per-sample", type=int, default=1,
                        help="with --stream: random crops cut from each built sample")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (on a GPU)")
    parser.add_argument("--evaluations", type=int, default=8,
                        help="with --stream: validation AUROCs logged along the run")
    parser.add_argument("--max-minutes", type=float, default=None, help=(
        "with --stream: stop training after this long even if samples are left (recorded in "
        "the history; the run is then no longer a function of its arguments alone)"))
    parser.add_argument("--schedule-by-clock", action="store_true", help=(
        "with --stream --max-minutes: the one-cycle learning rate follows whichever is further "
        "along, the steps or the clock, so a run the clock stops has annealed by then (a run "
        "then depends on the machine's speed even when it finishes its samples)"))
    parser.add_argument("--from-run", type=Path, default=None, help=(
        "no training: export, time and register the model a finished run left in this folder "
        "(its run.json and watermark.pt), e.g. one trained on a GPU machine"))
    parser.add_argument("--card-note", type=Path, default=None, help=(
        "with --from-run: a Markdown paragraph added to the card under its command, e.g. how "
        "the photos reached the machine that trained it"))
    parser.add_argument("--min-precision", type=float, default=0.95,
                        help="the threshold keeps validation precision at or above this")
    parser.add_argument("--register", type=Path, default=None,
                        help="registry root to add the model to (models/weights ships it)")
    parser.add_argument("--version", default=None, help="default: 1.<UTC date and time>")
    parser.add_argument("--promote", action="store_true")
    args = parser.parse_args(argv)
    if args.from_run is not None:
        return args
    if args.out is None:
        parser.error("--out is required (unless --from-run names a finished run)")
    if args.batch_size % args.crops_per_sample:
        parser.error("--batch-size must be a multiple of --crops-per-sample")
    sample_photos.require_photo_set(parser, args.photo_set)
    if args.freeze_to != 8 and args.arch != "ppocr":
        parser.error("--freeze-to applies to --arch ppocr only")
    if args.crop % 32 or args.long_side % 32:
        parser.error("--crop and --long-side must be multiples of 32")
    if args.crop > args.long_side * 2 // 3:
        parser.error("--crop must fit inside the short side (2/3 of --long-side)")
    if args.schedule_by_clock and not (args.stream and args.max_minutes is not None):
        parser.error("--schedule-by-clock needs --stream and --max-minutes")
    return args


# ---------------------------------------------------------------- data

def mark_weights(value: str) -> dict[str, float]:
    """`--mark-weights`: "logo=3,tiled_logo=2" -> {"logo": 3.0, "tiled_logo": 2.0}."""
    weights = {}
    for part in filter(None, (piece.strip() for piece in value.split(","))):
        kind, equals, weight = part.partition("=")
        try:
            weights[kind.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not KIND=WEIGHT with a number (e.g. logo=3)") from None
    try:
        mark_odds(weights)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (give KIND=WEIGHT pairs, e.g. logo=3)") from None
    return weights


def _build(job: tuple) -> tuple[np.ndarray, np.ndarray, dict]:
    """Sample `index` of a set: (split, seed, index, long_side, photo_set[, scene_text_rate[,
    mark_weights as (kind, weight) pairs]])."""
    split, seed, index, long_side, photo_set, *rest = job
    synth = WatermarkSynth(sample_photos.split(split, photo_set), seed,
                           long_side=(long_side, long_side),
                           scene_text_rate=rest[0] if rest else 0.0,
                           mark_weights=dict(rest[1]) if len(rest) > 1 else None)
    sample = synth.sample(index)
    mask = cv2.dilate(sample.mask, np.ones((7, 7), np.uint8))
    return sample.image, (mask * 255).astype(np.uint8), sample.describe()


def build_pool(split: str, seed: int, count: int, long_side: int, workers: int,
               desc: str, cache: Path | None = None, photo_set: int = 1,
               scene_text_rate: float = 0.0, mark_weights: dict[str, float] | None = None,
               ) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """Samples 0..count-1 of the seeded set; kept in `cache` (a pickle) when one is named, as
    the same arguments always build the same pixels (so a cached pool of another size gives
    its first samples, and only the rest are built)."""
    photos = sample_photos.split(split, photo_set)
    digest = hashlib.sha256("|".join(p.name for p in photos).encode()).hexdigest()[:8]
    weights = tuple(sorted((mark_weights or {}).items()))
    stem = (f"{split}-{digest}-{seed}" + (f"-text{scene_text_rate}" if scene_text_rate else "")
            + "".join(f"-{kind}{weight:g}" for kind, weight in weights))
    samples = _cached_prefix(cache, stem, long_side, count) if cache else []
    if len(samples) < count:
        sample_photos.fetch(photos)
        jobs = [(split, seed, index, long_side, photo_set, scene_text_rate, weights)
                for index in range(len(samples), count)]
        if workers <= 1:
            samples += [_build(job) for job in tqdm(jobs, desc=desc)]
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                samples += list(tqdm(pool.imap(_build, jobs, chunksize=8), total=len(jobs),
                                     desc=desc))
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            with (cache / f"{stem}-{count}-{long_side}.pkl").open("wb") as handle:
                pickle.dump(samples, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return samples[:count]


def _cached_prefix(cache: Path, stem: str, long_side: int, count: int) -> list:
    """The first samples of the largest cached pool of this set (all of them up to `count`)."""
    return first_cached([(int(path.name.split("-")[-2]), path)
                         for path in cache.glob(f"{stem}-*-{long_side}.pkl")], count)


def first_cached(pools: list[tuple[int, Path]], count: int) -> list:
    """The first `count` samples of the smallest cached pool (size, pickle) that has them
    all, else of the largest one (the same arguments always build the same samples)."""
    if not pools:
        return []
    pools = sorted(pools)
    enough = [entry for entry in pools if entry[0] >= count]
    _, path = enough[0] if enough else pools[-1]
    with path.open("rb") as handle:
        return pickle.load(handle)[:count]


def cell_targets(mask: np.ndarray) -> np.ndarray:
    """Coverage of each 16-px cell by the (dilated) mark mask, as a soft target."""
    height, width = mask.shape
    rows, cols = height // STRIDE, width // STRIDE
    cells = mask[: rows * STRIDE, : cols * STRIDE].astype(np.float32) / 255.0
    coverage = cells.reshape(rows, STRIDE, cols, STRIDE).mean(axis=(1, 3))
    return np.clip(coverage * 4.0, 0.0, 1.0)


def random_crops(pool, crop: int, rng: np.random.Generator, on_mark: float = 0.75,
                 augment: bool = True):
    """One random crop of each sample of `pool`, stacked: (images, cell targets)."""
    images, targets = zip(*(random_crop(image, mask, meta["label"], crop, rng, on_mark, augment)
                            for image, mask, meta in pool))
    return (torch.from_numpy(np.stack(images).astype(np.float32)),
            torch.from_numpy(np.stack(targets))[:, None])


def random_crop(image: np.ndarray, mask: np.ndarray, marked: int, crop: int,
                rng: np.random.Generator, on_mark: float = 0.75,
                augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random crop (CHW uint8) and its cell targets; on a marked sample most crops
    (`on_mark`) hold part of a mark, since a crop of a corner mark's photo would otherwise
    mostly miss it. With `augment`, the crop is also zoomed, turned, re-coloured and blurred:
    a few photos must look like many."""
    height, width = image.shape[:2]
    window = crop
    if augment:
        window = int(np.clip(crop * rng.uniform(0.6, 1.6), 32, min(height, width)))
    y = int(rng.integers(0, height - window + 1))
    x = int(rng.integers(0, width - window + 1))
    if marked and rng.random() < on_mark:
        ys, xs = np.nonzero(mask)
        if len(xs):
            pick = int(rng.integers(len(xs)))
            margin = max(1, window // 8)
            x = int(np.clip(xs[pick] - rng.integers(margin, window - margin), 0, width - window))
            y = int(np.clip(ys[pick] - rng.integers(margin, window - margin), 0, height - window))
    image = image[y : y + window, x : x + window]
    mask = mask[y : y + window, x : x + window]
    if window != crop:
        image = cv2.resize(image, (crop, crop), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (crop, crop), interpolation=cv2.INTER_NEAREST)
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if augment:
        image, mask = _augment(np.ascontiguousarray(image), np.ascontiguousarray(mask), rng)
    return (np.ascontiguousarray(image).transpose(2, 0, 1),
            cell_targets(np.ascontiguousarray(mask)))


class StreamedCrops(torch.utils.data.Dataset):
    """Sample `index` of the seeded training set, built when asked and cut into `crops`
    random crops: a GPU-sized run sees each sample once instead of keeping a pool in memory.
    Item i is a function of (seed, i) alone, whichever worker builds it."""

    def __init__(self, split: str, seed: int, count: int, long_side: int, crop: int,
                 crops: int, augment: bool, photo_set: int = 1,
                 scene_text_rate: float = 0.0, mark_weights: dict[str, float] | None = None,
                 ) -> None:
        self.split, self.seed, self.count, self.long_side = split, seed, count, long_side
        self.crop, self.crops, self.augment = crop, crops, augment
        self.photo_set, self.scene_text_rate = photo_set, scene_text_rate
        self.mark_weights = tuple(sorted((mark_weights or {}).items()))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask, meta = _build((self.split, self.seed, index, self.long_side,
                                    self.photo_set, self.scene_text_rate, self.mark_weights))
        rng = np.random.default_rng([self.seed, index, 1])
        images, targets = zip(*(random_crop(image, mask, meta["label"], self.crop, rng,
                                            augment=self.augment) for _ in range(self.crops)))
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(targets))[:, None]


def _concatenate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    images, targets = zip(*items)
    return torch.cat(images), torch.cat(targets)


def _augment(image: np.ndarray, mask: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    turns = int(rng.integers(4))
    image, mask = np.rot90(image, turns), np.rot90(mask, turns)
    pixels = image.astype(np.float32)
    if rng.random() < 0.3:
        pixels = pixels[..., rng.permutation(3)]
    if rng.random() < 0.15:
        pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
    pixels = (pixels - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)
    pixels = 255 * (np.clip(pixels, 0, 255) / 255) ** rng.uniform(0.75, 1.33)
    if rng.random() < 0.2:
        pixels = cv2.GaussianBlur(pixels, (0, 0), rng.uniform(0.5, 1.2))
    pixels += rng.normal(0, rng.uniform(0, 4), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8), mask


# ---------------------------------------------------------------- training

def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    dense = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=logits.new_tensor(3.0))
    image_logit = logits.flatten(1).max(dim=1).values
    image_target = (targets.flatten(1).max(dim=1).values >= 0.5).float()
    return dense + 0.5 * F.binary_cross_entropy_with_logits(image_logit, image_target)


@torch.inference_mode()
def image_scores(model: torch.nn.Module, pool, long_side: int) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for image, _, _ in pool:
        batch, (height, width), _ = to_input(image, long_side)
        logits = model(torch.from_numpy(batch).to(device))[0, 0]
        rows, cols = -(-height // STRIDE), -(-width // STRIDE)
        scores.append(torch.sigmoid(logits[:rows, :cols].max()).item())
    return np.array(scores)


def labels_of(pool) -> np.ndarray:
    return np.array([meta["label"] for _, _, meta in pool])


def threshold_for(labels: np.ndarray, scores: np.ndarray, min_precision: float) -> float:
    """The lowest threshold whose precision stays >= min_precision (most recall)."""
    best = float(np.quantile(scores[labels == 1], 0.5)) if labels.any() else 0.5
    for threshold in np.unique(np.round(scores, 4))[::-1]:
        predicted = scores >= threshold
        if predicted.sum() == 0:
            continue
        precision = (labels[predicted] == 1).mean()
        if precision >= min_precision:
            best = float(threshold)
    return best


def metrics_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = scores >= threshold
    true_positive = int((predicted & (labels == 1)).sum())
    return {
        "auroc": round(float(roc_auc_score(labels, scores)), 4),
        "average_precision": round(float(average_precision_score(labels, scores)), 4),
        "precision": round(true_positive / max(1, int(predicted.sum())), 4),
        "recall": round(true_positive / max(1, int((labels == 1).sum())), 4),
    }


def validation(model: torch.nn.Module, val_pool, long_side: int) -> dict[str, float]:
    """The figures a training history logs on the validation photos."""
    scores, labels = image_scores(model, val_pool, long_side), labels_of(val_pool)
    return {"val_auroc": round(float(roc_auc_score(labels, scores)), 4),
            "val_ap": round(float(average_precision_score(labels, scores)), 4)}


def initial_model(args: argparse.Namespace) -> MarkNet:
    """A fresh MarkNet, or the weights of an earlier run's watermark.pt (`--init`)."""
    model = MarkNet(args.width, args.arch, args.freeze_to)
    if args.init is not None:
        if not args.init.is_file():
            raise SystemExit(f"--init {args.init}: no such file")
        state = torch.jit.load(str(args.init), map_location="cpu").state_dict()
        try:
            model.load_state_dict(state)
        except RuntimeError:
            raise SystemExit(f"--init {args.init}: its weights are not a MarkNet of --arch "
                             f"{args.arch} --width {args.width}") from None
        console.print(f"starting from the weights in {args.init}")
    return model


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters that learn (a ppocr backbone's frozen prefix does not)."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def train(args: argparse.Namespace, train_pool, val_pool) -> tuple[MarkNet, list[dict]]:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = initial_model(args)
    optimizer = torch.optim.AdamW(trainable(model), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train_pool) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15)
    history = []
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train_pool))
        running, started = 0.0, time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", leave=False)
        for step in bar:
            batch = [train_pool[i] for i in order[step * args.batch_size:(step + 1) * args.batch_size]]
            images, targets = random_crops(batch, args.crop, rng, augment=args.augment)
            loss = loss_fn(model(images), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / (step + 1):.4f}")
        record = {"epoch": epoch + 1, "loss": round(running / steps_per_epoch, 4),
                  **validation(model, val_pool, args.long_side),
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        console.print(json.dumps(record))
    return model, history


def train_streamed(args: argparse.Namespace, val_pool) -> tuple[MarkNet, list[dict]]:
    """One pass over `--train-samples` samples built by DataLoader workers as the training
    reaches them (sample i is the same whichever worker builds it)."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = initial_model(args).to(device).to(memory_format=torch.channels_last)
    dataset = StreamedCrops("train", args.seed, args.train_samples, args.long_side, args.crop,
                            args.crops_per_sample, args.augment, args.photo_set,
                            args.scene_text_rate, args.mark_weights)
    sample_photos.fetch(sample_photos.split("train", args.photo_set))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size // args.crops_per_sample, shuffle=False,
        num_workers=args.workers, collate_fn=_concatenate, pin_memory=device.type == "cuda",
        prefetch_factor=4 if args.workers else None, persistent_workers=False)
    optimizer = torch.optim.AdamW(trainable(model), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=len(loader), pct_start=0.1)
    evaluate_at = {round(len(loader) * k / args.evaluations) - 1
                   for k in range(1, args.evaluations + 1)}
    history, running, done, started = [], 0.0, 0, time.perf_counter()
    model.train()
    bar = tqdm(loader, desc="training (streamed)", mininterval=5)
    for step, (images, targets) in enumerate(bar):
        images = images.to(device, non_blocking=True).float()
        images = images.contiguous(memory_format=torch.channels_last)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(images)
        loss = loss_fn(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        minutes = (time.perf_counter() - started) / 60
        if args.schedule_by_clock:
            follow_the_clock(scheduler, minutes / args.max_minutes if args.max_minutes else 1.0)
        scheduler.step()
        running, done = running + loss.item(), done + 1
        out_of_time = args.max_minutes is not None and minutes > args.max_minutes
        if step in evaluate_at or out_of_time:
            seen = min(args.train_samples, (step + 1) * args.batch_size // args.crops_per_sample)
            record = {"step": step + 1, "samples": seen, "loss": round(running / done, 4),
                      "lr": float(f"{optimizer.param_groups[0]['lr']:.3g}"),
                      **validation(model, val_pool, args.long_side),
                      "minutes": round(minutes, 2)}
            if out_of_time:
                record["stopped"] = f"--max-minutes {args.max_minutes} reached"
            history.append(record)
            console.print(json.dumps(record))
            running, done = 0.0, 0
            model.train()
        if out_of_time:
            break
    return model.float().to(memory_format=torch.contiguous_format), history


def follow_the_clock(scheduler: torch.optim.lr_scheduler.OneCycleLR, elapsed: float) -> None:
    """Move the schedule ahead to the share `elapsed` of the time allowed, if the steps lag
    behind it (never back, never past its last step)."""
    by_clock = min(scheduler.total_steps - 2, int(elapsed * scheduler.total_steps))
    scheduler.last_epoch = max(scheduler.last_epoch, by_clock)


# ---------------------------------------------------------------- export and timing

def export(model: MarkNet, out: Path, long_side: int) -> dict[str, float]:
    write_served_files(model, out, long_side)
    return compare_backends(model, out, long_side)


def write_served_files(model: MarkNet, out: Path, long_side: int) -> None:
    """The network as the check loads it: TorchScript (traced) and ONNX (height and width
    free, so one file serves any photo's shape)."""
    model.eval()
    example = torch.zeros(1, 3, long_side * 3 // 4, long_side)
    traced = torch.jit.trace(model, example)
    torch.jit.save(traced, str(out / TORCHSCRIPT_FILE))
    torch.onnx.export(model, (example,), str(out / ONNX_FILE), input_names=["image"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {2: "height", 3: "width"},
                                    "logits": {2: "rows", 3: "cols"}})


def median_ms(call: Callable[[], object], runs: int, warmup: int = 3) -> float:
    """Median wall time of `call` over `runs` calls, after `warmup` untimed ones (TorchScript
    optimises on its first calls)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def compare_backends(model: MarkNet, out: Path, long_side: int, runs: int = 30,
                     threads: int = 2) -> dict[str, float]:
    """Both backends on the same input with the same number of threads (the service's)."""
    training_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _compare_backends(model, out, long_side, runs, threads)
    finally:
        torch.set_num_threads(training_threads)


def _compare_backends(model: MarkNet, out: Path, long_side: int, runs: int,
                      threads: int) -> dict[str, float]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(out / ONNX_FILE), options,
                                           providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(out / TORCHSCRIPT_FILE))
    batch = np.random.default_rng(0).uniform(0, 255, (1, 3, long_side * 3 // 4, long_side))
    batch = batch.astype(np.float32)
    with torch.inference_mode():
        reference = model(torch.from_numpy(batch)).numpy()
        from_script = scripted(torch.from_numpy(batch)).numpy()
    from_onnx = session.run(None, {"image": batch})[0]
    timings = {}
    for name, run in (("onnxruntime", lambda: session.run(None, {"image": batch})),
                      ("torchscript", lambda: scripted(torch.from_numpy(batch)))):
        with torch.inference_mode():
            timings[f"{name}_median_ms"] = round(median_ms(run, runs), 2)
    timings["onnx_max_abs_diff"] = float(np.abs(from_onnx - reference).max())
    timings["torchscript_max_abs_diff"] = float(np.abs(from_script - reference).max())
    return timings


# ---------------------------------------------------------------- card

CARD = """# watermark {version}

{backbone} with a dense head: per 16-px cell of a {long_side}-px input, the probability that a
watermark or practice logo covers it. The image score is the hottest cell; hot cells make the
evidence boxes. Served by `models/watermark.py` through {backend} (measured below).

## Data
Synthetic marks over real photographs, built by `datasets/watermarks.py` (seeded):
text marks (practice names, URLs, ©, phone numbers) in {fonts} fonts, several sizes, colours,
opacities 15-95%, rotations and tilings; simple vector logos with and without text; corner,
centre, edge and tiled placement. Hard negatives drawn into the scene with label 0: rulers,
measuring tapes, printed gowns, jewellery, tattoos (including script words), surgical skin
markings{scene_text}.

- training photos ({n_train} samples, seed {seed}): {train_photos}
- validation ({n_val} samples, seed {val_seed}; chooses the threshold): photos never trained
  on: {val_photos}
- test ({n_test} samples, seed {test_seed}): held-out photos never trained on: {test_photos}

## Command
```
{command}
```
Seed {seed}; {schedule}, batch {batch}, AdamW lr {lr}, one-cycle{init}.
Training took {train_minutes:.1f} min on {where}.

## Metrics (image level, {long_side}-px input)
| set | AUROC | AP | precision @ thr | recall @ thr |
|---|---|---|---|---|
| validation | {val[auroc]} | {val[average_precision]} | {val[precision]} | {val[recall]} |
| test (held-out photos) | {test[auroc]} | {test[average_precision]} | {test[precision]} | {test[recall]} |

Threshold (`thresholds.score`): {threshold} (best validation recall at precision >=
{min_precision}). The end-to-end figures (OCR + model at the working resolution, recall by
opacity and by mark type, latency) come from `python -m bench.watermark_bench`.

## CPU inference, one {long_side}x{short}-px input, 2 threads
ONNX Runtime {onnxruntime_median_ms} ms (median), TorchScript {torchscript_median_ms} ms;
max |difference| from eager PyTorch: ONNX {onnx_max_abs_diff:.2e}, TorchScript
{torchscript_max_abs_diff:.2e}. Shipped backend: {backend}.

## Licenses of every input
{licenses}
- fonts (matplotlib wheel): {font_licenses}
- {architecture_license}
- the weights are learnt from the photos above: the LGPL-3.0 and CC BY-SA 4.0 wallpapers are
  listed with their authors so that their attribution travels with this card.

## Limits
Trained on synthetic marks over {n_photos} photographs: real watermarks come in more styles.
Faint (15-30%) marks on busy texture are the hardest case; staff decisions exported by the data
team are the way to retrain on real marks.
"""


BACKBONES = {
    "mobilenet": ("A MobileNetV3-{arch} backbone (torchvision definition, width {width}, trained "
                  "from scratch:\nno pretrained weights)",
                  "code and architecture: torchvision (BSD-3-Clause); no pretrained weights used."),
    "ppocr": ("The PP-OCRv4 text detector's PP-LCNetV3 backbone (`models/ppocr_backbone.py`),\n"
              "starting from the detector's pretrained weights, {tuned},",
              "backbone weights and architecture: PP-OCRv4's detector as shipped in the "
              "rapidocr_onnxruntime\n  wheel (Apache-2.0), turned into PyTorch by onnx2torch "
              "(Apache-2.0); head: our own."),
}


def backbone_text(args) -> tuple[str, str]:
    """The card's description of the backbone and the license line of its weights."""
    arch = getattr(args, "arch", "small")
    described, license = BACKBONES["ppocr" if arch == "ppocr" else "mobilenet"]
    freeze_to = getattr(args, "freeze_to", 8)
    tuned = (f"its layers up to stride {freeze_to} frozen,\nthe later stages fine-tuned"
             if freeze_to else "every layer\nfine-tuned (BatchNorm statistics kept)")
    return described.format(arch=arch.capitalize(), width=args.width, tuned=tuned), license


def write_card(args, version, metrics, timings, history, threshold, train_minutes,
               command: str, where: str) -> str:
    train_photos = sample_photos.split("train", getattr(args, "photo_set", 1))
    val_photos = sample_photos.split("val")
    test_photos = sample_photos.split("test")
    licenses = "\n".join(f"- {p.name} ({p.origin}, `{p.relative_path}`): {p.license}; "
                         f"{p.source}" for p in train_photos + val_photos + test_photos)
    font_licenses = "; ".join(sorted({f"{lic}" for lic in FONT_FILES.values()}))
    if getattr(args, "stream", False):
        schedule = (f"one pass over {args.train_samples} samples built as the training reached "
                    f"them, {args.crops_per_sample} {args.crop}-px crops each")
        stopped = history[-1].get("stopped") if history else None
        by_clock = getattr(args, "schedule_by_clock", False)  # absent from older runs' args
        if by_clock:
            schedule += (f"; the learning rate followed the clock as well as the steps "
                         f"(`--schedule-by-clock`, {args.max_minutes} min)")
        if stopped:
            finished = ("the schedule annealed by the clock" if by_clock
                        else "the one-cycle schedule did not finish")
            schedule += (f" ({stopped} after {history[-1]['samples']} samples: {finished}, "
                         "and the run is not a function of its arguments alone)")
    else:
        schedule = f"{args.epochs} epochs of {args.crop}-px crops"
    backbone, architecture_license = backbone_text(args)
    return CARD.format(
        version=version, backbone=backbone, architecture_license=architecture_license,
        long_side=args.long_side, short=args.long_side * 3 // 4,
        backend=timings["backend"], fonts=len(FONT_FILES), n_train=args.train_samples,
        n_val=args.val_samples, n_test=args.test_samples, seed=args.seed,
        val_seed=args.seed + 1, test_seed=args.seed + 2,
        train_photos=", ".join(p.name for p in train_photos),
        val_photos=", ".join(p.name for p in val_photos),
        test_photos=", ".join(p.name for p in test_photos), command=command,
        init=(f", starting from `{args.init}` (the run before it; its command is in its card "
              "and meta.json)") if args.init else "",
        schedule=schedule, crop=args.crop, batch=args.batch_size, lr=args.lr,
        train_minutes=train_minutes, where=where, val=metrics["val"],
        test=metrics["test"], threshold=round(threshold, 4), min_precision=args.min_precision,
        licenses=licenses, font_licenses=font_licenses, n_photos=len(train_photos),
        scene_text=(f"; in {getattr(args, 'scene_text_rate', 0.0):.0%} of the training samples "
                    "also text of the scene (name badges, signs, lettering on clothing)"
                    if getattr(args, "scene_text_rate", 0.0) else "")
        + weighted_kinds(getattr(args, "mark_weights", {})),
        **{k: v for k, v in timings.items() if k != "backend"})


def weighted_kinds(weights: dict[str, float]) -> str:
    """The card's words for `--mark-weights` (nothing when every kind weighs alike)."""
    if not weights:
        return ""
    named = ", ".join(f"{kind} x{weight:g}" for kind, weight in sorted(weights.items()))
    return f". Mark kinds in the training samples weighted {named} (the others x1)"


def training_place(args: argparse.Namespace) -> str:
    if torch.device(args.device).type == "cuda":
        return (f"{torch.cuda.get_device_name(args.device)} (bf16 autocast: {args.bf16}), "
                f"{args.workers} processes building samples")
    return f"{args.threads} CPU threads"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_run is not None:
        return register_run(args)
    random.seed(args.seed)
    np.random.seed(args.seed % 2**32)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    version = args.version or "1." + datetime.now(UTC).strftime("%Y%m%d%H%M")

    val_pool = build_pool("val", args.seed + 1, args.val_samples, args.long_side,
                          args.workers, "validation samples", args.cache)
    test_pool = build_pool("test", args.seed + 2, args.test_samples, args.long_side,
                           args.workers, "test samples", args.cache)
    train_pool = None if args.stream else build_pool(
        "train", args.seed, args.train_samples, args.long_side, args.workers,
        "training samples", args.cache, args.photo_set, args.scene_text_rate, args.mark_weights)
    started = time.perf_counter()
    if args.stream:
        model, history = train_streamed(args, val_pool)
    else:
        model, history = train(args, train_pool, val_pool)
    train_minutes = (time.perf_counter() - started) / 60

    val_scores = image_scores(model, val_pool, args.long_side)  # on the training's device
    threshold = threshold_for(labels_of(val_pool), val_scores, args.min_precision)
    test_scores = image_scores(model, test_pool, args.long_side)
    model = model.cpu()
    metrics = {"val": metrics_at(labels_of(val_pool), val_scores, threshold),
               "test": metrics_at(labels_of(test_pool), test_scores, threshold)}
    console.print({"threshold": threshold, **metrics})
    run = {"version": version, "command": "python -m training.train_watermark " + " ".join(
               sys.argv[1:] if argv is None else argv),
           "where": training_place(args), "train_minutes": train_minutes, "threshold": threshold,
           "metrics": metrics, "history": history,
           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    finish(model, run, args.out, args.register, args.promote)
    return 0


def register_run(args: argparse.Namespace) -> int:
    """Export, time (on this machine) and register what a finished run left in a folder."""
    run_file = args.from_run / "run.json"
    if not run_file.is_file():
        raise SystemExit(f"--from-run {args.from_run}: no run.json (not a finished run's folder)")
    run = json.loads(run_file.read_text())
    if args.version:
        run["version"] = args.version
    if args.card_note is not None:
        if not args.card_note.is_file():
            raise SystemExit(f"--card-note {args.card_note}: no such file")
        run["card_note"] = args.card_note.read_text().strip()
    trained = run["args"]
    model = MarkNet(trained["width"], trained.get("arch", "small"), trained.get("freeze_to", 8))
    model.load_state_dict(torch.jit.load(str(args.from_run / TORCHSCRIPT_FILE),
                                         map_location="cpu").state_dict())
    finish(model, run, args.from_run, args.register, args.promote)
    return 0


def finish(model: MarkNet, run: dict, out: Path, register: Path | None, promote: bool) -> None:
    """Export both backends, time them here, write card, history and run.json, register."""
    trained = argparse.Namespace(**run["args"])
    with tempfile.TemporaryDirectory() as scratch:
        timings = export(model, Path(scratch), trained.long_side)
        timings["backend"] = ("onnx" if timings["onnxruntime_median_ms"]
                              <= timings["torchscript_median_ms"] else "torchscript")
        console.print(timings)
        for filename in (ONNX_FILE, TORCHSCRIPT_FILE):
            (out / filename).write_bytes((Path(scratch) / filename).read_bytes())
    version, metrics, threshold = run["version"], run["metrics"], run["threshold"]
    card = write_card(trained, version, metrics, timings, run["history"], threshold,
                      run["train_minutes"], run["command"], run["where"])
    if run.get("card_note"):
        card = card.replace("\n## Metrics", f"\n{run['card_note']}\n\n## Metrics", 1)
    (out / "card.md").write_text(card)
    (out / "history.json").write_text(json.dumps(run["history"], indent=2) + "\n")
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    if register:
        registry = ModelRegistry([register])
        flat = {f"{split}_{key}": value for split, values in metrics.items()
                for key, value in values.items()}
        registry.add(
            MODEL_NAME, version,
            {ONNX_FILE: out / ONNX_FILE, TORCHSCRIPT_FILE: out / TORCHSCRIPT_FILE},
            metrics={**flat, **{k: v for k, v in timings.items() if k != "backend"}},
            thresholds={"score": round(threshold, 4)},
            data_version=f"watermark-synth seed {trained.seed} ({trained.train_samples} samples)",
            command=run["command"], config={**run["args"], "backend": timings["backend"]},
            card=card)
        if promote:
            registry.promote(MODEL_NAME, version)
        console.print(f"registered {MODEL_NAME} {version} under {register}"
                      f"{' and promoted it' if promote else ''}")


if __name__ == "__main__":
    sys.exit(main())
