"""The interface every check implements.

Like a Presidio recognizer: a small class with a name, a version, the destinations it gates
and one method. A check *observes* (a score and its evidence per target); the scorer *judges*
(the verdict, from the check's thresholds in settings), so thresholds never live in checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from moderation.intake import PreparedSubmission
from moderation.schemas import Destination, Evidence, ModelRef
from moderation.settings import CheckSettings, Settings
from moderation.taxonomy import Taxonomy

BOTH_DESTINATIONS = frozenset({Destination.PROFILE, Destination.GALLERY})
GALLERY_ONLY = frozenset({Destination.GALLERY})
T = TypeVar("T")


@dataclass
class Observation:
    target: str
    score: float
    reason: str  # short, and never quoting PHI: it goes into recommendation reasons
    evidence: Evidence = field(default_factory=Evidence)
    model: ModelRef | None = None  # when the check used a model other than its default


@dataclass
class CheckContext:
    """What the service hands every check when it builds them once at start-up."""

    settings: Settings
    taxonomy: Taxonomy
    resources: dict[str, Any] = field(default_factory=dict)  # shared indexes, loaded models

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def shared(self, name: str, build: Callable[[], T]) -> T:
        """One instance per service of something several checks use (a model, a detector)."""
        if name not in self.resources:
            self.resources[name] = build()
        return self.resources[name]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Check(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    destinations: ClassVar[frozenset[Destination]]
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, settings: CheckSettings, context: CheckContext) -> None:
        self.settings = settings
        self.context = context
        self.options = self.Options.model_validate(settings.options)

    @property
    def model(self) -> ModelRef:
        """The model (or rule set) behind the scores; checks with learned models override it."""
        return ModelRef(name=f"{self.name}-rules", version=self.version)

    @abstractmethod
    def run(self, submission: PreparedSubmission) -> list[Observation]:
        """Observe one prepared submission: a score and evidence per target."""
