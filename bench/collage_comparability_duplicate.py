"""Issue 5's figures, each beside a baseline, in one run:

    .venv/bin/python bench/collage_comparability_duplicate.py [--quick] [--out bench/out]

collage        ROC AUC, precision and recall on held-out composites of real photos (photos the
               model never saw), with single photos full of straight edges as hard negatives;
               baseline: the seam analysis alone.
duplicate      recall under JPEG q60, 50% resize, 10% crop (and all three); false matches
               among distinct real photos (LFW faces included: different people who look
               alike); lookup time at 10^4, 10^5, 10^6 indexed photos; baseline: one global
               pHash per photo (brute-force numpy).
comparability  share of deliberately mismatched pairs (another view, 2x scale, +-1.5 EV, colour
               cast) that score worse than their matched pair; baseline: mean absolute pixel
               difference.
latency        per photo at the 1600-px working size, beside Pillow's full-size decode of a
               12-MP JPEG (the budget's yardstick).
Plots go to --out (ROC curve, duplicate distances, comparability scores).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import collage as collage_data  # noqa: E402
from datasets import comparability as pair_data  # noqa: E402
from datasets.open_photos import PHOTOS, lfw_faces  # noqa: E402
from models.collage import CollageScorer, combined_score  # noqa: E402
from models.registry import ModelRegistry  # noqa: E402
from moderation.duplicates import (  # noqa: E402
    CODES_PER_PHOTO,
    DuplicateFinder,
    MemorySource,
    PhotoHashIndex,
    StoredPhoto,
    code_distance,
    confirm,
    fingerprint,
    hamming,
)
from moderation.settings import Settings  # noqa: E402

console = Console(width=170)
SETTINGS = Settings()
DUP = SETTINGS.check("duplicate").options
COLLAGE = SETTINGS.check("collage")


def working(image: np.ndarray) -> np.ndarray:
    """The image as the checks would see it: the intake shrinks a photo longer than
    `[intake] working_max_side` to it (bilinear, as `decode_for_checks` does after JPEG
    draft scaling); shorter ones are left as they are."""
    side = SETTINGS.intake.working_max_side
    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    factor = side / max(height, width)
    return cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                      interpolation=cv2.INTER_LINEAR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS),
                        help="run only these sections")
    parser.add_argument("--collage-previous", metavar="VERSION",
                        help="also score the held-out examples with this registered collage "
                             "version (its combiner included), printed beside the promoted one")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str, str]] = []
    for name in args.only:
        rows += SECTIONS[name](args)
    load = os.getloadavg()[0]
    table = Table(title=f"Issue 5: collage, duplicate, comparability (load average {load:.1f} "
                        f"on {os.cpu_count()} cores; times are CPU time of one thread unless said)")
    for column in ("task", "figure", "ours", "baseline", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


# ---------------------------------------------------------------- collage


def collage_version():  # type: ignore[no-untyped-def]
    promoted = ModelRegistry.default(SETTINGS.data_dir).promoted(COLLAGE.options.get("model", "collage"))
    if promoted is None:
        raise SystemExit("no promoted collage model: run python -m training.train_collage first")
    return promoted


def bench_collage(args: argparse.Namespace) -> list[tuple[str, str, str, str, str]]:
    count = 120 if args.quick else 600
    version = collage_version()
    scorer = CollageScorer(version, COLLAGE.options.get("band_score", 0.9))
    model = scorer.model
    console.print(f"collage: model {version.version}"
                  f"{' with its calibrated combiner' if scorer.combiner else ''}")
    previous = None
    if args.collage_previous:
        found = ModelRegistry.default(SETTINGS.data_dir).get("collage", args.collage_previous)
        if found is None:
            raise SystemExit(f"--collage-previous: no registered collage {args.collage_previous}")
        previous = CollageScorer(found, COLLAGE.options.get("band_score", 0.9))
    previous_scores: list[float] = []
    labels, ours, model_only, plain, base, kinds, sources = [], [], [], [], [], [], []
    gutter_rule: list[float] = []
    band_score = COLLAGE.options.get("band_score", 0.9)
    for example in track(collage_data.build("test", count, args.seed), total=count,
                         description="collage: held-out composites", console=console):
        labels.append(example.label)
        image = working(example.image)
        score, probability, seams = scorer.score(image)
        if previous is not None:
            previous_scores.append(previous.score(image)[0])
        plain.append(float(model.probabilities([image], flips=False)[0]))
        height, width = image.shape[:2]
        model_only.append(probability)
        ours.append(score)
        gutter_rule.append(combined_score(probability, seams, width, height, band_score))
        base.append(max((1.0 if s.kind == "band" else s.strength for s in seams), default=0.0))
        kinds.append(example.kind)
        sources.append(example.sources)
    labels_a, ours_a, base_a = np.array(labels), np.array(ours), np.array(base)
    model_a = np.array(model_only)
    hard = np.array([k == "single_straight" for k in kinds])
    collages = labels_a == 1
    keep_hard = collages | hard
    fail_at = COLLAGE.fail_at
    _roc_plot(args.out / "collage_roc.png", labels_a,
              {"the check": ours_a, "model alone": model_a, "seams only": base_a})
    pred = ours_a >= fail_at
    base_pred = base_a >= 0.75
    rows = [
        ("collage", f"ROC AUC, all ({collages.sum()} composites, {(~collages).sum()} singles)",
         f"{auroc(labels_a, ours_a):.4f}", f"{auroc(labels_a, base_a):.4f}", ">= 0.98"),
        ("collage", "ROC AUC, the model + gutter rule (no combiner)",
         f"{auroc(labels_a, np.array(gutter_rule)):.4f}", f"{auroc(labels_a, base_a):.4f}", ""),
        ("collage", "ROC AUC, the model alone (no seams)", f"{auroc(labels_a, model_a):.4f}",
         f"{auroc(labels_a, base_a):.4f}", ""),
        ("collage", "ROC AUC, the model alone without mirror views",
         f"{auroc(labels_a, np.array(plain)):.4f}", f"{auroc(labels_a, base_a):.4f}", ""),
        ("collage", f"ROC AUC, composites vs {(~collages & ~hard).sum()} other singles",
         f"{auroc(labels_a[~hard], ours_a[~hard]):.4f}",
         f"{auroc(labels_a[~hard], base_a[~hard]):.4f}", ""),
        ("collage", f"ROC AUC, composites vs {hard.sum()} straight-edge singles",
         f"{auroc(labels_a[keep_hard], ours_a[keep_hard]):.4f}",
         f"{auroc(labels_a[keep_hard], base_a[keep_hard]):.4f}", ""),
        ("collage", f"precision at fail_at={fail_at}", f"{precision(labels_a, pred):.3f}",
         f"{precision(labels_a, base_pred):.3f} (>=0.75)", ""),
        ("collage", f"recall at fail_at={fail_at}", f"{pred[collages].mean():.3f}",
         f"{base_pred[collages].mean():.3f} (>=0.75)", ""),
        ("collage", "false alarms on straight-edge singles", f"{pred[hard].mean():.3f}",
         f"{base_pred[hard].mean():.3f}", ""),
    ]
    by_kind = {}
    for kind in sorted(set(kinds)):
        chosen = np.array([k == kind for k in kinds])
        by_kind[kind] = f"{(ours_a[chosen] >= fail_at).mean():.2f} of {chosen.sum()}"
    if previous is not None:
        old = np.array(previous_scores)
        old_pred = old >= fail_at
        rows[1:1] = [
            ("collage", f"ROC AUC, all, the previous version {args.collage_previous}",
             f"{auroc(labels_a, old):.4f}", f"{auroc(labels_a, base_a):.4f}", ">= 0.98"),
            ("collage", f"  {args.collage_previous}: composites vs other / straight-edge singles",
             f"{auroc(labels_a[~hard], old[~hard]):.4f} / "
             f"{auroc(labels_a[keep_hard], old[keep_hard]):.4f}", "", ""),
            ("collage", f"  {args.collage_previous}: precision / recall at fail_at; "
                        "straight-edge singles flagged",
             f"{precision(labels_a, old_pred):.3f} / {old_pred[collages].mean():.3f}; "
             f"{old_pred[hard].mean():.3f}", "", ""),
        ]
    console.print("collage: share flagged at fail_at, per kind:", by_kind)
    by_source = {}
    for name in sorted({s[0] for s, label in zip(sources, labels) if label == 0 and s}):
        chosen = np.array([label == 0 and bool(s) and s[0] == name for s, label in zip(sources, labels)])
        by_source[name] = f"{(ours_a[chosen] >= fail_at).mean():.2f} of {chosen.sum()}"
    console.print("collage: singles flagged at fail_at, per held-out photo:", by_source)
    return rows


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[labels == 1], scores[labels == 0]
    greater = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(greater + 0.5 * ties)


def precision(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float((labels[predicted] == 1).mean()) if predicted.any() else float("nan")


def _roc_plot(path: Path, labels: np.ndarray, series: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    for name, scores in series.items():
        order = np.argsort(-scores)
        tpr = np.cumsum(labels[order] == 1) / max(1, (labels == 1).sum())
        fpr = np.cumsum(labels[order] == 0) / max(1, (labels == 0).sum())
        axis.plot(fpr, tpr, label=f"{name} (AUC {auroc(labels, scores):.3f})")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title("collage, held-out photos")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ---------------------------------------------------------------- duplicate


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _half(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _crop(rgb: np.ndarray, rng: np.random.Generator, keep: float = 0.9) -> np.ndarray:
    """Keep 90% of width and height at a random offset: up to 10% off one side."""
    h, w = rgb.shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return rgb[y:y + ch, x:x + cw]


def _frame_phash_distance(a, b) -> int:  # type: ignore[no-untyped-def]
    return int(hamming(a.frame, b.frame))


def bench_duplicate(args: argparse.Namespace) -> list[tuple[str, str, str, str, str]]:
    rng = np.random.default_rng(args.seed)
    originals = {p.name: p.load() for p in PHOTOS}
    faces = [cv2.cvtColor(cv2.resize(face, (250, 250), interpolation=cv2.INTER_CUBIC),
                          cv2.COLOR_GRAY2RGB) for face in lfw_faces()]
    max_distance, min_similarity = DUP["max_code_distance"], DUP["min_similarity"]
    baseline_threshold = 10
    # An index of the originals among random filler codes; queries are transformed copies.
    source = MemorySource()
    prints = {}
    for key, (name, photo) in enumerate(originals.items(), start=1):
        prints[name] = fingerprint(working(photo))
        source.put(StoredPhoto(key, f"case-{name}", f"s_{key}", "set1/before", "m-1", prints[name]))
    for key, face in enumerate(faces[:50], start=1000):  # stored faces: the others stay queries
        source.put(StoredPhoto(key, f"case-face-{key}", f"s_{key}", "set1/before", "m-2",
                               fingerprint(face)))
    transforms = {
        "JPEG q60": lambda x: _jpeg(x, 60),
        "50% resize": _half,
        "10% crop": lambda x: _crop(x, rng),
        "all three": lambda x: _jpeg(_half(_crop(x, rng)), 60),
    }
    repeats = 2 if args.quick else 5
    index = _filled_index(source, 10_000, rng)
    finder = DuplicateFinder(index, max_distance, min_similarity, DUP["candidates"])
    rows = []
    textures = {p.name for p in PHOTOS if p.subject == "texture"}
    for label, transform in transforms.items():
        found, base_found, missed = [], [], []
        for name, photo in originals.items():
            for _ in range(repeats if label != "JPEG q60" and label != "50% resize" else 1):
                query = fingerprint(working(transform(photo)))
                matches = finder.matches(query)
                found.append((name, any(m.photo.case_id == f"case-{name}" for m in matches)))
                base_found.append(_frame_phash_distance(query, prints[name]) <= baseline_threshold)
                if not found[-1][1]:
                    missed.append(name)
        hits = np.array([hit for _, hit in found])
        subject = np.array([name not in textures for name, _ in found])
        rows.append(("duplicate", f"recall, {label} ({len(hits)} queries, {len(originals)} photos)",
                     f"{hits.mean():.3f}", f"{np.mean(base_found):.3f} (pHash<= {baseline_threshold})",
                     ">= 0.98"))
        rows.append(("duplicate", f"  the same without the texture-only photos ({subject.sum()})",
                     f"{hits[subject].mean():.3f}",
                     f"{np.mean(np.array(base_found)[subject]):.3f}", ""))
        if missed:
            console.print(f"duplicate: {label}: missed copies of {sorted(missed)}")
    # False matches: every pair of distinct photos, by the full rule (hash + confirmation).
    distinct = [v for k, v in originals.items() if k != "motorcycle_right"] + faces
    distinct_prints = [fingerprint(working(photo)) for photo in distinct]
    pairs = false = base_false = 0
    distances = []
    for i in track(range(len(distinct_prints)), description="duplicate: distinct pairs",
                   console=console):
        for j in range(i + 1, len(distinct_prints)):
            a, b = distinct_prints[i], distinct_prints[j]
            distance = code_distance(a, b)
            distances.append(distance)
            pairs += 1
            false += distance <= max_distance and confirm(a, b, min_similarity) is not None
            base_false += _frame_phash_distance(a, b) <= baseline_threshold
    rows.append(("duplicate", f"false matches among {len(distinct)} distinct photos "
                              f"({pairs} pairs)", f"{false / pairs:.4%}",
                 f"{base_false / pairs:.4%}", "<= 0.1%"))
    stereo = confirm(prints["motorcycle_left"], prints["motorcycle_right"], min_similarity)
    console.print("duplicate: the Middlebury stereo pair (two shots, slightly moved camera) is "
                  + ("flagged" if stereo else "not flagged")
                  + f" (hash distance {code_distance(prints['motorcycle_left'], prints['motorcycle_right'])})")
    _histogram(args.out / "duplicate_distances.png", distances)
    # Lookup time at 10^4, 10^5, 10^6 stored photos.
    names = list(originals)[:10]
    queries = [fingerprint(transforms["all three"](originals[name])) for name in names]
    for size in (10_000, 100_000, 1_000_000):
        index = _filled_index(source, size, rng)
        finder = DuplicateFinder(index, max_distance, min_similarity, DUP["candidates"])
        frames = np.array([int(p.frame) for p in prints.values()]
                          + list(rng.integers(0, 2**63, size - len(prints), dtype=np.uint64)),
                          dtype=np.uint64)
        times, cpu_times, base_times, hits = [], [], [], []
        for name, query in list(zip(names, queries)) * 3:
            started, cpu_started = time.perf_counter(), time.process_time()
            matches = finder.matches(query)
            times.append(time.perf_counter() - started)
            hits.append(any(m.photo.case_id == f"case-{name}" for m in matches))
            cpu_times.append(time.process_time() - cpu_started)
            started = time.process_time()
            np.flatnonzero(np.bitwise_count(frames ^ query.frame) <= baseline_threshold)
            base_times.append(time.process_time() - started)
        rows.append(("duplicate", f"lookup at {size:,} photos: CPU median / p95 (wall median)",
                     f"{1000 * np.median(cpu_times):.1f} / {1000 * np.percentile(cpu_times, 95):.1f} ms"
                     f" ({1000 * np.median(times):.0f} ms)",
                     f"{1000 * np.median(base_times):.1f} ms (numpy, 1 hash, CPU)",
                     "<= 20 ms" if size == 1_000_000 else ""))
        rows.append(("duplicate", f"  those lookups finding their photo (all three; {len(hits)})",
                     f"{np.mean(hits):.3f}", "", ""))
    return rows


def _filled_index(source: MemorySource, size: int, rng: np.random.Generator) -> PhotoHashIndex:
    """The stored photos plus random codes up to `size` (random codes only cost search time).

    The index searches by brightness bins, so the filler's brightness (each code's mean grey
    level) is drawn from the real photos' and faces' own, plus noise: as bunched as theirs."""
    index = PhotoHashIndex(source)
    index.sync()
    filler = size - len(index)
    if filler > 0:
        drawn = rng.choice(_real_means(), size=(filler, CODES_PER_PHOTO)) + rng.normal(
            0, 8, (filler, CODES_PER_PHOTO))
        index.add(np.arange(10**7, 10**7 + filler),
                  rng.integers(0, 2**63, size=(filler, CODES_PER_PHOTO), dtype=np.uint64),
                  np.clip(drawn, 0, 255).astype(np.float32))
    return index


@functools.cache
def _real_means() -> np.ndarray:
    """The mean grey level of every code of the open photos and the LFW faces."""
    faces = [cv2.resize(face, (250, 250), interpolation=cv2.INTER_CUBIC) for face in lfw_faces()]
    prints = [fingerprint(p.load()) for p in PHOTOS] + [fingerprint(face) for face in faces]
    return np.concatenate([p.means for p in prints])


def _histogram(path: Path, distances: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.hist(distances, bins=range(0, 40), color="grey")
    axis.axvline(DUP["max_code_distance"] + 0.5, color="red", label="candidate threshold")
    axis.set_xlabel("smallest Hamming distance (frame vs windows), distinct photos")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ---------------------------------------------------------------- comparability


def comparability_check():  # type: ignore[no-untyped-def]
    from models.checks.comparability import ComparabilityCheck
    from moderation.checks.base import CheckContext
    from moderation.taxonomy import default_taxonomy

    context = CheckContext(settings=SETTINGS, taxonomy=default_taxonomy())
    return ComparabilityCheck(SETTINGS.check("comparability"), context)


def _photo(photo_id: str, image: np.ndarray):  # type: ignore[no-untyped-def]
    from moderation.image_formats import ImageFormat
    from moderation.intake import PreparedPhoto

    return PreparedPhoto(id=photo_id, part=photo_id, view=None, data=b"", sha256="",
                         format=ImageFormat.JPEG, width=image.shape[1], height=image.shape[0],
                         image=working(image))


def bench_comparability(args: argparse.Namespace) -> list[tuple[str, str, str, str, str]]:
    check = comparability_check()
    count = 12 if args.quick else 40
    wins = {name: [] for name in pair_data.MISMATCHES}
    base_wins = {name: [] for name in pair_data.MISMATCHES}
    matched_scores, mismatched_scores = [], []
    for case in track(pair_data.build(count, args.seed), total=count,
                      description="comparability: pairs", console=console):
        before = _photo("set1/before", case.before)
        matched = check._observe(before, _photo("set1/after", case.matched_after)).score
        matched_base = float(np.abs(case.before.astype(np.int16) - case.matched_after).mean())
        matched_scores.append(matched)
        for name, after in case.mismatched_after.items():
            score = check._observe(_photo("set1/before", case.before),
                                   _photo("set1/after", after)).score
            mismatched_scores.append(score)
            wins[name].append(score > matched)
            base_wins[name].append(float(np.abs(case.before.astype(np.int16) - after).mean())
                                   > matched_base)
    rows = []
    for name in pair_data.MISMATCHES:
        rows.append(("comparability", f"mismatch ranked worse: {name} ({len(wins[name])})",
                     f"{np.mean(wins[name]):.3f}", f"{np.mean(base_wins[name]):.3f}", ""))
    every = [w for values in wins.values() for w in values]
    every_base = [w for values in base_wins.values() for w in values]
    rows.append(("comparability", f"mismatch ranked worse: all ({len(every)})",
                 f"{np.mean(every):.3f}", f"{np.mean(every_base):.3f} (pixel diff)", ">= 0.95"))
    fail_at = SETTINGS.check("comparability").fail_at
    rows.append(("comparability", f"matched pairs failing (score >= {fail_at})",
                 f"{np.mean(np.array(matched_scores) >= fail_at):.3f}", "", ""))
    rows.append(("comparability", f"mismatched pairs failing (score >= {fail_at})",
                 f"{np.mean(np.array(mismatched_scores) >= fail_at):.3f}", "", ""))
    return rows


# ---------------------------------------------------------------- latency


def bench_latency(args: argparse.Namespace) -> list[tuple[str, str, str, str, str]]:
    """Per photo at the working size (1600 px long side) of a 12-MP photo."""
    rng = np.random.default_rng(args.seed)
    source_photo = PHOTOS[12].load()  # grace_hopper: a portrait
    big = cv2.resize(source_photo, (3000, 4000), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big.astype(np.int16) + rng.integers(-6, 7, big.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, "JPEG", quality=92)
    data = buffer.getvalue()
    working = cv2.resize(big, (1200, 1600), interpolation=cv2.INTER_AREA)
    other = cv2.resize(PHOTOS[13].load(), (1600, 1067), interpolation=cv2.INTER_AREA)
    scorer = CollageScorer(collage_version(), COLLAGE.options.get("band_score", 0.9))
    check = comparability_check()
    source = MemorySource()
    index = _filled_index(source, 1_000_000, rng)
    finder = DuplicateFinder(index, DUP["max_code_distance"], DUP["min_similarity"], DUP["candidates"])
    repeats = 3 if args.quick else 7

    def timed(function) -> float:  # type: ignore[no-untyped-def]
        """Median CPU time: on a shared machine the wall clock measures the neighbours."""
        function()
        times = []
        for _ in range(repeats):
            started = time.process_time()
            function()
            times.append(time.process_time() - started)
        return 1000 * float(np.median(times))

    decode = timed(lambda: Image.open(io.BytesIO(data)).load())
    collage_ms = timed(lambda: scorer.score(working))
    duplicate_ms = timed(lambda: finder.matches(fingerprint(working)))
    comparability_ms = timed(lambda: check._observe(_photo("set1/before", working),
                                                    _photo("set1/after", other))) / 2
    decode_text = f"{decode:.0f} ms (Pillow decode, 12 MP)"
    previous_rows = []
    if args.collage_previous:
        found = ModelRegistry.default(SETTINGS.data_dir).get("collage", args.collage_previous)
        if found is not None:
            previous = CollageScorer(found, COLLAGE.options.get("band_score", 0.9))
            previous_ms = timed(lambda: previous.score(working))
            previous_rows.append(("latency", f"  collage per photo, the previous version "
                                             f"{args.collage_previous}", f"{previous_ms:.0f} ms",
                                  decode_text, ""))
    return [
        ("latency", "collage per photo (model + seams)", f"{collage_ms:.0f} ms", decode_text, ""),
        *previous_rows,
        ("latency", "duplicate per photo (fingerprint + lookup at 10^6)", f"{duplicate_ms:.0f} ms",
         decode_text, ""),
        ("latency", "comparability per photo (half a pair, faces included)",
         f"{comparability_ms:.0f} ms", decode_text, ""),
        ("latency", "the three together per photo (CPU)",
         f"{collage_ms + duplicate_ms + comparability_ms:.0f} ms", decode_text,
         "within ~150 ms for all checks"),
    ]


SECTIONS = {"collage": bench_collage, "duplicate": bench_duplicate,
            "comparability": bench_comparability, "latency": bench_latency}

if __name__ == "__main__":
    main()
