"""Queue paging at scale: keyset pagination (what the review tool does) against OFFSET paging
(the usual baseline), on PostgreSQL with 100,000 submissions, printed side by side.

    .venv/bin/python bench/queue_pagination.py                    # 100,000 submissions
    .venv/bin/python bench/queue_pagination.py --submissions 20000 --repeats 5

It builds a schema of its own in the `test` database (dropped afterwards unless --keep; with
--keep a later run reuses it), fills it with COPY (cases with 1-2 versions, 6 findings each,
a fifth of them partly or fully decided), ANALYZEs, then times each scenario `--repeats`
times: the queue query with its per-page lookups (failing checks, decisions) as the service
runs it, and the whole HTML page over the app (session check, query, template).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy import create_engine, text

from moderation.review.priority import priority_of
from moderation.review.queue import ReviewQueue, filtered
from moderation.review.schemas import QueueFilters, QueueStatus
from moderation.storage.db import make_engine, make_session_factory, migrate
from moderation.taxonomy import default_taxonomy

CHECKS = ["integrity", "phi_image", "phi_text", "watermark", "collage", "procedure_match"]
FAIL_RATE = {"integrity": 0.02, "phi_image": 0.05, "phi_text": 0.12, "watermark": 0.08,
             "collage": 0.04, "procedure_match": 0.06}
START = datetime(2025, 1, 1, tzinfo=UTC)
console = Console(width=150)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql+psycopg://root@127.0.0.1:5432/test")
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the schema")
    return parser.parse_args()


# ---------------------------------------------------------------- data


def generate(count: int, seed: int) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """Rows for submissions, findings, decisions and queue flags."""
    rng = random.Random(seed)
    procedures = [p.code for p in default_taxonomy().procedures]
    submissions, findings, decisions, flags = [], [], [], []
    case_number, made = 0, 0
    while made < count:
        case_number += 1
        versions = 2 if rng.random() < 0.1 and made + 2 <= count else 1
        member = f"m-{rng.randrange(2000)}"
        procedure = rng.choice(procedures)
        created = START + timedelta(seconds=rng.randrange(700 * 86400))
        for version in range(1, versions + 1):
            made += 1
            sid = f"s_{uuid.UUID(int=rng.getrandbits(128)).hex}"
            scores = []
            for check in CHECKS:
                score = round(rng.uniform(0.8, 1.0) if rng.random() < FAIL_RATE[check]
                              else rng.uniform(0.0, 0.7), 4)
                verdict = "fail" if score >= 0.8 else "pass" if score < 0.5 else "uncertain"
                evidence = {"boxes": [{"x": 10, "y": 10, "w": 100, "h": 40}]} if score > 0.5 else {}
                findings.append((sid, check, "photo:set1/after", score, verdict, f"{check} seen",
                                 json.dumps(evidence), f"{check}-model", "1"))
                scores.append(score)
            risk = max(scores)
            latest = version == versions
            decided = 0
            if latest:
                roll = rng.random()
                decided = 2 if roll < 0.15 else 1 if roll < 0.22 else 0
            for destination in ("profile", "gallery")[:decided]:
                decisions.append((sid, destination, "approve", "", created + timedelta(days=1)))
            priority = priority_of(decided=decided, risk=risk)
            if latest:
                flags += [(sid, check, priority) for check, score in zip(CHECKS, scores)
                          if score >= 0.8]
            submissions.append((
                sid, uuid.UUID(int=rng.getrandbits(128)).hex * 1, f"c-{case_number}", version,
                member, procedure, True, "Case notes.", "{}",
                "scored", risk, '{"profile": {"action": "review"}}',
                "[]", "{}", created + timedelta(days=version - 1), latest, priority))
    return {"submissions": submissions, "findings": findings, "decisions": decisions,
            "queue_flags": flags}


def fill(url: str, count: int, seed: int) -> None:
    rows = generate(count, seed)
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for table, columns, table_rows in (
                ("submissions", ("id, content_hash, case_id, version, member_id, procedure, "
                                 "consent_confirmed, description, fields, status, risk, "
                                 "recommendation, models, timings_ms, created_at, is_latest, "
                                 "queue_priority"), rows["submissions"]),
                ("findings", ('submission_id, "check", target, score, verdict, reason, '
                              "evidence, model_name, model_version"), rows["findings"]),
                ("decisions", "submission_id, destination, action, reason_text, decided_at",
                 rows["decisions"]),
                ("queue_flags", 'submission_id, "check", queue_priority', rows["queue_flags"]),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in track(table_rows,
                                     description=f"COPY {table} ({len(table_rows):,} rows)",
                                     console=console, transient=True):
                        copy.write_row(row)
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


# ---------------------------------------------------------------- timing


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    run()  # warm: plans cached, pages in memory, as for a reviewer paging on
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def offset_page(queue: ReviewQueue, filters: QueueFilters, offset: int, limit: int) -> int:
    """The baseline: the same query and per-page lookups, paged with OFFSET."""
    statement = filtered(filters).ordered().offset(offset).limit(limit + 1)
    with queue.sessions() as session:
        rows = list(session.execute(statement))[:limit]
        return len(queue._items(session, rows))


def server_ms(queue: ReviewQueue, statement) -> float:  # type: ignore[no-untyped-def]
    """PostgreSQL's own execution time for the page query (EXPLAIN ANALYZE, median of 5):
    the database's share, apart from the client and from other jobs on the machine."""
    with queue.sessions() as session:
        connection = session.connection()
        compiled = statement.compile(dialect=connection.dialect)
        samples = []
        for _ in range(5):
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + compiled.string, compiled.params).scalar()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            samples.append(plan[0]["Execution Time"])
    return statistics.median(samples)


