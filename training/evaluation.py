"""Metrics, threshold calibration and the report's plots for one learned check.

Scores are probabilities that the rule is broken (label 1). Every plot is a matplotlib PNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageOps
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def threshold_for(labels: np.ndarray, scores: np.ndarray, target: str, value: float) -> float:
    """The threshold on validation scores that meets the target:
    precision: the lowest threshold whose precision is >= value (the most recall);
    recall: the highest threshold whose recall is >= value (the most precision).
    Without a threshold that meets it, the one that comes closest."""
    candidates = np.unique(np.round(scores, 6))
    if not len(candidates) or not labels.any():
        return 0.5
    best, best_gap = float(candidates[-1]), math.inf
    for threshold in candidates:
        predicted = scores >= threshold
        true_positive = float((predicted & (labels == 1)).sum())
        precision = true_positive / max(1, int(predicted.sum()))
        recall = true_positive / max(1, int((labels == 1).sum()))
        achieved = precision if target == "precision" else recall
        gap = max(0.0, value - achieved)
        better = gap < best_gap or (gap == best_gap == 0 and (
            threshold < best if target == "precision" else threshold > best))
        if better:
            best, best_gap = float(threshold), gap
    return best


def metrics_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Threshold-free (AUROC, AP) and thresholded figures; None where a split lacks a class."""
    predicted = scores >= threshold
    positives = labels == 1
    tp = int((predicted & positives).sum())
    fp = int((predicted & ~positives).sum())
    fn = int((~predicted & positives).sum())
    both = positives.any() and (~positives).any()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "auroc": round(float(roc_auc_score(labels, scores)), 4) if both else None,
        "average_precision": (round(float(average_precision_score(labels, scores)), 4)
                              if positives.any() else None),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "accuracy": round(float((predicted == positives).mean()), 4) if len(labels) else None,
        "threshold": round(float(threshold), 4),
        "n": len(labels),
        "broken": int(positives.sum()),
    }


@dataclass
class Scored:
    """One model's scores on one split."""

    name: str  # "candidate 1.2" / "promoted 1.1.0"
    labels: np.ndarray
    scores: np.ndarray
    threshold: float


def roc_plot(curves: list[Scored], path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(5, 5))
    for curve in curves:
        if curve.labels.any() and not curve.labels.all():
            fpr, tpr, _ = roc_curve(curve.labels, curve.scores)
            auc = roc_auc_score(curve.labels, curve.scores)
            axes.plot(fpr, tpr, label=f"{curve.name} (AUROC {auc:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    axes.legend(loc="lower right", fontsize=8)
    _save(figure, path)


def pr_plot(curves: list[Scored], path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(5, 5))
    for curve in curves:
        if curve.labels.any():
            precision, recall, _ = precision_recall_curve(curve.labels, curve.scores)
            ap = average_precision_score(curve.labels, curve.scores)
            axes.plot(recall, precision, label=f"{curve.name} (AP {ap:.3f})")
    axes.set(xlabel="recall", ylabel="precision", title=title, ylim=(0, 1.02))
    axes.legend(loc="lower left", fontsize=8)
    _save(figure, path)


def confusion_plot(curves: list[Scored], path: Path, title: str) -> None:
    figure, panes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 4), squeeze=False)
    for axes, curve in zip(panes[0], curves, strict=True):
        predicted = curve.scores >= curve.threshold
        matrix = np.array([[int(((curve.labels == truth) & (predicted == guess)).sum())
                            for guess in (False, True)] for truth in (0, 1)])
        axes.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=14,
                      color="white" if count > matrix.max() / 2 else "black")
        axes.set_xticks([0, 1], ["ok", "broken"])
        axes.set_yticks([0, 1], ["ok", "broken"])
        axes.set(xlabel="predicted", ylabel="staff label",
                 title=f"{curve.name}\nthreshold {curve.threshold:.3f}")
    figure.suptitle(title)
    _save(figure, path)


def history_plot(history: list[dict[str, float]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(5, 3.5))
    epochs = [h["epoch"] for h in history]
    axes.plot(epochs, [h["loss"] for h in history], marker="o", label="training loss")
    if any(h.get("val_auroc") is not None for h in history):
        axes.plot(epochs, [h.get("val_auroc") or np.nan for h in history], marker="o",
                  label="validation AUROC")
    axes.set(xlabel="epoch", title="training")
    axes.legend()
    _save(figure, path)


def contact_sheet(photos: list[Path], labels: np.ndarray, scores: np.ndarray, path: Path,
                  count: int = 12, side: int = 160) -> list[int]:
    """The `count` photos the model gets most wrong (largest |label - score|), with label and
    score under each; returns their indices."""
    errors = np.abs(labels.astype(float) - scores)
    worst = [int(i) for i in np.argsort(-errors, kind="stable")[:count]]
    columns = min(4, max(1, len(worst)))
    rows = max(1, math.ceil(len(worst) / columns))
    sheet = Image.new("RGB", (columns * side, rows * (side + 28)), "white")
    draw = ImageDraw.Draw(sheet)
    for position, index in enumerate(worst):
        with Image.open(photos[index]) as image:
            thumb = ImageOps.pad(ImageOps.exif_transpose(image).convert("RGB"), (side, side),
                                 color=(240, 240, 240))
        x, y = (position % columns) * side, (position // columns) * (side + 28)
        sheet.paste(thumb, (x, y))
        label = "broken" if labels[index] else "ok"
        draw.text((x + 4, y + side + 2), f"staff: {label}", fill="black")
        draw.text((x + 4, y + side + 14), f"score {scores[index]:.3f}", fill="firebrick")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return worst


def _save(figure: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
