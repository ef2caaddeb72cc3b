"""Train the region classifier (regions + procedure heads) from labelled photos.

    .venv/bin/python -m training.train_region_classifier --data PATH [--promote]

PATH is an ImageFolder tree (one folder per label: a region, regions joined with '+', 'none',
or a procedure code) or a .jsonl manifest (datasets/labelled_photos.py). The run splits off a
seeded validation share, trains (starting from ImageNet weights when the local torch cache has
them, from scratch otherwise), logs metrics per epoch, writes plots, exports ONNX, and
registers the version in the model registry (DATA_DIR/models, or --registry-root) with its
card; --promote makes the service use it (it loads the promoted version at start-up).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import track
from torch import nn
from torch.utils.data import DataLoader

from datasets.labelled_photos import LabelError, LabelledPhoto, RegionDataset, read_labelled
from models.region_classifier import (
    ARCHITECTURES,
    LABELS_FILE,
    MODEL_NAME,
    ONNX_FILE,
    RegionClassifier,
    RegionProcedureNet,
    export_onnx,
)
from models.registry import ModelRegistry
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy

console = Console()
_IMAGENET_WEIGHTS = {"mobilenet_v3_small": "MobileNet_V3_Small_Weights", "resnet18": "ResNet18_Weights"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="ImageFolder tree or .jsonl manifest of labelled photos")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="mobilenet_v3_small")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", choices=["standard", "strong"], default="standard",
                        help="strong: crops down to 60%% of each side, rotations up to 15 degrees, "
                             "more grey photos")
    parser.add_argument("--split", choices=["auto", "group", "label"], default="auto",
                        help="group: hold out whole people/scenes (groups.json beside the label "
                             "folders, written by datasets.region_photos); label: a share of each "
                             "label set (crops of one person on both sides); auto: group when "
                             "the folder has groups.json")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on 2 shared cores one is faster than two")
    parser.add_argument("--pretrained", choices=["auto", "never"], default="auto",
                        help="auto: ImageNet weights when the local torch cache has them")
    parser.add_argument("--name", default=MODEL_NAME, help="model name in the registry")
    parser.add_argument("--version", default=None, help="default: UTC timestamp")
    parser.add_argument("--registry-root", type=Path, default=None,
                        help="default: DATA_DIR/models (the writable registry root)")
    parser.add_argument("--promote", action="store_true", help="serve this version")
    parser.add_argument("--out", type=Path, default=None,
                        help="where plots and the metrics log go (default: the version folder)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the card's command line
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split(photos: list[LabelledPhoto], fraction: float, seed: int
          ) -> tuple[list[LabelledPhoto], list[LabelledPhoto]]:
    """A seeded split, stratified by label set so every label is in both parts when it can be."""
    groups: dict[tuple, list[LabelledPhoto]] = {}
    for photo in photos:
        groups.setdefault((photo.regions, photo.procedure), []).append(photo)
    rng = random.Random(seed)
    train, val = [], []
    for key in sorted(groups, key=str):
        members = groups[key][:]
        rng.shuffle(members)
        cut = round(len(members) * fraction) if len(members) > 1 else 0
        val.extend(members[:cut])
        train.extend(members[cut:])
    return train, val


def read_groups(data: Path) -> dict[Path, str] | None:
    """{photo path: the person or scene it was cut from} from `groups.json` beside the label
    folders (datasets/region_photos.py writes it), or None when there is none."""
    from datasets.region_photos import GROUPS_FILE

    path = data / GROUPS_FILE if data.is_dir() else None
    if path is None or not path.is_file():
        return None
    return {data / name: group for name, group in json.loads(path.read_text())["groups"].items()}


def group_split(photos: list[LabelledPhoto], groups: dict[Path, str], fraction: float, seed: int
                ) -> tuple[list[LabelledPhoto], list[LabelledPhoto]]:
    """A seeded split that holds out whole groups (people, scenes): every crop of a held-out
    person is in validation, none in training. Stratified by the group's kind (the part of
    its name before ':', e.g. `person`, `torso`, `scene`), a share `fraction` of each kind's
    groups (at least one when the kind has two or more). A photo without a group is its own."""
    group_of = {photo.path: groups.get(photo.path, f"photo:{photo.path}") for photo in photos}
    kinds: dict[str, list[str]] = {}
    for group in sorted(set(group_of.values())):
        kinds.setdefault(group.partition(":")[0] if ":" in group else "", []).append(group)
    rng = random.Random(seed)
    held_out: set[str] = set()
    for kind in sorted(kinds):
        members = kinds[kind][:]
        rng.shuffle(members)
        cut = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        held_out.update(members[:cut])
    train = [p for p in photos if group_of[p.path] not in held_out]
    val = [p for p in photos if group_of[p.path] in held_out]
    return train, val


def split_for(args: argparse.Namespace, photos: list[LabelledPhoto]
              ) -> tuple[list[LabelledPhoto], list[LabelledPhoto], str, list[str]]:
    """(training, validation, how, held-out groups) as `--split` asks."""
    groups = read_groups(args.data) if args.split in ("auto", "group") else None
    if args.split == "group" and groups is None:
        raise LabelError(f"--split group needs groups.json in {args.data}")
    if groups is None:
        train_photos, val_photos = split(photos, args.val_fraction, args.seed)
        return train_photos, val_photos, "label", []
    train_photos, val_photos = group_split(photos, groups, args.val_fraction, args.seed)
    held = sorted({groups.get(p.path, f"photo:{p.path.name}") for p in val_photos})
    return train_photos, val_photos, "group", held


def imagenet_weights(arch: str, mode: str) -> str | None:
    """The ImageNet weights' enum name when the local torch cache holds them (never fetched)."""
    if mode == "never":
        return None
    import torchvision.models as tv_models

    weights = getattr(tv_models, _IMAGENET_WEIGHTS[arch]).IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return f"{_IMAGENET_WEIGHTS[arch]}.IMAGENET1K_V1" if cached.is_file() else None


