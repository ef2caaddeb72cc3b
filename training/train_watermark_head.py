"""Train the watermark head on the OCR text detector's frozen features; evaluate, register.

    python -m training.train_watermark_head --out runs/watermark-2.0 --cache runs/cache

Steps (every number is an argument):
1. build seeded synthetic samples (`datasets.watermarks.WatermarkSynth`: the same builder,
   photos and splits as `training.train_watermark`) rendered at --render-side, as the service's
   working image would be, and run the PP-OCRv4 detector on each exactly as `models.ocr` does
   (long side --det-max-side), with its `text_features` output (`models.text_features`); the
   features (float16), the per-cell mark coverage and the sample's description are kept in
   --cache; with --derived-backgrounds, that share of the training scenes is made from the
   training photos (`datasets.watermarks.derived_background`);
2. train `models.watermark.FeatureHead` on them: per-cell BCE plus image-level BCE on the
   hottest cell (`training.train_watermark.loss_fn`); with --members K, K heads from their own
   initialisations, joined by `models.watermark.HeadEnsemble` (the mean of their logits);
   --keep chooses the weights shipped: the last epoch's, the best on validation, or the mean
   of the second half's;
3. choose the threshold on the validation photos, evaluate on the held-out test photos, and
   score the registered from-scratch detector (--baseline, e.g. 1.2) on the same test images
   side by side;
4. export the head to ONNX (checked against PyTorch, timed), write its card (with the sha256 of
   the cached samples, so a rerun can tell other data from other arithmetic) and register it
   (`--register ROOT`, `--promote`) as a `watermark` version whose `config.input` is
   "ocr-text-features": `models.watermark.load_detector` then serves it on the OCR's features.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import pickle
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from sklearn.metrics import roc_auc_score
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from datasets import sample_photos
from datasets.watermarks import WatermarkSynth, share
from models.registry import ModelRegistry
from models.text_features import CHANNELS, GROUPS, STRIDE, channels_of
from models.watermark import (
    HEAD_ONNX_FILE,
    MODEL_NAME,
    TEXT_FEATURES_INPUT,
    FeatureHead,
    HeadEnsemble,
)
from training.train_watermark import first_cached, loss_fn, median_ms, metrics_at, threshold_for

console = Console()

KEEP = ("last", "best", "average")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--train-samples", type=int, default=1500)
    parser.add_argument("--val-samples", type=int, default=300)
    parser.add_argument("--test-samples", type=int, default=300)
    parser.add_argument("--photo-set", type=int, default=1,
                        help="train on the photos of sets 1..N (datasets.sample_photos; "
                             "2.0 and 2.1 used set 1, 2.2 and 2.9 set 2)")
    parser.add_argument("--derived-backgrounds", type=share, default=0.0, help=(
        "share of training samples whose scene is made from the training photos instead "
        "(datasets.watermarks.derived_background: a mirrored texture, two photos blended, "
        "coloured fractal noise); 0..1, default 0"))
    parser.add_argument("--scene-text-rate", type=share, default=0.0, help=(
        "share of training samples that also show text of the scene (a name badge, a sign, "
        "lettering on clothing: datasets.watermarks.draw_scene_text); 0..1, default 0"))
    parser.add_argument("--render-side", default="640,832",
                        help="long side range (px) the samples are rendered at")
    parser.add_argument("--det-max-side", type=int, default=512)
    parser.add_argument("--baseline", default="1.2",
                        help="registered watermark version scored on the same test images")
    parser.add_argument("--teacher", default="", help=(
        "a registered pixel-network version (e.g. 1.8) whose per-cell probabilities, resampled "
        "to the head's cells, are blended into the training targets (distillation); "
        "default: none"))
    parser.add_argument("--teacher-weight", type=float, default=0.3,
                        help="share of the teacher in each training cell's target (0..0.5)")
    parser.add_argument("--groups", default=",".join(GROUPS),
                        help=f"feature groups the head reads, of {', '.join(GROUPS)}")
    parser.add_argument("--members", type=int, default=1, help=(
        "heads trained from this many initialisations (seeds --seed, --seed+1000, ...) on the "
        "same samples, --workers at a time, and shipped as one graph averaging their logits; "
        "member 0 is the single head the same command trains with --members 1"))
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--keep", choices=KEEP, default="last", help=(
        "the weights the run ships: the last epoch's; the epoch's with the best validation "
        "AUROC (the earliest on a tie); or 'average', the mean of the weights at the end of "
        "each epoch of the second half (stochastic weight averaging), its BatchNorm statistics "
        "recomputed on the training samples"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-precision", type=float, default=0.95)
    parser.add_argument("--register", type=Path, default=None,
                        help="registry root to add the model to (models/weights ships it)")
    parser.add_argument("--version", default=None, help="default: 2.<UTC date and time>")
    parser.add_argument("--promote", action="store_true")
    args = parser.parse_args(argv)
    sample_photos.require_photo_set(parser, args.photo_set)
    if not 0 <= args.teacher_weight <= 0.5:
        # above one half a teacher's "no" would turn a marked cell's label over
        parser.error(f"--teacher-weight must be within 0..0.5, not {args.teacher_weight}")
    if args.members < 1:
        parser.error(f"--members must be at least 1, not {args.members}")
    if args.teacher:
        teacher = ModelRegistry([Path("models/weights")]).get(MODEL_NAME, args.teacher)
        if teacher is None or teacher.config.get("input") == TEXT_FEATURES_INPUT:
            parser.error(f"--teacher {args.teacher}: not a registered pixel-network (1.x) "
                         "watermark version in models/weights")
    return args


# ---------------------------------------------------------------- features

_SESSION = None
_LOADED: dict = {}


def _engine(det_max_side: int):  # type: ignore[no-untyped-def]
    """The service's OCR engine (fused detector, features on), one per worker process."""
    global _SESSION
    if _SESSION is None:
        from models.ocr import OcrEngine, OcrOptions

        _SESSION = OcrEngine(OcrOptions(det_max_side=det_max_side, det_model="fused",
                                        features=True))
    return _SESSION


