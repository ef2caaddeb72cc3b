"""One training run: train on a dataset version, calibrate on its validation split, measure
the candidate and the served version on its test split, write the report, and (on request)
register and promote the candidate when the gate allows it.

A run folder:
```
<out>/model/        the candidate's weight files and meta.json (hashes, metrics, thresholds)
<out>/report/       metrics.json, metrics.md, roc.png, pr.png, confusion.png,
                    worst_errors.png, training.png
<out>/run.json      what the run did and decided
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datasets.staff_dataset import LabelledItem, StaffDataset
from models.registry import ModelRegistry, ModelVersion, sha256_of
from training import evaluation
from training.config import RunConfig
from training.engine import Distributed, fit, resolve_device, seed_everything, steps_per_epoch_of
from training.learners import Learner
from training.promotion import Verdict, comparison_table, judge

RUN_FILE = "run.json"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def weights_file(init: str) -> Path:
    """`init` as a weights file: as given, or a relative path inside the project (the shipped
    configs name shipped weights, e.g. models/weights/watermark/1.2/watermark.pt), so that a
    run finds them from any working directory, as it finds its default config."""
    path = Path(init)
    if not path.is_file() and not path.is_absolute() and (PROJECT_ROOT / path).is_file():
        path = PROJECT_ROOT / path
    if not path.is_file():
        raise RunError(f"init = \"{init}\": no such weights file")
    return path



class RunError(ValueError):
    """A run that cannot go ahead (no data in a split, a missing init) or a run folder that
    is not one."""


@dataclass
class RunOptions:
    seed: int
    device: str
    version: str
    command: str
    config_path: str


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


class TrainingRun:
    def __init__(self, learner: Learner, config: RunConfig, dataset: StaffDataset,
                 registry: ModelRegistry, out: Path, options: RunOptions,
                 console: Console | None = None) -> None:
        self.learner = learner
        self.config = config
        self.dataset = dataset
        self.registry = registry
        self.out = out
        self.options = options
        self.console = console or Console(stderr=True)
        self.splits = {name: learner.items(dataset, name) for name in ("train", "val", "test")}
        for name, items in self.splits.items():
            if not items:
                raise RunError(f"dataset {dataset.version} has no {learner.check} labels in its "
                               f"{name} split; export more decided cases")

    # ------------------------------------------------------------ train

    def execute(self) -> dict[str, Any] | None:
        """Train; on the main process, evaluate and write the report. Returns run.json's data
        (None on the other processes of a distributed run)."""
        device = resolve_device(self.options.device)
        distributed = Distributed.from_environment(device)
        seed_everything(self.options.seed)
        torch.set_num_threads(self.config.train.threads)
        network = self.learner.network(self._init())
        with progress_bar(self.console) as progress:
            inputs = self.learner.inputs(self.dataset, self.splits["train"])
            val_inputs = self.learner.inputs(self.dataset, self.splits["val"])
            settings = self.config.train
            steps = settings.epochs * steps_per_epoch_of(len(inputs["label"]),
                                                         settings.batch_size, distributed)
            task = progress.add_task(f"training {self.learner.model_name} on {device}",
                                     total=steps, visible=distributed.is_main)
            history = fit(network, self.learner.loss, inputs, settings, self.options.seed,
                          device, distributed,
                          on_epoch=lambda epoch, loss: self._validate(network, val_inputs,
                                                                      distributed),
                          on_step=lambda: progress.advance(task))
        distributed.close()
        if not distributed.is_main:
            return None
        model_dir = self.out / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        files = self.learner.export(network.cpu(), model_dir)
        candidate = self._candidate(model_dir, files)
        return self.evaluate(candidate, history)

    def _validate(self, network: torch.nn.Module, inputs: dict[str, torch.Tensor],
                  distributed: Distributed) -> dict[str, float | None]:
        """The raw network's validation AUROC after an epoch, for the training curve."""
        if not distributed.is_main:
            return {}
        labels = inputs["label"].numpy()
        scores = self.learner.probabilities(network, inputs)
        return {"val_auroc": evaluation.metrics_at(labels, scores, 0.5)["auroc"]}

    def _init(self) -> ModelVersion | Path | None:
        init = self.config.train.init
        if init == "scratch":
            return None
        if init == "promoted":
            served = self.registry.promoted(self.learner.model_name)
            if served is None:
                raise RunError(f"init = \"promoted\", but no {self.learner.model_name} version "
                               "is promoted; use init = \"scratch\"")
            return served
        return weights_file(init)

    def _candidate(self, directory: Path, files: dict[str, Path]) -> ModelVersion:
        return ModelVersion(
            name=self.learner.model_name, version=self.options.version, directory=directory,
            files={name: sha256_of(path) for name, path in files.items()},
            data_version=self.dataset.version, command=self.options.command,
            config={**self.config.model_dump(mode="json"), **self.learner.served_config()},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"))

    # ------------------------------------------------------------ evaluate and compare

    def evaluate(self, candidate: ModelVersion, history: list[dict[str, Any]]) -> dict[str, Any]:
        served = self.registry.promoted(self.learner.model_name)
        models = {"candidate": candidate, **({"promoted": served} if served else {})}
        scored = self._score(models)
        rule = self.config.calibration
        results: dict[str, dict[str, Any]] = {}
        curves = []
        for role, model in models.items():
            val_labels, val_scores = scored[role]["val"]
            threshold = evaluation.threshold_for(val_labels, val_scores, rule.target, rule.value)
            test_labels, test_scores = scored[role]["test"]
            results[role] = {
                "model": {"name": model.name, "version": model.version},
                "val": evaluation.metrics_at(val_labels, val_scores, threshold),
                "test": evaluation.metrics_at(test_labels, test_scores, threshold)}
            curves.append(evaluation.Scored(f"{role} {model.version}", test_labels, test_scores,
                                            threshold))
        thresholds = {"score": results["candidate"]["val"]["threshold"]}
        verdict = judge(results["candidate"]["test"], results.get("promoted", {}).get("test"),
                        self.config.promotion)
        self._finish_candidate(candidate, results["candidate"], thresholds)
        data = {"learner": self.learner.name, "model": candidate.name,
                "version": candidate.version, "dataset": str(self.dataset.directory),
                "data_version": self.dataset.version, "seed": self.options.seed,
                "device": self.options.device, "command": self.options.command,
                "config_path": self.options.config_path,
                "config": self.config.model_dump(mode="json"), "thresholds": thresholds,
                "calibration": rule.model_dump(), "results": results, "history": history,
                "gate": {"metric": self.config.promotion.metric,
                         "margin": self.config.promotion.margin,
                         "promote": verdict.promote, "reason": verdict.reason},
                "worst_errors": []}
        self._report(data, curves, scored["candidate"]["test"])
        (self.out / RUN_FILE).write_text(json.dumps(data, indent=2) + "\n")
        return data

    def _score(self, models: dict[str, ModelVersion]) -> dict[str, dict[str, tuple]]:
        splits = ("val", "test")
        total = sum(len(self.splits[s]) for s in splits) * len(models)
        scored: dict[str, dict[str, tuple]] = {}
        with progress_bar(self.console) as progress:
            task = progress.add_task("scoring validation and test photos", total=total)
            for role, model in models.items():
                scored[role] = {}
                for split in splits:
                    items = self.splits[split]
                    scores = self.learner.scores_of(model, self.dataset, items,
                                                    lambda: progress.advance(task))
                    scored[role][split] = (_labels(items), scores)
        return scored

    def _finish_candidate(self, candidate: ModelVersion, results: dict[str, Any],
                          thresholds: dict[str, float]) -> None:
        metrics = {f"{split}_{key}": value for split in ("val", "test")
                   for key, value in results[split].items() if value is not None}
        finished = ModelVersion(**{**candidate.__dict__, "metrics": metrics,
                                   "thresholds": thresholds})
        finished.write_meta()

    # ------------------------------------------------------------ report

    def _report(self, data: dict[str, Any], curves: list[evaluation.Scored],
                test: tuple[np.ndarray, np.ndarray]) -> None:
        report = self.out / "report"
        title = f"{data['model']} on {data['data_version']} (test split)"
        evaluation.roc_plot(curves, report / "roc.png", title)
        evaluation.pr_plot(curves, report / "pr.png", title)
        evaluation.confusion_plot(curves, report / "confusion.png", title)
        evaluation.history_plot(data["history"], report / "training.png")
        items = self.splits["test"]
        worst = evaluation.contact_sheet([self.dataset.path(i) for i in items], test[0], test[1],
                                         report / "worst_errors.png")
        data["worst_errors"] = [{"photo": items[i].photo, "label": int(test[0][i]),
                                 "score": round(float(test[1][i]), 4)} for i in worst]
        (report / "metrics.json").write_text(json.dumps(data["results"], indent=2) + "\n")
        (report / "metrics.md").write_text(report_markdown(data))


def _labels(items: list[LabelledItem]) -> np.ndarray:
    return np.array([item.label for item in items], dtype=np.int64)


def report_markdown(data: dict[str, Any]) -> str:
    results = data["results"]
    promoted = results.get("promoted")
    table = comparison_table(results["candidate"]["test"], promoted["test"] if promoted else None,
                             f"candidate {data['version']}",
                             f"promoted {promoted['model']['version']}" if promoted
                             else "promoted (none)", data["gate"]["metric"])
    gate = data["gate"]
    return "\n".join([
        f"# {data['model']} {data['version']}: training report", "",
        (f"- dataset: `{data['data_version']}`; learner `{data['learner']}`; seed "
         f"{data['seed']}; device {data['device']}"),
        f"- command: `{data['command']}`",
        (f"- threshold {data['thresholds']['score']} chosen on the validation split for "
         f"{data['calibration']['target']} >= {data['calibration']['value']}"),
        (f"- gate: {gate['metric']} within {gate['margin']} of the promoted version -> "
         f"**{'promote' if gate['promote'] else 'keep the promoted version'}** "
         f"({gate['reason']})"),
        "", table, "",
        ("Plots: roc.png, pr.png, confusion.png (both models, test split), worst_errors.png "
         "(the candidate's largest errors), training.png."), ""])


def print_comparison(console: Console, data: dict[str, Any]) -> None:
    results = data["results"]
    promoted = results.get("promoted")
    table = Table(title=f"{data['model']}: test split of {data['data_version']}")
    table.add_column("metric")
    table.add_column(f"candidate {data['version']}", justify="right")
    table.add_column(f"promoted {promoted['model']['version']}" if promoted else "promoted",
                     justify="right")
    for name in ("auroc", "average_precision", "precision", "recall", "f1", "accuracy",
                 "threshold", "n", "broken"):
        new = results["candidate"]["test"].get(name)
        old = promoted["test"].get(name) if promoted else None
        marker = " *" if name == data["gate"]["metric"] else ""
        table.add_row(name + marker, _cell(new), _cell(old))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def load_run(directory: Path) -> dict[str, Any]:
    path = directory / RUN_FILE
    if not path.is_file():
        raise RunError(f"{directory} is not a finished run (no {RUN_FILE})")
    return json.loads(path.read_text())


def promote_run(run: dict[str, Any], directory: Path, registry: ModelRegistry,
                verdict: Verdict) -> ModelVersion:
    """Register the run's candidate (if not registered yet) and serve it."""
    candidate = ModelVersion.read(directory / "model")
    candidate.verify()
    registered = registry.get(candidate.name, candidate.version)
    if registered is None:
        registered = registry.add(
            candidate.name, candidate.version,
            {name: candidate.path(name) for name in candidate.files},
            metrics=candidate.metrics, thresholds=candidate.thresholds,
            data_version=candidate.data_version, command=candidate.command,
            config=candidate.config, card=model_card(run))
    registry.promote(candidate.name, candidate.version, root=registered.directory.parent.parent,
                     note=verdict.reason)
    return registered


def model_card(run: dict[str, Any]) -> str:
    return (report_markdown(run).replace(": training report", "", 1)
            + "\nTrained by the training CLI on staff labels (`datasets/export.py`); the run "
              "folder holds the plots.\n")