def evaluate(net: nn.Module, loader: DataLoader, regions: list[str]) -> dict[str, float]:
    net.eval()
    region_probs, region_true, proc_pred, proc_true = [], [], [], []
    with torch.inference_mode():
        for images, region_targets, procedure_targets in loader:
            region_logits, procedure_logits = net(images)
            region_probs.append(torch.sigmoid(region_logits))
            region_true.append(region_targets)
            proc_pred.append(procedure_logits.argmax(1))
            proc_true.append(procedure_targets)
    probs, truth = torch.cat(region_probs), torch.cat(region_true)
    predicted = probs >= 0.5
    metrics: dict[str, float] = {}
    tp = (predicted & (truth == 1)).sum().item()
    fp = (predicted & (truth == 0)).sum().item()
    fn = (~predicted & (truth == 1)).sum().item()
    metrics["region_precision"] = tp / (tp + fp) if tp + fp else 0.0
    metrics["region_recall"] = tp / (tp + fn) if tp + fn else 0.0
    metrics["region_f1"] = (2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0
    metrics["exact_label_set"] = (predicted == (truth == 1)).all(1).float().mean().item()
    for index, region in enumerate(regions):
        positives = truth[:, index] == 1
        if positives.any():
            metrics[f"recall_{region}"] = predicted[positives, index].float().mean().item()
    procedures_true, procedures_pred = torch.cat(proc_true), torch.cat(proc_pred)
    labelled = procedures_true >= 0
    if labelled.any():
        metrics["procedure_accuracy"] = (procedures_pred[labelled] == procedures_true[labelled]).float().mean().item()
    return {name: round(value, 4) for name, value in metrics.items()}


def train(args: argparse.Namespace) -> Path:
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    taxonomy = default_taxonomy()
    photos = read_labelled(args.data, taxonomy)
    regions = list(taxonomy.regions)
    procedures = sorted({p.procedure for p in photos if p.procedure})
    train_photos, val_photos, how, held_out = split_for(args, photos)
    if not val_photos:
        raise LabelError("too few photos to hold any out for validation")
    args.split_used, args.held_out = how, held_out
    weights = imagenet_weights(args.arch, args.pretrained)
    if held_out:
        console.print(f"validation holds out {len(held_out)} whole groups: {', '.join(held_out)}")
    console.print(f"{len(train_photos)} training and {len(val_photos)} validation photos, "
                  f"{len(procedures)} procedure labels; {args.arch} from "
                  f"{'ImageNet weights (local cache)' if weights else 'scratch'}")
    net = RegionProcedureNet(len(regions), len(procedures), args.arch, weights)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(RegionDataset(train_photos, regions, procedures, args.image_size,
                                            train=True, seed=args.seed, augment=args.augment),
                              batch_size=args.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(RegionDataset(val_photos, regions, procedures, args.image_size,
                                          train=False), batch_size=args.batch_size)
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=args.lr, total_steps=args.epochs * len(train_loader))
    region_loss, procedure_loss = nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss(ignore_index=-100)
    history: list[dict[str, float]] = []
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        total, batches = 0.0, 0
        for images, region_targets, procedure_targets in track(
                train_loader, description=f"epoch {epoch}/{args.epochs}", console=console,
                transient=True):
            region_logits, procedure_logits = net(images)
            loss = region_loss(region_logits, region_targets)
            if (procedure_targets >= 0).any():
                loss = loss + procedure_loss(procedure_logits, procedure_targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total, batches = total + loss.item(), batches + 1
        metrics = {"epoch": epoch, "train_loss": round(total / max(batches, 1), 4),
                   **evaluate(net, val_loader, regions)}
        history.append(metrics)
        console.print(f"epoch {epoch:2d}  loss {metrics['train_loss']:.4f}  val region F1 "
                      f"{metrics['region_f1']:.3f}  exact {metrics['exact_label_set']:.3f}")
    return register(args, net, regions, procedures, photos, history, time.time() - started,
                    weights)


def data_version(photos: list[LabelledPhoto]) -> str:
    digest = hashlib.sha256()
    for photo in sorted(photos, key=lambda p: str(p.path)):
        digest.update(f"{photo.path.name}|{','.join(photo.regions)}|{photo.procedure}".encode())
        digest.update(photo.path.read_bytes())
    return digest.hexdigest()[:16]


def register(args, net, regions, procedures, photos, history, seconds, weights) -> Path:
    version = args.version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    registry = (ModelRegistry([args.registry_root]) if args.registry_root
                else ModelRegistry.default(Settings().data_dir))
    final = history[-1]
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path, labels_path = Path(scratch) / ONNX_FILE, Path(scratch) / LABELS_FILE
        export_onnx(net, onnx_path, args.image_size)
        labels_path.write_text(json.dumps({"regions": regions, "procedures": procedures,
                                           "image_size": args.image_size, "arch": args.arch},
                                          indent=2) + "\n")
        config = {key: (str(value) if isinstance(value, Path) else value)
                  for key, value in vars(args).items() if key != "argv"}
        command = "python -m training.train_region_classifier " + shlex.join(args.argv)
        model = registry.add(
            args.name, version, {ONNX_FILE: onnx_path, LABELS_FILE: labels_path},
            metrics={k: v for k, v in final.items() if k != "epoch"},
            thresholds={"region": 0.5}, data_version=data_version(photos), command=command,
            config=config, card=model_card(args, version, photos, final, seconds, weights, command))
    RegionClassifier(model)  # the export loads and its checksums hold
    out = args.out or model.directory
    write_history(history, out)
    if args.promote:
        registry.promote(args.name, version)
    console.print(f"registered {args.name} {version} in {model.directory}"
                  f"{' and promoted it' if args.promote else ''}")
    return model.directory


def write_history(history: list[dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    epochs = [h["epoch"] for h in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [h["train_loss"] for h in history], label="training loss")
    left.set_xlabel("epoch")
    left.legend()
    for key in ("region_f1", "region_precision", "region_recall", "exact_label_set"):
        right.plot(epochs, [h[key] for h in history], label=key)
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "training.png", dpi=100)
    plt.close(figure)


def model_card(args, version, photos, final, seconds, weights, command) -> str:
    counts: dict[str, int] = {}
    for photo in photos:
        key = photo.procedure or ("+".join(photo.regions) or "none")
        counts[key] = counts.get(key, 0) + 1
    lines = [
        f"# {args.name} {version}",
        "",
        "Region classifier for the `procedure_match` check: which of the taxonomy's regions a "
        "photo shows (one sigmoid each), and which procedure it fits (softmax, when the data "
        "names procedures). Combined with the face and body-part detectors by noisy-OR.",
        "",
        f"- architecture: torchvision {args.arch}, input {args.image_size} px (whole photo "
        "squashed to a square), initialised from "
        f"{'ImageNet weights found in the local torch cache' if weights else 'scratch (no ImageNet weights in the local torch cache)'}",
        f"- data: `{args.data}` ({len(photos)} photos, data version in meta.json); "
        f"validation share {args.val_fraction}, seed {args.seed}, split by "
        + ("whole people/scenes (held out: " + ", ".join(args.held_out) + ")"
           if getattr(args, "split_used", "label") == "group" else "label set (crops of one "
           "person on both sides: the metrics below flatter the model)"),
        f"- trained {args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr}, "
        f"{args.augment} augmentation, "
        f"one-cycle schedule, {seconds / 60:.1f} min on CPU",
        f"- command: `{command}`",
        "",
        "## Labels",
        "",
        *[f"- {name}: {count}" for name, count in sorted(counts.items())],
        "",
        "## Validation metrics (last epoch)",
        "",
        *[f"- {name}: {value}" for name, value in final.items() if name != "epoch"],
        "",
        "## Licences of the inputs",
        "",
        "See the data's own record (datasets/region_photos.py lists each shipped source and "
        "its licence). torchvision (BSD-3) defines the architecture.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        train(args)
    except (LabelError, FileExistsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
