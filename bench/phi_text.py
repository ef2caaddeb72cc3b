"""PHI in text: this project's detector against Presidio's default AnalyzerEngine.

    .venv/bin/python bench/phi_text.py                 # clinical test split + Presidio synth set
    .venv/bin/python bench/phi_text.py --split dev     # the split rules may be tuned on

Prints, in one run and side by side, span-level precision, recall and F2 per HIPAA Safe Harbor
identifier and overall, for (a) `nlp.detector` as configured in settings and (b) Presidio's
default `AnalyzerEngine` on the same spaCy model (its email recognizer reading the public
suffix list offline, nothing else changed), on (i) the clinical split of
datasets/phi_notes and (ii) the public Presidio synthetic set; then the latency per
300-word note (median, p95) of both, and the issue's targets next to the figures.
Writes a PNG of recall and precision per identifier beside the table (--plot).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from presidio_analyzer import AnalyzerEngine  # noqa: E402
from presidio_analyzer.nlp_engine import SpacyNlpEngine  # noqa: E402
from presidio_analyzer.predefined_recognizers import EmailRecognizer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from datasets import phi_notes, presidio_synth  # noqa: E402
from moderation.phi import load_detector  # noqa: E402
from moderation.settings import Settings  # noqa: E402
from nlp.detector import OfflineEmailRecognizer  # noqa: E402
from nlp.engine import quiet_presidio_logs  # noqa: E402
from nlp.entities import AUTHOR, SAFE_HARBOR, safe_harbor_of  # noqa: E402
from nlp.evaluation import Example, Mark, Report, percentiles, score  # noqa: E402

TARGET_RECALL, TARGET_PRECISION, TARGET_MEDIAN_MS = 0.97, 0.90, 30.0
NOTE_WORDS = 300
console = Console(width=140)


# ------------------------------------------------------------------ the two detectors

class Ours:
    label = "this detector"

    def __init__(self, settings: Settings, author_names: list[str], practice_names: list[str]):
        options = dict(settings.phi.options)
        options["author_names"] = author_names
        options["practice_names"] = practice_names
        self.detector = load_detector(settings.phi.detector, **options)
        self.spacy_model = options.get("spacy_model")

    def marks(self, text: str, context: str | None) -> tuple[list[Mark], list[Mark]]:
        """(patient PHI, author) spans."""
        spans = self.detector.analyze(text, context=context)
        patient = [Mark(s.start, s.end, SAFE_HARBOR[s.entity_type]) for s in spans
                   if s.category != AUTHOR]
        author = [Mark(s.start, s.end, s.entity_type) for s in spans if s.category == AUTHOR]
        return patient, author


class PresidioDefault:
    label = "Presidio default"

    def __init__(self, spacy_model: str) -> None:
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model}])
        self.analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
        # Its one network access: validating email domains against a downloaded suffix list.
        self.analyzer.registry.remove_recognizer("EmailRecognizer")
        self.analyzer.registry.add_recognizer(OfflineEmailRecognizer())
        assert EmailRecognizer.PATTERNS  # same patterns, offline validation
        self.ignored_types: set[str] = set()

    def marks(self, text: str, context: str | None) -> tuple[list[Mark], list[Mark]]:
        words = [w for w in (context or "").replace("_", " ").split() if w] or None
        marks = []
        for result in self.analyzer.analyze(text=text, language="en", context=words):
            identifier = safe_harbor_of(result.entity_type)
            if identifier is None:
                self.ignored_types.add(result.entity_type)  # ORGANIZATION, NRP: not PHI claims
                continue
            marks.append(Mark(result.start, result.end, identifier))
        return marks, []


# ------------------------------------------------------------------ evaluation runs

def clinical_examples(detector, records: list[dict]) -> tuple[list[Example], tuple[int, int]]:
    examples, author_found, author_total = [], 0, 0
    for record in track(records, description=f"clinical  {detector.label:>16}", console=console):
        patient, author = detector.marks(record["text"], record["context"])
        gold = [Mark(s["start"], s["end"], SAFE_HARBOR[s["entity_type"]])
                for s in record["spans"] if s["category"] != AUTHOR]
        for span in (s for s in record["spans"] if s["category"] == AUTHOR):
            author_total += 1
            author_found += any(a.start < span["end"] and span["start"] < a.end for a in author)
        examples.append(Example(gold=gold, predicted=patient))
    return examples, (author_found, author_total)


def synth_examples(detector, records: list[dict]) -> list[Example]:
    examples = []
    for record in track(records, description=f"synthetic {detector.label:>16}", console=console):
        patient, _ = detector.marks(record["text"], None)
        examples.append(Example(gold=[Mark(*g) for g in record["gold"]], predicted=patient,
                                ignored=[Mark(*i) for i in record["ignored"]]))
    return examples


def latency_notes(records: list[dict], count: int) -> list[str]:
    """`count` notes of exactly 300 words, cut from the split's case descriptions in turn."""
    words = [w for r in records if r["context"] == "description" for w in r["text"].split()]
    notes, position = [], 0
    for _ in range(count):
        if position + NOTE_WORDS > len(words):
            position = (position + 37) % max(1, len(words) - NOTE_WORDS)
        notes.append(" ".join(words[position:position + NOTE_WORDS]))
        position += NOTE_WORDS
    return notes


