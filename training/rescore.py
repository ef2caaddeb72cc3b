"""Re-score the archive after a model promotion, on Ray, with the service's own scoring code.

    python -m training.rescore                       # a local Ray instance on this machine
    python -m training.rescore --address auto        # the Ray cluster this node belongs to
    python -m training.rescore --address ray://head:10001 --workers 16

Every worker reads the same settings (DATABASE_URL, DATA_DIR, MODERATION_CONFIG) as the
service, so on a cluster they must point at the shared PostgreSQL database and a DATA_DIR
every node can read (a shared volume holding images/ and models/).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

app = typer.Typer(add_completion=False)
console = Console()
log = logging.getLogger(__name__)


class Rescorer:
    """One per Ray worker: builds the pipeline and database access once, then re-scores
    batches of submissions."""

    def __init__(self, settings_overrides: dict | None = None) -> None:
        from moderation.pipeline import ModerationPipeline
        from moderation.settings import Settings
        from moderation.storage.db import make_engine, make_session_factory
        from moderation.storage.images import ImageStore
        from moderation.storage.repository import SubmissionRepository

        settings = Settings(**(settings_overrides or {}))
        engine = make_engine(settings.resolved_database_url)
        self.repository = SubmissionRepository(make_session_factory(engine),
                                               ImageStore(settings.image_dir))
        self.pipeline = ModerationPipeline.from_settings(settings)

    def rescore(self, submission_ids: list[str]) -> dict[str, int]:
        from moderation.rescoring import rescore

        done = failed = 0
        for submission_id in submission_ids:
            try:
                rescore(self.pipeline, self.repository, submission_id)
                done += 1
            except Exception as exc:  # noqa: BLE001 - report and go on with the batch
                log.error("re-scoring %s failed: %s", submission_id, type(exc).__name__)
                failed += 1
        return {"rescored": done, "failed": failed}


def run(address: str | None, workers: int, batch_size: int, limit: int | None,
        settings_overrides: dict | None = None) -> dict[str, int]:
    import ray

    from moderation.settings import Settings
    from moderation.storage.db import make_engine, make_session_factory
    from moderation.storage.images import ImageStore
    from moderation.storage.repository import SubmissionRepository

    settings = Settings(**(settings_overrides or {}))
    engine = make_engine(settings.resolved_database_url)
    repository = SubmissionRepository(make_session_factory(engine), ImageStore(settings.image_dir))
    ids = repository.scored_ids(limit=limit)
    engine.dispose()
    if not ids:
        return {"rescored": 0, "failed": 0}
    if address:
        ray.init(address=address, ignore_reinit_error=True)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True,
                 log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=1)(Rescorer)
        pool = [actor.remote(settings_overrides) for _ in range(workers)]
        batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        pending = {pool[i % workers].rescore.remote(batch): len(batch)
                   for i, batch in enumerate(batches)}
        totals = {"rescored": 0, "failed": 0}
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("re-scoring", total=len(ids))
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for reference in ready:
                    counts = ray.get(reference)
                    totals = {k: totals[k] + counts[k] for k in totals}
                    progress.advance(task, pending.pop(reference))
        return totals
    finally:
        ray.shutdown()


@app.command()
def main(
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address ('auto', 'ray://head:10001'); default: a local instance")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Ray actors scoring in parallel")] = 2,
    batch_size: Annotated[int, typer.Option(min=1)] = 25,
    limit: Annotated[Optional[int], typer.Option(min=1, help="re-score at most this many")] = None,
) -> None:
    """Re-score every scored submission with the promoted models, replacing its findings."""
    started = time.perf_counter()
    totals = run(address, workers, batch_size, limit)
    elapsed = time.perf_counter() - started
    console.print(f"re-scored {totals['rescored']}, failed {totals['failed']} in {elapsed:.1f} s")
    if totals["failed"]:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
