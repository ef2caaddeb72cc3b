"""Export staff-labelled photos from the service's database as a versioned dataset.

    python -m datasets.export --out data/exports [--check collage --check watermark]

Reads every reviewer label on a photo finding (confirmed: the model's verdict holds;
overridden: the opposite holds), the stored copy of that photo and its case's member and
procedure, and writes a dataset folder (`datasets.staff_dataset`) split by member. Labels on
text (description, fields) are not exported: they would carry notes. When one photo is labelled
more than once for a check (a case posted again), the latest label wins.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image
from rich.console import Console
from rich.progress import track
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from datasets.staff_dataset import PHOTOS, DatasetError, DatasetWriter, LabelledItem
from moderation.metadata import identifying_metadata
from moderation.storage.images import ImageStore
from moderation.storage.review_tables import FindingLabelRow
from moderation.storage.tables import FindingRow, StoredImage, SubmissionPhoto, SubmissionRow
from moderation.taxonomy import Taxonomy, default_taxonomy

PHOTO_TARGET = "photo:"
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
console = Console(stderr=True)


class MetadataFound(DatasetError):
    """A stored photo still carries identifying metadata: the export stops."""


@dataclass(frozen=True)
class _LabelledPhoto:
    label_id: int
    check: str
    rule_broken: bool
    action: str
    score: float
    model: dict[str, str]
    case_id: str
    member_id: str
    procedure: str
    image_sha256: str
    image_format: str


class StaffLabelExporter:
    """Reads labelled photo findings and writes them, with their photos, as a dataset."""

    def __init__(self, sessions: sessionmaker[Session], images: ImageStore,
                 taxonomy: Taxonomy | None = None) -> None:
        self.sessions = sessions
        self.images = images
        self.taxonomy = taxonomy or default_taxonomy()

    def export(self, out: Path, checks: list[str] | None = None, seed: int = 0,
               fractions: dict[str, float] | None = None, source: str = "the service") -> Path:
        rows = self._latest_per_photo(self._labelled_photos(checks))
        items, files = [], {}
        for row in track(rows, description="exporting labelled photos", console=console):
            relative = f"{PHOTOS}/{row.image_sha256}.{'png' if row.image_format == 'PNG' else 'jpg'}"
            if relative not in files:
                files[relative] = self._verified_photo(row)
            items.append(self._item(row, relative))
        writer = DatasetWriter(out, fractions or DEFAULT_FRACTIONS, seed, source)
        return writer.write(items, files)

    def _labelled_photos(self, checks: list[str] | None) -> list[_LabelledPhoto]:
        statement = (
            select(FindingLabelRow, FindingRow, SubmissionRow.case_id, SubmissionRow.member_id,
                   SubmissionRow.procedure, StoredImage.sha256, StoredImage.format)
            .join(FindingRow, FindingRow.id == FindingLabelRow.finding_id)
            .join(SubmissionRow, SubmissionRow.id == FindingLabelRow.submission_id)
            .join(SubmissionPhoto, (SubmissionPhoto.submission_id == SubmissionRow.id)
                  & (PHOTO_TARGET + SubmissionPhoto.photo_id == FindingRow.target))
            .join(StoredImage, StoredImage.sha256 == SubmissionPhoto.image_sha256)
            .where(FindingRow.target.startswith(PHOTO_TARGET))
            .order_by(FindingLabelRow.id))
        if checks:
            statement = statement.where(FindingLabelRow.check.in_(checks))
        with self.sessions() as session:
            return [_LabelledPhoto(label.id, finding.check, label.rule_broken, label.action,
                                   finding.score, {"name": finding.model_name,
                                                   "version": finding.model_version},
                                   case_id, member_id, procedure, sha256, fmt)
                    for label, finding, case_id, member_id, procedure, sha256, fmt
                    in session.execute(statement)]

    @staticmethod
    def _latest_per_photo(rows: list[_LabelledPhoto]) -> list[_LabelledPhoto]:
        latest: dict[tuple[str, str], _LabelledPhoto] = {}
        for row in rows:  # ordered by label id: later labels replace earlier ones
            latest[(row.check, row.image_sha256)] = row
        return list(latest.values())

    def _verified_photo(self, row: _LabelledPhoto) -> Path:
        path = self.images.path_for(row.image_sha256, row.image_format)
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            found = identifying_metadata(image)
        if found:
            # Kinds only: the values themselves may be PHI.
            kinds = sorted({str(item.kind) for item in found})
            raise MetadataFound(f"stored photo {row.image_sha256[:12]} carries metadata "
                                f"({', '.join(kinds)}); nothing was exported")
        return path

    def _item(self, row: _LabelledPhoto, relative: str) -> LabelledItem:
        procedure = self.taxonomy.get(row.procedure)
        return LabelledItem(
            check=row.check, label=int(row.rule_broken), member_id=row.member_id,
            photo=relative, sha256=row.image_sha256, case_id=row.case_id,
            procedure=row.procedure, regions=tuple(procedure.regions) if procedure else (),
            model_score=row.score, model=row.model, action=row.action)


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="folder the dataset version is written under")] = Path(
        "data/exports"),
    check: Annotated[list[str] | None, typer.Option(help="only these checks (repeat)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the split by member")] = 0,
    val: Annotated[float, typer.Option(min=0.0, max=0.9)] = DEFAULT_FRACTIONS["val"],
    test: Annotated[float, typer.Option(min=0.0, max=0.9)] = DEFAULT_FRACTIONS["test"],
) -> None:
    """Export decided cases (staff labels on photo findings) as a versioned dataset."""
    from moderation.settings import get_settings
    from moderation.storage.db import make_engine, make_session_factory

    if val + test >= 1.0:
        raise typer.BadParameter("val + test must leave a share for training", param_hint="--test")
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        exporter = StaffLabelExporter(make_session_factory(engine), ImageStore(settings.image_dir))
        directory = exporter.export(out, check, seed, {"train": 1 - val - test, "val": val,
                                                       "test": test},
                                    source=f"the {engine.dialect.name} database")
    except DatasetError as exc:
        console.print(f"[red]export failed:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    print(directory)


if __name__ == "__main__":
    app()