def keyset_statement(filters: QueueFilters, cursor: str | None, limit: int):  # type: ignore[no-untyped-def]
    from sqlalchemy import tuple_

    from moderation.review.queue import decode_position
    query = filtered(filters)
    statement = query.ordered().limit(limit + 1)
    return statement.where(query.key > tuple_(*decode_position(cursor))) if cursor else statement


def cursor_at(queue: ReviewQueue, filters: QueueFilters, offset: int) -> str | None:
    """The `after` cursor that starts the page at `offset` (found once, untimed)."""
    if offset == 0:
        return None
    statement = filtered(filters).ordered().offset(offset - 1).limit(1)
    with queue.sessions() as session:
        row = session.execute(statement).first()
    if row is None:
        return None
    from moderation.review.queue import encode_position
    return encode_position(row.queue_priority, row.id)


def count(queue: ReviewQueue, filters: QueueFilters) -> int:
    from sqlalchemy import func, select
    with queue.sessions() as session:
        return session.scalar(select(func.count()).select_from(filtered(filters).statement.subquery())) or 0


def main() -> None:
    args = parse_args()
    schema = f"bench_queue_{args.submissions}"
    admin = create_engine(args.database_url)
    url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        exists = connection.scalar(text("SELECT count(*) FROM information_schema.schemata "
                                        "WHERE schema_name = :s"), {"s": schema})
        if exists and not args.keep:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            exists = 0
        if not exists:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        with sessions() as session:
            present = session.scalar(text("SELECT count(*) FROM submissions"))
        if present != args.submissions:
            console.print(f"filling {args.submissions:,} submissions into schema {schema} ...")
            started = time.perf_counter()
            fill(url, args.submissions, args.seed)
            console.print(f"filled in {time.perf_counter() - started:.1f} s")
        run_scenarios(args, engine, sessions, url)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_scenarios(args: argparse.Namespace, engine, sessions, url: str) -> None:  # type: ignore[no-untyped-def]
    queue = ReviewQueue(sessions, page_size=args.page_size)
    with sessions() as session:
        latest = session.scalar(text("SELECT count(*) FROM submissions WHERE is_latest"))
        member = session.scalar(text("SELECT member_id FROM submissions GROUP BY member_id "
                                     "ORDER BY count(*) DESC LIMIT 1"))
    console.print(f"{args.submissions:,} submissions ({latest:,} cases, latest versions); "
                  f"{args.page_size} rows a page; median and p95 of {args.repeats} runs, ms; "
                  f"PostgreSQL {engine.dialect.server_version_info[0]}; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    scenarios: list[tuple[str, QueueFilters, str]] = [
        ("open queue", QueueFilters(), "first"),
        ("open queue", QueueFilters(), "middle"),
        ("open queue", QueueFilters(), "last"),
        ("all statuses", QueueFilters(status=QueueStatus.ALL), "last"),
        ("status = decided", QueueFilters(status=QueueStatus.DECIDED), "last"),
        ("check = watermark", QueueFilters(check="watermark"), "first"),
        ("check = watermark", QueueFilters(check="watermark"), "last"),
        ("check = integrity (rare)", QueueFilters(check="integrity"), "last"),
        ("procedure = rhinoplasty", QueueFilters(procedure="rhinoplasty"), "last"),
        (f"member = {member}", QueueFilters(member=member), "first"),
        ("one month", QueueFilters(submitted_from=date(2025, 6, 1),
                                                submitted_to=date(2025, 6, 30)), "last"),
        ("check+procedure+dates", QueueFilters(check="phi_text", procedure="rhinoplasty",
                                                   submitted_from=date(2025, 3, 1),
                                                   submitted_to=date(2026, 3, 1)), "last"),
    ]
    table = Table(title="Queue page, ms: keyset (the service) vs OFFSET (baseline); "
                        "'in PG' = PostgreSQL's own execution time of the page query")
    for column in ("scenario", "matching", "page", "keyset median", "keyset p95",
                   "OFFSET median", "OFFSET p95", "ratio", "in PG: keyset",
                   "in PG: OFFSET"):
        table.add_column(column, justify="left" if column in {"scenario", "page"} else "right")
    worst = worst_median = 0.0
    for name, filters, where in track(scenarios, description="timing", console=console,
                                      transient=True):
        matching = count(queue, filters)
        last_offset = max(0, (matching - 1) // args.page_size * args.page_size)
        offset = {"first": 0, "middle": last_offset // 2 // args.page_size * args.page_size,
                  "last": last_offset}[where]
        cursor = cursor_at(queue, filters, offset)
        keyset = timed(lambda f=filters, c=cursor: queue.page(f, after=c), args.repeats)
        baseline = timed(lambda f=filters, o=offset: offset_page(queue, f, o, args.page_size),
                         args.repeats)
        worst, worst_median = max(worst, keyset[1]), max(worst_median, keyset[0])
        in_database = (
            server_ms(queue, keyset_statement(filters, cursor, args.page_size)),
            server_ms(queue, filtered(filters).ordered().offset(offset).limit(args.page_size + 1)))
        table.add_row(name, f"{matching:,}", f"row {offset + 1:,}",
                      f"{keyset[0]:.1f}", f"{keyset[1]:.1f}", f"{baseline[0]:.1f}",
                      f"{baseline[1]:.1f}", f"{baseline[0] / keyset[0]:.1f}x",
                      f"{in_database[0]:.2f}", f"{in_database[1]:.2f}")
    console.print(table)
    page_median, page_worst = time_html_pages(args, url, queue)
    load = os.getloadavg()[0]
    for what, median, p95 in (("queue query", worst_median, worst),
                              ("whole HTML page", page_median, page_worst)):
        verdict = ("meets" if p95 < 100 else "median meets, p95 misses") if median < 100 else "MISSES"
        console.print(f"{what}, slowest scenario: median {median:.1f} ms, p95 {p95:.1f} ms -> "
                      f"{verdict} the 100 ms target (load average {load:.1f})")


def time_html_pages(args: argparse.Namespace, url: str,
                    queue: ReviewQueue) -> tuple[float, float]:
    """The whole page a reviewer gets: session check, queue query, template, over the app."""
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    from moderation.review.audit import Actor
    from moderation.review.schemas import Role
    from moderation.settings import Settings
    from service.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=url, log_level="warning")
        with TestClient(create_app(settings), base_url="https://testserver") as client:
            review = client.app.state.runtime.review  # type: ignore[attr-defined]
            name = f"bench-{uuid.uuid4().hex[:8]}"
            review.accounts.create(Actor(id=None, name="bench"), name, "bench-password-1",
                                   Role.REVIEWER)
            response = client.post("/v1/session", json={"username": name,
                                                        "password": "bench-password-1"})
            assert response.status_code == 200, response.text
            filters = QueueFilters()
            last = max(0, (count(queue, filters) - 1) // args.page_size * args.page_size)
            table = Table(title="Whole queue page over HTTP (TestClient, signed in)")
            for column in ("page", "median ms", "p95 ms", "bytes"):
                table.add_column(column, justify="right")
            worst = worst_median = 0.0
            for label, cursor, check in (
                    ("first page", None, None), ("last page", cursor_at(queue, filters, last), None),
                    ("failing check = watermark, first", None, "watermark")):
                params = {k: v for k, v in (("after", cursor), ("check", check)) if v}
                size = len(client.get("/review/queue", params=params).content)
                median, p95 = timed(lambda p=params: client.get("/review/queue", params=p),
                                    args.repeats)
                worst, worst_median = max(worst, p95), max(worst_median, median)
                table.add_row(label, f"{median:.1f}", f"{p95:.1f}", f"{size:,}")
            console.print(table)
            return worst_median, worst


if __name__ == "__main__":
    main()