def _registered(version: str):  # type: ignore[no-untyped-def]
    """A registered pixel-network version, loaded once per worker process."""
    if version and version not in _LOADED:
        from models.registry import ModelRegistry
        from models.watermark import DetectorOptions, WatermarkDetector

        _LOADED[version] = WatermarkDetector.from_registry(
            ModelRegistry([Path("models/weights")]), DetectorOptions(version=version))
    return _LOADED.get(version)


def teacher_cells(teacher, image: np.ndarray,  # type: ignore[no-untyped-def]
                  size: tuple[int, int]) -> np.ndarray:
    """The teacher's mark probabilities resampled to the head's cells of a detector input of
    `size`: both maps cover the whole photo, at different strides of different inputs."""
    probabilities = teacher.predict(image).probabilities
    return cv2.resize(probabilities, (size[0] // STRIDE, size[1] // STRIDE),
                      interpolation=cv2.INTER_AREA)


def cell_coverage(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The mark mask at the detector's input size, as the share of each 16-px cell it covers
    (x4, capped at 1: a cell a quarter covered is a mark cell)."""
    small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    rows, cols = size[1] // STRIDE, size[0] // STRIDE
    cells = small[: rows * STRIDE, : cols * STRIDE].reshape(rows, STRIDE, cols, STRIDE)
    return np.clip(cells.mean(axis=(1, 3)) * 4.0, 0.0, 1.0)


def _build(job: tuple):  # type: ignore[type-arg]
    (split, photo_set, seed, index, render_side, det_max_side, baseline, teacher, weight,
     derived, *rest) = job
    synth = WatermarkSynth(sample_photos.split(split, photo_set), seed, long_side=render_side,
                           derived_rate=derived, scene_text_rate=rest[0] if rest else 0.0)
    sample = synth.sample(index)
    _, _, found = _engine(det_max_side).detect_with_features(sample.image)
    features = found.values
    targets = cell_coverage(sample.mask, found.input_size)
    meta = sample.describe()
    if split == "train" and teacher:
        taught = teacher_cells(_registered(teacher), sample.image, found.input_size)
        targets = (1.0 - weight) * targets + weight * taught
    model = _registered(baseline) if split != "train" else None
    if model is not None:
        meta["baseline_score"] = model.predict(sample.image).score
    return features.astype(np.float16), targets.astype(np.float16), meta


def build_pool(split: str, seed: int, count: int, args: argparse.Namespace) -> list:
    render_side = tuple(int(v) for v in args.render_side.split(","))
    photos = sample_photos.split(split, args.photo_set)
    digest = hashlib.sha256("|".join(p.name for p in photos).encode()).hexdigest()[:8]
    taught = split == "train" and bool(args.teacher)
    derived = args.derived_backgrounds if split == "train" else 0.0
    scene_text = args.scene_text_rate if split == "train" else 0.0
    variant = (f"-teacher{args.teacher}x{args.teacher_weight}" if taught else "") + (
        f"-derived{derived:g}" if derived else "") + (
        f"-text{scene_text:g}" if scene_text else "")
    stem = (f"head-{split}-{digest}-{seed}-{{count}}-{render_side[0]}x{render_side[1]}"
            f"-det{args.det_max_side}-{args.baseline or 'none'}{variant}.pkl")
    name = stem.format(count=count)
    samples = _cached_prefix(args.cache, stem, count) if args.cache is not None else []
    if len(samples) == count:
        return samples
    sample_photos.fetch(photos)
    jobs = [(split, args.photo_set, seed, i, render_side, args.det_max_side, args.baseline,
             args.teacher if taught else "", args.teacher_weight, derived, scene_text)
            for i in range(len(samples), count)]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        samples += list(tqdm(pool.imap(_build, jobs, chunksize=8), total=len(jobs),
                             desc=f"{split} features"))
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        with (args.cache / name).open("wb") as handle:
            pickle.dump(samples, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return samples


def _cached_prefix(cache: Path, stem: str, count: int) -> list:
    return first_cached([(int(path.name.split("-")[4]), path)
                         for path in cache.glob(stem.format(count="*"))], count)


def padded_batch(samples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features, targets and a valid-cell mask, zero-padded to the batch's largest map."""
    rows = max(f.shape[1] for f, _, _ in samples)
    cols = max(f.shape[2] for f, _, _ in samples)
    features = torch.zeros(len(samples), CHANNELS, rows, cols)
    targets = torch.zeros(len(samples), 1, rows, cols)
    valid = torch.zeros(len(samples), 1, rows, cols, dtype=torch.bool)
    for i, (feature, target, _) in enumerate(samples):
        h, w = target.shape
        features[i, :, :h, :w] = torch.from_numpy(feature.astype(np.float32))
        targets[i, 0, :h, :w] = torch.from_numpy(target.astype(np.float32))
        valid[i, 0, :h, :w] = True
    return features, targets, valid


def masked_loss(logits, targets, valid):  # type: ignore[no-untyped-def]
    logits = torch.where(valid, logits, torch.full_like(logits, -30.0))
    return loss_fn(logits, targets)


def standardise(head: FeatureHead, pool: list) -> None:
    chosen = head.channels.numpy()
    stacked = np.concatenate([f[chosen].reshape(len(chosen), -1).astype(np.float32)
                              for f, _, _ in pool[:400]], axis=1)
    head.mean.copy_(torch.from_numpy(stacked.mean(axis=1)).view(1, -1, 1, 1))
    head.std.copy_(torch.from_numpy(stacked.std(axis=1) + 1e-3).view(1, -1, 1, 1))


@torch.inference_mode()
def image_scores(head: FeatureHead | HeadEnsemble, pool: list) -> np.ndarray:
    head.eval()
    scores = []
    for feature, target, _ in pool:
        logits = head(torch.from_numpy(feature.astype(np.float32))[None])[0, 0]
        scores.append(torch.sigmoid(logits.max()).item())
    return np.array(scores)


def labels_of(pool: list) -> np.ndarray:
    return np.array([meta["label"] for _, _, meta in pool])


def member_seed(seed: int, member: int) -> int:
    """Member 0 keeps --seed, so a one-member run is the plain single head."""
    return seed + 1000 * member


class KeptWeights:
    """Which epoch's weights a run ships (`--keep`): it sees the head after every epoch and,
    once training ends, puts the chosen weights back into it."""

    def __init__(self, keep: str, epochs: int) -> None:
        self.keep, self.epochs = keep, epochs
        self.first_averaged = epochs // 2 + 1  # the second half; all of a one-epoch run
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_auroc, self.best_epoch = -1.0, 0
        self.average: AveragedModel | None = None

    def see(self, head: FeatureHead, record: dict) -> None:
        if self.keep == "best" and record["val_auroc"] > self.best_auroc:
            self.best_auroc, self.best_epoch = record["val_auroc"], record["epoch"]
            self.best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        elif self.keep == "average" and record["epoch"] >= self.first_averaged:
            if self.average is None:
                self.average = AveragedModel(head)
            self.average.update_parameters(head)

    def restore(self, head: FeatureHead, train_pool: list, batch_size: int) -> None:
        if self.best_state is not None:
            head.load_state_dict(self.best_state)
        elif self.average is not None:
            head.load_state_dict(self.average.module.state_dict())
            recompute_batch_norm(head, train_pool, batch_size)

    def describe(self) -> str:
        if self.keep == "best":
            return f"epoch {self.best_epoch} (best validation AUROC {self.best_auroc})"
        if self.keep == "average":
            return f"mean of epochs {self.first_averaged}-{self.epochs}"
        return f"epoch {self.epochs} (the last)"


@torch.no_grad()
def recompute_batch_norm(head: FeatureHead, pool: list, batch_size: int) -> None:
    """Averaged weights need their own BatchNorm statistics: one pass over the training
    samples with only the BatchNorm layers in training mode (dropout off), each batch weighed
    equally (momentum None)."""
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [norm.momentum for norm in norms]
    head.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    for start in range(0, len(pool), batch_size):
        features, _, _ = padded_batch(pool[start:start + batch_size])
        head(features)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    head.eval()


def train_member(args: argparse.Namespace, train_pool: list, val_pool: list,
                 member: int = 0) -> tuple[FeatureHead, list]:
    seed = member_seed(args.seed, member)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = FeatureHead(channels_of(args.groups.split(",")), args.width, args.dropout)
    standardise(head, train_pool)
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = -(-len(train_pool) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr,
                                                    total_steps=args.epochs * steps, pct_start=0.1)
    history, kept = [], KeptWeights(args.keep, args.epochs)
    for epoch in range(args.epochs):
        head.train()
        order = rng.permutation(len(train_pool))
        running, started = 0.0, time.perf_counter()
        for step in range(steps):
            chosen = order[step * args.batch_size:(step + 1) * args.batch_size]
            features, targets, valid = padded_batch([train_pool[i] for i in chosen])
            if rng.random() < 0.5:  # the mirror image's features are near the features mirrored
                features, targets, valid = features.flip(3), targets.flip(3), valid.flip(3)
            loss = masked_loss(head(features), targets, valid)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
        labels, scores = labels_of(val_pool), image_scores(head, val_pool)
        record = {"member": member, "epoch": epoch + 1, "loss": round(running / steps, 4),
                  "val_auroc": round(float(roc_auc_score(labels, scores)), 4),
                  "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        console.print(json.dumps(record))
        kept.see(head, record)
    kept.restore(head, train_pool, args.batch_size)
    history[-1]["kept"] = kept.describe()
    console.print(f"member {member} keeps the weights of {history[-1]['kept']}")
    return head.eval(), history


# The pools a forked member worker reads: inherited, never pickled (the training pool is GBs).
_POOLS: dict = {}


def _train_forked(job: tuple) -> tuple[dict, list]:
    args, member = job
    torch.set_num_threads(args.threads)
    head, history = train_member(args, _POOLS["train"], _POOLS["val"], member)
    return head.state_dict(), history


def train(args: argparse.Namespace, train_pool: list,
          val_pool: list) -> tuple[FeatureHead | HeadEnsemble, list]:
    """One head, or --members heads (--workers at a time) joined by `HeadEnsemble`."""
    if args.members == 1:
        return train_member(args, train_pool, val_pool)
    _POOLS.update(train=train_pool, val=val_pool)
    jobs = [(args, member) for member in range(args.members)]
    try:
        with multiprocessing.get_context("fork").Pool(min(args.workers, args.members)) as pool:
            trained = pool.map(_train_forked, jobs, chunksize=1)
    finally:
        _POOLS.clear()
    heads, history = [], []
    for state, member_history in trained:
        head = FeatureHead(channels_of(args.groups.split(",")), args.width, args.dropout)
        head.load_state_dict(state)
        heads.append(head.eval())
        history += member_history
    ensemble = HeadEnsemble(heads).eval()
    labels, scores = labels_of(val_pool), image_scores(ensemble, val_pool)
    record = {"members": args.members, "val_auroc": round(float(roc_auc_score(labels, scores)), 4)}
    history.append(record)
    console.print(json.dumps(record))
    return ensemble, history


def breakdown(pool: list, scores: np.ndarray, threshold: float) -> dict[str, dict[str, float]]:
    """Recall by opacity band and mark kind, false-positive rate by hard negative."""
    from datasets.watermarks import OPACITY_BANDS

    groups: dict[str, list[bool]] = {}
    for (_, _, meta), score in zip(pool, scores):
        hit = bool(score >= threshold)
        if meta["label"]:
            opacity = min(m["opacity"] for m in meta["marks"])
            band = next(f"{int(lo * 100)}-{min(100, int(hi * 100))}%"
                        for lo, hi in OPACITY_BANDS if lo <= opacity < hi)
            groups.setdefault(f"recall {band}", []).append(hit)
            for kind in {m["kind"] for m in meta["marks"]}:
                groups.setdefault(f"recall {kind}", []).append(hit)
        else:
            for kind in set(meta["negatives"]) or {"none"}:
                groups.setdefault(f"fp {kind}", []).append(hit)
    return {name: {"rate": round(float(np.mean(hits)), 3), "n": len(hits)}
            for name, hits in sorted(groups.items())}


# ---------------------------------------------------------------- export, card, registry

def export(head: FeatureHead | HeadEnsemble, out: Path, runs: int = 50) -> dict[str, float]:
    """ONNX file of the head, and both CPU backends timed on it (`backend_timings`)."""
    head.eval()
    example = feature_map_example()
    torch.onnx.export(head, (example,), str(out / HEAD_ONNX_FILE), input_names=["features"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"features": {2: "rows", 3: "cols"},
                                    "logits": {2: "rows", 3: "cols"}})
    return backend_timings(head, out / HEAD_ONNX_FILE, example, runs)


def feature_map_example(rows: int = 24, cols: int = 32) -> torch.Tensor:
    """A 512 x 384 photo's feature map (32 x 24 cells of 16 px), seeded."""
    return torch.from_numpy(
        np.random.default_rng(0).normal(0, 1, (1, CHANNELS, rows, cols)).astype(np.float32))


def backend_timings(head: torch.nn.Module, onnx_file: Path, example: torch.Tensor,
                    runs: int = 50) -> dict[str, float]:
    """ONNX Runtime against TorchScript (the head traced), 1 thread each as served: median ms
    of `runs` calls on `example`, and each one's largest difference from eager PyTorch. The
    served detector reads the ONNX file (`backend`)."""
    import onnxruntime

    from models.onnx_runtime import session_options

    head.eval()
    session = onnxruntime.InferenceSession(str(onnx_file), session_options(1),
                                           providers=["CPUExecutionProvider"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            reference = head(example).numpy()
            with warnings.catch_warnings():  # torch 2.x calls TorchScript deprecated; still timed
                warnings.simplefilter("ignore", FutureWarning)
                traced = torch.jit.freeze(torch.jit.trace(head, (example,)).eval())
            calls = {"onnxruntime": lambda: session.run(None, {"features": example.numpy()})[0],
                     "torchscript": lambda: traced(example).numpy()}
            timings: dict[str, float] = {}
            for name, call in calls.items():
                short = "onnx" if name == "onnxruntime" else name
                timings[f"{short}_max_abs_diff"] = float(np.abs(call() - reference).max())
                timings[f"{name}_median_ms"] = round(median_ms(call, runs), 3)
    finally:
        torch.set_num_threads(threads)
    return timings


CARD = """# watermark {version} (head on the OCR text detector's features)

A small convolutional head (`models.watermark.FeatureHead`: 1x1 conv to {width} channels, a 3x3
and a dilated 3x3 conv, 1x1 to one logit per cell) on the frozen features of RapidOCR's
PP-OCRv4 text detector (`models/text_features.py`: its backbone's and neck's stride-16 maps,
its fused stride-4 map pooled, its text probability pooled; {channels} channels), which the
OCR already computes for every photo at `[models.ocr] det_max_side` {det_max_side} px. Per
16-px cell of the detector's input: the probability that a watermark or practice logo covers
it; the image score is the hottest cell. Served by `models/watermark.py`
(`FeatureWatermarkDetector`) through ONNX Runtime; needs `[models.ocr] features = true` and
the "fused" or "wheel" detector (the INT8 graph's features differ: `models.ocr` gives none).{members_note}

## Data
Synthetic marks over real photographs, built by `datasets/watermarks.py` (seeded; the same
builder and validation and test photos as watermark 1.x; training photos of set {photo_set} of
`datasets/sample_photos.py`), rendered at a {render} px long side and shrunk
by the OCR's own resize: text marks (practice names, URLs, ©, phone numbers) in {fonts} fonts,
several sizes, colours, opacities 15-95%, rotations and tilings; vector logos with and without
text; corner, centre, edge and tiled placement; hard negatives with label 0 (rulers, tapes,
printed gowns, jewellery, tattoos, skin markings).{data_notes}

- training ({n_train} samples, seed {seed}): {train_photos}
- validation ({n_val} samples, seed {val_seed}; chooses the threshold): {val_photos}
- test ({n_test} samples, seed {test_seed}; never trained on): {test_photos}

## Command
```
{command}
```
Seed {seed}; {epochs} epochs, batch {batch}, AdamW lr {lr} (one-cycle), weight decay
{weight_decay}, channel dropout {dropout}; {train_minutes:.1f} min on {threads} CPU thread(s)
once the features are cached. Weights shipped (`--keep {keep}`): {kept}.

Samples (sha256 of every cached feature map and cell target, in order): training
`{digest_train}`, validation `{digest_val}`, test `{digest_test}`. Trained with {environment}.
A rerun of the command whose digests match built the same samples: weights that still differ
come from the arithmetic (another CPU or thread count), not from the data.

## Metrics (image level, same samples for both rows)
| model | set | AUROC | AP | precision @ thr | recall @ thr |
|---|---|---|---|---|---|
| this head | validation | {val[auroc]} | {val[average_precision]} | {val[precision]} | {val[recall]} |
| this head | test (held-out photos) | {test[auroc]} | {test[average_precision]} | {test[precision]} | {test[recall]} |
{baseline_rows}

Threshold (`thresholds.score`): {threshold} (best validation recall at precision >=
{min_precision}). Test recall by opacity band and mark kind, false positives by hard negative
(at that threshold): {breakdown}. End-to-end figures (OCR rules + head at the working
resolution): `python -m bench.watermark_bench`.

## CPU inference
One 32 x 24 feature map (a 512 x 384 detector input), 1 thread: ONNX Runtime
{onnxruntime_median_ms} ms median, TorchScript (traced, frozen) {torchscript_median_ms} ms; max
|difference| from PyTorch: ONNX {onnx_max_abs_diff:.2e}, TorchScript
{torchscript_max_abs_diff:.2e}. Shipped: the ONNX file, which the served detector reads.
The features themselves come with the OCR pass (pooling and concatenation in its graph).

## Licenses of every input
{licenses}
- fonts (matplotlib wheel): {font_licenses}
- PP-OCRv4 text detector (frozen, not retrained): rapidocr_onnxruntime {ocr_version}
  wheel, Apache-2.0 (PaddleOCR's weights, Apache-2.0).
- code: PyTorch (BSD-3-Clause); no other pretrained weights.

## Limits
Synthetic marks over {n_photos} photographs; real watermarks come in more styles. The head
reads features the OCR detector computes at {det_max_side} px: another `det_max_side` changes
them (retrain with `--det-max-side`).
"""


def pool_digest(pool: list) -> str:
    """sha256 of a pool's feature maps and cell targets, in order: two builds of the same
    command agree on it exactly when they built the same samples."""
    digest = hashlib.sha256()
    for features, targets, _ in pool:
        digest.update(np.ascontiguousarray(features).tobytes())
        digest.update(np.ascontiguousarray(targets).tobytes())
    return digest.hexdigest()


def environment() -> str:
    """What the arithmetic ran on: the CPU, torch and ONNX Runtime."""
    import onnxruntime

    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if
                line.startswith("model name")), "an unnamed CPU")
    return f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__} on {cpu}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def write_card(args, version, results, timings, minutes) -> str:  # type: ignore[no-untyped-def]
    from importlib.metadata import version as package_version

    from datasets.fonts import FONT_FILES

    splits = {name: sample_photos.split(name, args.photo_set)
              for name in ("train", "val", "test")}
    licenses = "\n".join(f"- {p.name} ({p.origin}, `{p.relative_path}`): {p.license}; {p.source}"
                         for photos in splits.values() for p in photos)
    baseline = results.get("baseline")
    baseline_rows = "" if not baseline else "\n".join(
        f"| watermark {baseline['version']} (pixels) | {name} | {m['auroc']} | "
        f"{m['average_precision']} | {m['precision']} | {m['recall']} |"
        for name, m in (("validation", baseline["val"]), ("test", baseline["test"])))
    return CARD.format(
        version=version, photo_set=args.photo_set, width=args.width, channels=CHANNELS, det_max_side=args.det_max_side,
        render=args.render_side.replace(",", "-"), fonts=len(FONT_FILES),
        n_train=args.train_samples, n_val=args.val_samples, n_test=args.test_samples,
        seed=args.seed, val_seed=args.seed + 1, test_seed=args.seed + 2,
        **{f"{name}_photos": ", ".join(p.name for p in photos) for name, photos in splits.items()},
        command="python -m training.train_watermark_head " + " ".join(sys.argv[1:]),
        epochs=args.epochs, batch=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        dropout=args.dropout, keep=args.keep, kept="; ".join(results["kept"]),
        train_minutes=minutes, threads=args.threads, val=results["val"],
        test=results["test"], baseline_rows=baseline_rows, threshold=results["threshold"],
        min_precision=args.min_precision,
        breakdown="; ".join(f"{k} {v['rate']} (n={v['n']})"
                            for k, v in results["test_breakdown"].items()),
        licenses=licenses, font_licenses="; ".join(sorted(set(FONT_FILES.values()))),
        ocr_version=package_version("rapidocr_onnxruntime"), n_photos=len(splits["train"]),
        data_notes=teacher_note(args) + derived_note(args), members_note=members_note(args),
        **{f"digest_{split}": digest for split, digest in results["samples_sha256"].items()},
        environment=results["environment"], **timings)


def members_note(args) -> str:  # type: ignore[no-untyped-def]
    if args.members == 1:
        return ""
    seeds = ", ".join(str(member_seed(args.seed, m)) for m in range(args.members))
    return (f"\n\nAn ensemble (`models.watermark.HeadEnsemble`): {args.members} such heads, "
            f"each trained from its own initialisation and batch order (seeds {seeds}) on the "
            "same samples; the graph averages their logits per cell, so it is served as one "
            "head.")


def derived_note(args) -> str:  # type: ignore[no-untyped-def]
    scene_text = getattr(args, "scene_text_rate", 0.0)
    note = (f"\n\nText of the scene: {scene_text:.0%} of the training samples also show a name "
            "badge, a sign or lettering on clothing (`datasets.watermarks.draw_scene_text`), "
            "label 0." if scene_text else "")
    if not args.derived_backgrounds:
        return note
    return note + (f"\n\nDerived scenes: {args.derived_backgrounds:.0%} of the training samples have a "
            "scene made from the training photos instead of a crop of one "
            "(`datasets.watermarks.derived_background`: a patch tiled into a mirrored texture, "
            "two photos blended, or fractal noise in a photo's colours); validation and test "
            "samples are plain crops of their own photos.")


def teacher_note(args) -> str:  # type: ignore[no-untyped-def]
    if not args.teacher:
        return ""
    return (f"\n\nDistilled: each training cell's target is {1 - args.teacher_weight:g} x its mark "
            f"coverage + {args.teacher_weight:g} x the probability that the registered pixel "
            f"network watermark {args.teacher} (its own card: data, licences) gives that cell, "
            "resampled from its grid to the head's (`teacher_cells`); validation and test "
            "samples keep their own labels.")


def register(args, version: str, results: dict, timings: dict, card: str) -> None:  # type: ignore[no-untyped-def]
    registry = ModelRegistry([args.register])
    flat = {f"{split}_{key}": value for split in ("val", "test")
            for key, value in results[split].items()}
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    registry.add(
        MODEL_NAME, version, {HEAD_ONNX_FILE: args.out / HEAD_ONNX_FILE},
        metrics={**flat, **timings}, thresholds={"score": results["threshold"]},
        data_version=f"watermark-synth seed {args.seed} ({args.train_samples} samples, "
                     f"rendered {args.render_side} px; sha256 "
                     f"{results['samples_sha256']['train'][:16]})",
        command="python -m training.train_watermark_head " + " ".join(sys.argv[1:]),
        config={**config, "input": TEXT_FEATURES_INPUT, "ocr_det_model": "fused",
                "ocr_det_max_side": args.det_max_side},
        card=card)
    if args.promote:
        registry.promote(MODEL_NAME, version)
    console.print(f"registered {MODEL_NAME} {version} under {args.register}"
                  f"{' and promoted it' if args.promote else ''}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    train_pool = build_pool("train", args.seed, args.train_samples, args)
    val_pool = build_pool("val", args.seed + 1, args.val_samples, args)
    test_pool = build_pool("test", args.seed + 2, args.test_samples, args)
    started = time.perf_counter()
    head, history = train(args, train_pool, val_pool)
    minutes = (time.perf_counter() - started) / 60
    val_scores = image_scores(head, val_pool)
    threshold = threshold_for(labels_of(val_pool), val_scores, args.min_precision)
    test_scores = image_scores(head, test_pool)
    results = {"threshold": round(threshold, 4), "train_minutes": round(minutes, 2),
               "val": metrics_at(labels_of(val_pool), val_scores, threshold),
               "test": metrics_at(labels_of(test_pool), test_scores, threshold),
               "test_breakdown": breakdown(test_pool, test_scores, threshold),
               "kept": [record["kept"] for record in history if "kept" in record],
               "samples_sha256": {"train": pool_digest(train_pool), "val": pool_digest(val_pool),
                                  "test": pool_digest(test_pool)},
               "environment": environment()}
    if args.baseline:
        base_val = np.array([meta["baseline_score"] for _, _, meta in val_pool])
        base_test = np.array([meta["baseline_score"] for _, _, meta in test_pool])
        base_threshold = threshold_for(labels_of(val_pool), base_val, args.min_precision)
        results["baseline"] = {
            "version": args.baseline, "threshold": round(base_threshold, 4),
            "val": metrics_at(labels_of(val_pool), base_val, base_threshold),
            "test": metrics_at(labels_of(test_pool), base_test, base_threshold),
            "test_breakdown": breakdown(test_pool, base_test, base_threshold)}
    console.print_json(json.dumps(results))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    torch.save(head.state_dict(), args.out / "head.pt")
    timings = export(head, args.out)
    console.print(timings)
    version = args.version or "2." + datetime.now(UTC).strftime("%Y%m%d%H%M")
    card = write_card(args, version, results, timings, minutes)
    (args.out / "card.md").write_text(card)
    if args.register:
        register(args, version, results, timings, card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
