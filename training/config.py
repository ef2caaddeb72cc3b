"""A training run's configuration: one TOML file (`training/configs/*.toml`)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

METRICS = ("auroc", "average_precision", "f1", "precision", "recall", "accuracy")


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    init: str = Field("promoted", description="promoted, scratch, or a weights file")
    epochs: int = Field(4, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    threads: int = Field(1, ge=1)


class CalibrationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Literal["precision", "recall"] = "precision"
    value: float = Field(0.9, gt=0, le=1)


class PromotionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal[METRICS] = "auroc"  # type: ignore[valid-type]
    margin: float = Field(0.01, ge=0, le=1)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner: str = Field(description="collage, watermark, watermark_head or procedure "
                         "(training/learners.py)")
    train: TrainSettings = Field(default_factory=TrainSettings)
    options: dict[str, Any] = Field(default_factory=dict, description="the learner's network")
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)


class ConfigError(ValueError):
    """A config file that is missing or does not validate."""


def load_config(path: Path) -> RunConfig:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise ConfigError(f"{path}: {problems}") from None