def time_per_note(detector, notes: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) per analysis, after one warm-up call."""
    detector.marks(notes[0], "description")
    wall, cpu = [], []
    for _ in range(repeats):
        for note in notes:
            started, started_cpu = time.perf_counter(), time.process_time()
            detector.marks(note, "description")
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


# ------------------------------------------------------------------ printing

def fmt(value: float) -> str:
    return f"{value:.3f}"


def side_by_side(title: str, ours: Report, base: Report) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Safe Harbor identifier")
    table.add_column("gold", justify="right")
    for who in ("ours", "Presidio"):
        for metric in ("P", "R", "F2"):
            table.add_column(f"{who} {metric}", justify="right")
    labels = sorted(set(ours.by_label) | set(base.by_label))
    for label in labels:
        a, b = ours.by_label.get(label), base.by_label.get(label)
        support = (a or b).support
        cells = []
        for counts in (a, b):
            cells += ([fmt(counts.precision) if counts.predicted else "-", fmt(counts.recall),
                       fmt(counts.f_beta())] if counts else ["-", "-", "-"])
        table.add_row(label, str(support), *cells)
    table.add_section()
    for name, a, b in (("overall (identifier must match)", ours.typed, base.typed),
                       ("overall (any PHI at the place)", ours.untyped, base.untyped)):
        table.add_row(name, str(a.support), fmt(a.precision), fmt(a.recall), fmt(a.f_beta()),
                      fmt(b.precision), fmt(b.recall), fmt(b.f_beta()), style="bold")
    return table


def plot(path: Path, reports: dict[str, tuple[Report, Report]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(reports), 1, figsize=(14, 4.2 * len(reports)), squeeze=False)
    for axis, (title, (ours, base)) in zip(axes[:, 0], reports.items()):
        labels = sorted(label for label in set(ours.by_label) | set(base.by_label)
                        if (ours.by_label.get(label) or base.by_label.get(label)).support)
        x = range(len(labels))
        for offset, (who, report, color) in enumerate((("ours", ours, "tab:blue"),
                                                       ("Presidio default", base, "tab:orange"))):
            recall = [report.by_label[l].recall if l in report.by_label else 0 for l in labels]
            precision = [report.by_label[l].precision if l in report.by_label else 0 for l in labels]
            axis.bar([i + offset * 0.4 - 0.2 for i in x], recall, width=0.38, color=color,
                     label=f"{who} recall")
            axis.scatter([i + offset * 0.4 - 0.2 for i in x], precision, color="black",
                         marker="_" if offset else "x", zorder=3,
                         label=f"{who} precision")
        axis.set_xticks(list(x), labels, rotation=30, ha="right")
        axis.set_ylim(0, 1.05)
        axis.axhline(TARGET_RECALL, color="grey", linestyle=":", linewidth=1)
        axis.set_title(title)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def verdict(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]NOT met[/red]"


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test", choices=phi_notes.SPLITS)
    parser.add_argument("--synth", type=Path, default=None,
                        help="presidio_synth_dataset_v2.json (default: ../shared/benchmarks/phi)")
    parser.add_argument("--synth-limit", type=int, default=0, help="first N records (0: all)")
    parser.add_argument("--latency-notes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", default="out/bench/phi_text.png",
                        help="PNG of recall and precision per identifier ('' for none)")
    args = parser.parse_args(argv)
    quiet_presidio_logs()

    settings = Settings()
    info = phi_notes.manifest()
    records = phi_notes.load(args.split)
    places = settings.phi.options.get("allow_list", {}).get("places_above_state", [])
    synth = presidio_synth.load(args.synth, places_above_state=places)
    if args.synth_limit:
        synth = synth[:args.synth_limit]

    console.print(f"machine: {os.cpu_count()} cores, load average "
                  f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    started = time.perf_counter()
    ours = Ours(settings, info["author_names"], info["practice_names"])
    console.print(f"loaded this detector ({ours.spacy_model}) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    base = PresidioDefault(ours.spacy_model)
    console.print(f"loaded Presidio default ({ours.spacy_model}) in {time.perf_counter() - started:.1f} s")

    ours_clinical, authors = clinical_examples(ours, records)
    base_clinical, _ = clinical_examples(base, records)
    ours_synth, base_synth = synth_examples(ours, synth), synth_examples(base, synth)
    reports = {
        f"clinical {args.split} split ({len(records)} records, data v{info['version']})":
            (score(ours_clinical), score(base_clinical)),
        f"Presidio synthetic set ({len(synth)} sentences)":
            (score(ours_synth), score(base_synth)),
    }
    for title, (a, b) in reports.items():
        console.print(side_by_side(title, a, b))
        console.print(f"  records without patient PHI flagged: ours {a.clean_flagged}/{a.clean_examples}, "
                      f"Presidio {b.clean_flagged}/{b.clean_examples}")
        if a.ignored_flagged:
            flagged = ", ".join(f"{k} ours {a.ignored_flagged[k][0]}/{v[1]} Presidio "
                                f"{b.ignored_flagged[k][0]}/{v[1]}" for k, v in b.ignored_flagged.items())
            console.print(f"  not PHI, reported apart (spans flagged): {flagged}")
    console.print(f"  author's own name/practice found as 'author' (clinical): "
                  f"{authors[0]}/{authors[1]}; Presidio types not counted as PHI claims: "
                  f"{', '.join(sorted(base.ignored_types)) or 'none'}")

    notes = latency_notes(records, args.latency_notes)
    timing = Table(title=f"latency per {NOTE_WORDS}-word note ({len(notes)} notes x {args.repeats})",
                   title_justify="left")
    for column in ("detector", "median ms", "p95 ms", "median CPU ms", "p95 CPU ms"):
        timing.add_column(column, justify="right")
    medians = {}
    for detector in (ours, base):
        wall, cpu = time_per_note(detector, notes, args.repeats)
        medians[detector.label] = statistics.median(wall)
        timing.add_row(detector.label, *(f"{v:.1f}" for v in (
            statistics.median(wall), percentiles(wall, 0.95)[0],
            statistics.median(cpu), percentiles(cpu, 0.95)[0])))
    nlp = ours.detector.analyzer.nlp_engine.nlp["en"]
    nlp(notes[0])
    floor_wall, floor_cpu = [], []
    for _ in range(args.repeats):
        for note in notes:
            started, started_cpu = time.perf_counter(), time.process_time()
            nlp(note)
            floor_wall.append((time.perf_counter() - started) * 1000)
            floor_cpu.append((time.process_time() - started_cpu) * 1000)
    timing.add_row(f"(spaCy {', '.join(nlp.pipe_names)} alone)", *(f"{v:.1f}" for v in (
        statistics.median(floor_wall), percentiles(floor_wall, 0.95)[0],
        statistics.median(floor_cpu), percentiles(floor_cpu, 0.95)[0])), style="dim")
    console.print(timing)

    (clinical_ours, clinical_base), (synth_ours, synth_base) = reports.values()
    console.print("[bold]targets[/bold] (clinical split, patient PHI, identifier must match):")
    checks = [
        (f"recall {fmt(clinical_ours.typed.recall)} >= {TARGET_RECALL}",
         clinical_ours.typed.recall >= TARGET_RECALL),
        (f"precision {fmt(clinical_ours.typed.precision)} >= {TARGET_PRECISION}",
         clinical_ours.typed.precision >= TARGET_PRECISION),
        (f"recall above Presidio's default on the clinical split: {fmt(clinical_ours.typed.recall)}"
         f" vs {fmt(clinical_base.typed.recall)}", clinical_ours.typed.recall > clinical_base.typed.recall),
        (f"recall above Presidio's default on the synthetic set: {fmt(synth_ours.typed.recall)}"
         f" vs {fmt(synth_base.typed.recall)}", synth_ours.typed.recall > synth_base.typed.recall),
        (f"median latency per {NOTE_WORDS}-word note {medians[ours.label]:.1f} ms <= {TARGET_MEDIAN_MS}",
         medians[ours.label] <= TARGET_MEDIAN_MS),
    ]
    for text, ok in checks:
        console.print(f"  {verdict(ok)}  {text}")
    console.print(f"  (any PHI at the place, for comparison: recall clinical "
                  f"{fmt(clinical_ours.untyped.recall)} vs {fmt(clinical_base.untyped.recall)}, "
                  f"synthetic {fmt(synth_ours.untyped.recall)} vs {fmt(synth_base.untyped.recall)}; "
                  f"precision clinical {fmt(clinical_ours.untyped.precision)} vs "
                  f"{fmt(clinical_base.untyped.precision)})")
    if args.plot:
        plot(Path(args.plot), reports)
        console.print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
