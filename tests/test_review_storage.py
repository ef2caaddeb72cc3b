"""The review domain against both databases: queue order, filters and keyset paging, labels,
decisions, versions and the append-only audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from moderation.pipeline import ModerationPipeline
from moderation.review.actions import NotAllowed, ReviewActions, StaleVersion
from moderation.review.audit import Actor
from moderation.review.cases import CaseReader
from moderation.review.labels import LabelReader
from moderation.review.queue import InvalidCursor, ReviewQueue
from moderation.review.schemas import (
    DecisionAction,
    DecisionRequest,
    LabelAction,
    LabelRequest,
    QueueFilters,
    QueueStatus,
    Role,
)
from moderation.settings import Settings
from moderation.storage.repository import SubmissionRepository
from moderation.storage.review_tables import AuditRow
from moderation.storage.tables import SubmissionRow
from tests import photos, review_data
from tests.conftest import submission_json
from tests.review_data import (
    PHI_NAME,
    PHI_NOTES,
    finding,
    open_repository,
    phi_case_findings,
    review_pipeline,
)

REVIEWER = Actor(id=None, name="rita", role=Role.REVIEWER)
DATA_TEAM = Actor(id=None, name="dana", role=Role.DATA)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def repository(database_url: str, tmp_path: Path):
    repository = open_repository(database_url, tmp_path / "images")
    yield repository
    repository.sessions.kw["bind"].dispose()


@pytest.fixture
def pipeline(settings: Settings) -> ModerationPipeline:
    return review_pipeline(settings)


@pytest.fixture
def tools(repository: SubmissionRepository, settings: Settings):
    reasons = settings.review.reject_reasons
    return (ReviewQueue(repository.sessions, page_size=3), CaseReader(repository.sessions, reasons),
            ReviewActions(repository.sessions, reasons))


def seed_case(*args, **kwargs):  # type: ignore[no-untyped-def]
    return review_data.seed_case(*args, size=(400, 300), **kwargs)


def seed_risks(repository, pipeline, risks: dict[str, float]) -> None:
    for index, (case_id, risk) in enumerate(risks.items()):
        seed_case(repository, pipeline, case_id=case_id, member_id=f"m-{index % 2}", seed=index,
                  extra=[finding("watermark", "photo:set1/after", risk, "watermark")])


def approve(actions: ReviewActions, submission_id: str, destination: str = "profile") -> str:
    return actions.decide(REVIEWER, submission_id, DecisionRequest(
        destination=destination, action=DecisionAction.APPROVE))  # type: ignore[arg-type]


def test_queue_is_latest_versions_highest_risk_first_and_decided_cases_move_down(
        repository, pipeline, tools) -> None:
    queue, _, actions = tools
    seed_risks(repository, pipeline, {"c-a": 0.55, "c-b": 0.95, "c-c": 0.81, "c-d": 0.7})
    page = queue.page(QueueFilters(), limit=10)
    assert [item.case_id for item in page.items] == ["c-b", "c-c", "c-d", "c-a"]
    assert page.items[0].failing_checks == ["watermark"]

    top = page.items[0]
    assert approve(actions, top.submission_id) == "partial"
    order = [item.case_id for item in queue.page(QueueFilters(), limit=10).items]
    assert order == ["c-c", "c-d", "c-a", "c-b"]
    assert approve(actions, top.submission_id, "gallery") == "decided"
    assert "c-b" not in [i.case_id for i in queue.page(QueueFilters(), limit=10).items]
    decided = queue.page(QueueFilters(status=QueueStatus.DECIDED), limit=10).items
    assert [(i.case_id, i.decisions) for i in decided] == [
        ("c-b", {"profile": "approve", "gallery": "approve"})]


def test_a_new_version_replaces_the_old_one_in_the_queue(repository, pipeline, tools) -> None:
    queue, cases, actions = tools
    first = seed_case(repository, pipeline, case_id="c-v", description="first", seed=1,
                      extra=[finding("watermark", "photo:set1/after", 0.9, "watermark")])
    approve(actions, first.submission_id)
    assert [i.case_id for i in queue.page(QueueFilters(check="watermark")).items] == ["c-v"]
    second = seed_case(repository, pipeline, case_id="c-v", description="second", seed=1,
                       extra=[finding("collage", "photo:set1/after", 0.85, "collage")])
    items = queue.page(QueueFilters(status=QueueStatus.ALL), limit=10).items
    assert [(i.case_id, i.version, i.status) for i in items] == [("c-v", 2, "pending")]
    assert items[0].failing_checks == ["collage"]
    assert queue.page(QueueFilters(check="watermark")).items == []  # v1's failure is gone
    # The earlier version and its decision stay readable but take no more changes.
    old = cases.get("c-v", version=1)
    assert old is not None and not old.is_latest and old.decisions["profile"] is not None
    assert [v.version for v in old.versions] == [1, 2]
    with pytest.raises(StaleVersion):
        approve(actions, first.submission_id, "gallery")
    assert cases.get("c-v").submission_id == second.submission_id  # type: ignore[union-attr]


def test_a_version_enters_the_queue_when_scored_and_rescoring_keeps_decisions(
        repository, pipeline, tools) -> None:
    queue, _, actions = tools
    first = seed_case(repository, pipeline, case_id="c-r", description="first", seed=1)
    approve(actions, first.submission_id)
    submission = pipeline.parse_submission(submission_json(case_id="c-r", description="second"))
    prepared = pipeline.prepare(submission, {"b1": photos.jpeg(photos.scene(400, 300, seed=8)),
                                             "a1": photos.jpeg(photos.scene(400, 300, seed=9))})
    receipt = repository.receive(prepared)  # stored, not scored yet: v1 stays in the queue
    items = queue.page(QueueFilters(status=QueueStatus.ALL)).items
    assert [(i.version, i.status) for i in items] == [(1, "partial")]
    result = pipeline.score(prepared)
    repository.complete(receipt.submission_id, result)
    items = queue.page(QueueFilters(status=QueueStatus.ALL)).items
    assert [(i.version, i.status) for i in items] == [(2, "pending")]
    approve(actions, receipt.submission_id, "gallery")
    repository.complete(receipt.submission_id, result)  # scored again (new models)
    items = queue.page(QueueFilters(status=QueueStatus.ALL)).items
    assert [(i.version, i.status, i.decisions) for i in items] == [
        (2, "partial", {"gallery": "approve"})]


def test_keyset_pages_walk_forward_and_back_without_gaps(repository, pipeline, tools) -> None:
    queue, _, _ = tools
    risks = {f"c-{n:02d}": round(0.3 + n * 0.06, 2) for n in range(8)}
    risks["c-tie"] = risks["c-03"]  # equal risks are ordered by id, never skipped
    seed_risks(repository, pipeline, risks)
    everything = [i.case_id for i in queue.page(QueueFilters(), limit=100).items]
    walked, page = [], queue.page(QueueFilters())
    pages = [page]
    while True:
        walked += [i.case_id for i in page.items]
        if not page.next_cursor:
            break
        page = queue.page(QueueFilters(), after=page.next_cursor)
        pages.append(page)
    assert walked == everything and len(set(walked)) == 9 and len(pages) == 3
    back = queue.page(QueueFilters(), before=pages[2].previous_cursor)
    assert [i.case_id for i in back.items] == [i.case_id for i in pages[1].items]
    with pytest.raises(InvalidCursor):
        queue.page(QueueFilters(), after="not-a-cursor")


def test_filters(repository, pipeline, tools) -> None:
    queue, _, _ = tools
    seed_case(repository, pipeline, case_id="c-wm", member_id="m-1", seed=1,
              extra=[finding("watermark", "photo:set1/after", 0.9, "watermark")])
    seed_case(repository, pipeline, case_id="c-col", member_id="m-2", procedure="facelift",
              fields={}, seed=2, extra=[finding("collage", "photo:set1/after", 0.85, "collage"),
                                        finding("watermark", "photo:set1/after", 0.6, "maybe")])
    with repository.sessions.begin() as session:  # an old case, for the date filter
        session.execute(update(SubmissionRow).where(SubmissionRow.case_id == "c-col")
                        .values(created_at=datetime(2026, 1, 15, 12, tzinfo=UTC)))

    def ids(**filters: object) -> list[str]:
        return [i.case_id for i in queue.page(QueueFilters(**filters), limit=10).items]

    assert ids(check="watermark") == ["c-wm"]  # uncertain is not failing
    assert ids(check="collage") == ["c-col"]
    assert ids(procedure="facelift") == ["c-col"]
    assert ids(member="m-1") == ["c-wm"]
    assert ids(submitted_to=date(2026, 1, 15)) == ["c-col"]
    assert ids(submitted_from=date(2026, 1, 16)) == ["c-wm"]
    assert ids(submitted_from=date.today() + timedelta(days=1)) == []


def test_labels_decisions_and_the_audit_trail(repository, pipeline, tools) -> None:
    _, cases, actions = tools
    stored = seed_case(repository, pipeline, case_id="c-phi", description=PHI_NOTES,
                       extra=phi_case_findings(), seed=5)
    case = cases.get("c-phi")
    assert case is not None
    description = case.texts[0]
    marked = [piece.text for piece in description.segments if piece.entity_type]
    assert marked == [PHI_NAME, "04/12/1980"]
    assert "".join(piece.text for piece in description.segments) == PHI_NOTES

    watermark = next(f for f in case.findings if f.check == "watermark")
    collage = next(f for f in case.findings if f.check == "collage")
    actions.label(REVIEWER, watermark.id, LabelRequest(action=LabelAction.OVERRIDE, note="a ruler"))
    assert actions.confirm_all(REVIEWER, stored.submission_id) == len(case.findings) - 1
    assert actions.confirm_all(REVIEWER, stored.submission_id) == 0
    with pytest.raises(NotAllowed):
        actions.label(DATA_TEAM, collage.id, LabelRequest(action=LabelAction.CONFIRM))
    with pytest.raises(Exception, match="needs a reason"):
        actions.decide(REVIEWER, stored.submission_id, DecisionRequest(
            destination="profile", action=DecisionAction.REJECT))
    actions.decide(REVIEWER, stored.submission_id, DecisionRequest(
        destination="profile", action=DecisionAction.REJECT, reason_code="phi_in_notes",
        reason_text="name and birth date"))
    actions.decide(REVIEWER, stored.submission_id, DecisionRequest(
        destination="profile", action=DecisionAction.APPROVE))

    case = cases.get("c-phi")
    assert case is not None
    labelled = {f.check: f.label for f in case.findings if f.label}
    assert labelled["watermark"].action is LabelAction.OVERRIDE  # type: ignore[union-attr]
    assert labelled["watermark"].rule_broken is False  # type: ignore[union-attr]
    assert labelled["collage"].rule_broken is True  # uncertain at 0.62: the model leaned "broken"
    assert case.decisions["profile"].action is DecisionAction.APPROVE  # type: ignore[union-attr]
    newest = case.audit[0]
    assert (newest.actor, newest.action, newest.subject) == ("rita", "decision.set",
                                                             "profile decision")
    assert newest.previous == {"action": "reject", "reason_code": "phi_in_notes",
                               "reason_text": "name and birth date"}
    assert newest.new == {"action": "approve", "reason_code": None, "reason_text": ""}
    assert [e.action for e in case.audit].count("finding.confirm") == len(case.findings) - 1

    exported = LabelReader(repository.sessions).page(check="watermark")
    assert [(row.case_id, row.rule_broken, row.agrees_with_model, row.action.value)
            for row in exported] == [("c-phi", False, False, "override")]
    assert exported[0].evidence["boxes"][0]["label"] == "logo"


def test_the_migration_matches_the_tables(repository) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from moderation.storage import review_tables  # noqa: F401
    from moderation.storage.tables import Base

    with repository.sessions.kw["bind"].connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_review_migration_goes_down_and_up_again(repository) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from moderation.storage.db import alembic_config

    engine = repository.sessions.kw["bind"]
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "audit_log" not in inspect(engine).get_table_names()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert {"audit_log", "queue_flags", "users"} <= set(inspect(engine).get_table_names())


def test_the_audit_log_refuses_updates_and_deletes(repository, pipeline, tools) -> None:
    _, _, actions = tools
    stored = seed_case(repository, pipeline, case_id="c-audit", seed=3)
    approve(actions, stored.submission_id)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), repository.sessions.begin() as session:
            session.execute(text(statement))
    with repository.sessions() as session:
        assert session.scalars(select(AuditRow.actor)).all() == ["rita"]
