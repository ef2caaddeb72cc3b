"""The data team's training CLI: `python -m training` (or `moderation-train`).

    python -m training train collage --data data/exports/ds-… --config training/configs/collage.toml \\
        --seed 0 --device cpu --out runs/collage-1
    python -m training promote runs/collage-1
    python -m training history collage

`train` trains, calibrates the threshold on the validation split, measures the candidate and
the promoted version on the test split and writes the report; with `--promote` it then
promotes the candidate when the config's gate allows it. `promote` does the same for a
finished run, measuring the promoted version again if it changed since. A refused promotion
prints both models' figures and exits with status 1; the served version stays.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from datasets.staff_dataset import DatasetError, StaffDataset
from models.registry import SHIPPED_ROOT, ModelRegistry
from training.config import ConfigError, load_config
from training.engine import DeviceError
from training.learners import LEARNERS, learner_for
from training.promotion import Verdict, judge
from training.run import (
    RunError,
    RunOptions,
    TrainingRun,
    load_run,
    print_comparison,
    promote_run,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Train, evaluate and promote the learned models from staff labels.")
console = Console(stderr=True)
CONFIG_DIR = Path(__file__).with_name("configs")


def registry_for(root: Path | None) -> ModelRegistry:
    """The writable root (default DATA_DIR/models) over the shipped weights."""
    if root is None:
        from moderation.settings import get_settings

        root = get_settings().data_dir / "models"
    return ModelRegistry([root, SHIPPED_ROOT])


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def train(
    learner: Annotated[str, typer.Argument(help=f"one of: {', '.join(LEARNERS)}")],
    data: Annotated[Path, typer.Option(help="a dataset folder written by datasets.export")],
    out: Annotated[Path, typer.Option(help="run folder: weights, report, run.json")],
    config: Annotated[Path | None, typer.Option(
        help="TOML run config; default training/configs/<learner>.toml")] = None,
    seed: Annotated[int, typer.Option(help="seeds weights init, batches and augmentation")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    version: Annotated[str | None, typer.Option(help="default: the UTC date and time")] = None,
    registry_root: Annotated[Path | None, typer.Option(
        help="writable registry root; default DATA_DIR/models")] = None,
    promote: Annotated[bool, typer.Option(help="promote when the gate allows")] = False,
) -> None:
    """Train a model on a dataset version, evaluate it against the promoted one, report."""
    try:
        run_config = load_config(config or CONFIG_DIR / f"{learner}.toml")
        if run_config.learner != learner:
            raise ConfigError(f"the config is for learner '{run_config.learner}', not '{learner}'")
        model_learner = learner_for(learner, run_config.options)
        dataset = StaffDataset(data)
        registry = registry_for(registry_root)
        options = RunOptions(seed=seed, device=device,
                             version=version or datetime.now(UTC).strftime("%Y.%m%d.%H%M%S"),
                             command=_command(learner, data, out, config, seed, device,
                                              version, registry_root, promote),
                             config_path=str(config or CONFIG_DIR / f"{learner}.toml"))
        run = TrainingRun(model_learner, run_config, dataset, registry, out, options, console)
        result = run.execute()
    except (ConfigError, DatasetError, DeviceError, RunError, KeyError, ValueError) as exc:
        raise _fail(exc.args[0] if isinstance(exc, KeyError) else str(exc)) from None
    if result is None:  # a non-zero rank of a distributed run: rank 0 reports
        return
    print_comparison(console, result)
    console.print(f"report: {out / 'report' / 'metrics.md'} (+ roc.png, pr.png, confusion.png, "
                  "worst_errors.png)")
    console.print(f"gate: {result['gate']['reason']}")
    if promote:
        _promote(out, result, registry, Verdict(result["gate"]["promote"],
                                                result["gate"]["reason"]))


@app.command("promote")
def promote_command(
    run_dir: Annotated[Path, typer.Argument(help="a finished training run folder")],
    registry_root: Annotated[Path | None, typer.Option(
        help="writable registry root; default DATA_DIR/models")] = None,
) -> None:
    """Promote a finished run's model if it is not worse than the one served now."""
    registry = registry_for(registry_root)
    try:
        result = load_run(run_dir)
        verdict = _current_verdict(result, run_dir, registry)
    except (DatasetError, RunError, ConfigError) as exc:
        raise _fail(str(exc)) from None
    print_comparison(console, result)
    _promote(run_dir, result, registry, verdict)


@app.command()
def history(
    model: Annotated[str, typer.Argument(help="registry name: collage, watermark, "
                                              "region-classifier")],
    registry_root: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """The promotions of a model, oldest first, and the version served now."""
    registry = registry_for(registry_root)
    for entry in registry.history(model):
        print(f"{entry['at']}  {entry.get('previous') or '-'} -> {entry['version']}  "
              f"{entry.get('note', '')}")
    served = registry.promoted(model)
    print(f"served: {served.version if served else 'none'}")


def _current_verdict(result: dict, run_dir: Path, registry: ModelRegistry) -> Verdict:
    """The run's verdict, measured again when another version was promoted since."""
    served = registry.promoted(result["model"])
    measured = result["results"].get("promoted", {}).get("model", {}).get("version")
    if served is None or served.version == measured or served.version == result["version"]:
        return Verdict(result["gate"]["promote"], result["gate"]["reason"])
    from training.config import RunConfig

    config = RunConfig.model_validate(result["config"])
    learner = learner_for(result["learner"], config.options)
    dataset = StaffDataset(Path(result["dataset"]))
    run = TrainingRun(learner, config, dataset, registry, run_dir,
                      RunOptions(result["seed"], result["device"], result["version"],
                                 result["command"], result["config_path"]), console)
    from models.registry import ModelVersion

    updated = run.evaluate(ModelVersion.read(run_dir / "model"), result["history"])
    result.update(updated)
    return Verdict(updated["gate"]["promote"], updated["gate"]["reason"])


def _promote(run_dir: Path, result: dict, registry: ModelRegistry, verdict: Verdict) -> None:
    if not verdict.promote:
        console.print(f"[bold red]not promoted:[/bold red] {verdict.reason}; the served "
                      "version stays")
        raise typer.Exit(1)
    model = promote_run(result, run_dir, registry, verdict)
    console.print(f"[green]promoted {model.name} {model.version}[/green] ({verdict.reason}); "
                  "the service serves it after a restart or POST /v1/admin/reload")


def _command(learner: str, data: Path, out: Path, config: Path | None, seed: int, device: str,
             version: str | None, registry_root: Path | None, promote: bool) -> str:
    """The command line that repeats this run (recorded with the model version)."""
    words = ["python", "-m", "training", "train", learner, "--data", str(data), "--out", str(out),
             "--seed", str(seed), "--device", device]
    for flag, value in (("--config", config), ("--version", version),
                        ("--registry-root", registry_root)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words + (["--promote"] if promote else []))


def main() -> None:
    app()


__all__ = ["app", "judge", "main"]
