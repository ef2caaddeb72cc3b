"""The one settings class of the service, the CLI and the training tools.

Values come, highest priority first, from: keyword arguments, environment variables
(`DATABASE_URL`, `DATA_DIR`, `API_KEYS`, `PORT`, nested ones as `CHECKS__INTEGRITY__FAIL_AT`),
the TOML file named by `MODERATION_CONFIG`, and the shipped `defaults.toml` beside this file.
Thresholds, model names and allow-lists live in those files, not in code.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
CONFIG_FILE_ENV = "MODERATION_CONFIG"

Action = Literal["approve", "review", "reject"]


class CheckSettings(BaseModel):
    """How one check's scores turn into verdicts, and its own tunable options."""

    enabled: bool = True
    fail_at: float = Field(0.8, ge=0, le=1, description="score at or above which the verdict is fail")
    pass_below: float = Field(0.5, ge=0, le=1, description="score below which the verdict is pass")
    on_fail: Action = "reject"
    on_uncertain: Action = "review"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> CheckSettings:
        if self.pass_below > self.fail_at:
            raise ValueError("pass_below must not exceed fail_at")
        return self


class IntakeSettings(BaseModel):
    max_photo_bytes: int = Field(15 * 1024 * 1024, gt=0)
    max_photo_pixels: int = Field(100_000_000, gt=0)
    working_max_side: int = Field(1000, ge=64)
    max_photo_sets: int = Field(12, ge=1)
    max_submission_json_bytes: int = Field(256 * 1024, gt=0)
    max_description_chars: int = Field(20_000, gt=0)
    refuse_undecodable: bool = Field(
        True, description="answer 422 (nothing stored) when a photo cannot be decoded at all")


class ScoringSettings(BaseModel):
    workers: int = Field(2, ge=1, description="submissions scored at once")
    threads_per_request: int = Field(2, ge=1, description="threads decoding one submission's "
                                     "photos and running its checks side by side")
    max_pending: int = Field(16, ge=1, description="requests admitted at once; more get 503")
    retry_after_s: int = Field(2, ge=1)
    claim_lease_s: float = Field(60.0, gt=0, description="after this, an unscored submission "
                                 "is taken over and re-scored by any worker")
    recovery_interval_s: float = Field(15.0, gt=0)
    wait_for_same_content_s: float = Field(30.0, ge=0)


class PhiSettings(BaseModel):
    """The one PHI text detector that `phi_text` and `phi_image` (OCR text) share."""

    detector: str = Field("nlp.detector:build_detector",
                          description="import path of a factory returning a PhiTextDetector")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="keyword arguments of that factory")


class PolicySettings(BaseModel):
    expected_checks: dict[str, list[str]] = Field(default_factory=dict)


class RejectReason(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    label: str


class ReviewSettings(BaseModel):
    """The staff review tool: queue paging, sessions, sign-in limits, reasons to reject."""

    page_size: int = Field(50, ge=1, le=500)
    session_hours: float = Field(12, gt=0)
    secure_cookies: bool = Field(True, description="send cookies over HTTPS only (not on loopback)")
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(900, ge=1)
    reject_reasons: list[RejectReason] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_prefix="",
        case_sensitive=False,
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "info"

    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    checks: dict[str, CheckSettings] = Field(default_factory=dict)
    extra_checks: dict[str, str] = Field(
        default_factory=dict, description="checks added by configuration: name -> import path")
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    # Options of models several checks share (`[models.ocr]`), each validated by its model.
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    phi: PhiSettings = Field(default_factory=PhiSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'moderation.db').resolve()}"

    @property
    def image_dir(self) -> Path:
        return self.data_dir / "images"

    def check(self, name: str) -> CheckSettings:
        return self.checks.get(name, CheckSettings())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFilesSource(settings_cls))


class _TomlFilesSource(PydanticBaseSettingsSource):
    """The shipped defaults, deep-merged with the user's config file when one is named."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        merged = _read_toml(DEFAULTS_FILE)
        user_file = os.environ.get(CONFIG_FILE_ENV)
        if user_file:
            path = Path(user_file)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
            merged = deep_merge(merged, _read_toml(path))
        return merged


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
