"""The `moderation` command: score a case from files, run the service, migrate the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from moderation.errors import InputError
from moderation.schemas import View
from moderation.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Before/after photo moderation: scoring, service, database.")


def _fail(message: str, errors: list[dict] | None = None) -> None:
    typer.echo(f"error: {message}", err=True)
    for error in errors or []:
        typer.echo(f"  {'.'.join(error.get('loc', []))}: {error.get('msg')}", err=True)
    raise typer.Exit(code=2)


def _read_file(path: Path, what: str) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        _fail(f"the {what} file does not exist")
    except IsADirectoryError:
        _fail(f"the {what} path is a directory, not a file")
    except PermissionError:
        _fail(f"the {what} file cannot be read (permission denied)")
    raise AssertionError("unreachable")


@app.command()
def score(
    procedure: Annotated[str, typer.Option(help="procedure code (see `moderation procedures`)")],
    before: Annotated[list[Path], typer.Option(help="before photo; repeat once per photo set")],
    after: Annotated[list[Path], typer.Option(help="after photo; repeat once per photo set")],
    notes: Annotated[Optional[Path], typer.Option(help="case description file, - for stdin")] = None,
    fields: Annotated[str, typer.Option(help="procedure-specific fields as a JSON object")] = "{}",
    view: Annotated[Optional[list[View]], typer.Option(help="view label per photo set")] = None,
    case_id: Annotated[str, typer.Option(help="case id to report")] = "local-case",
    member_id: Annotated[str, typer.Option(help="member id to report")] = "local-member",
    indent: Annotated[int, typer.Option(help="JSON indentation; 0 for one line")] = 2,
) -> None:
    """Score one case from local files and print the same JSON as POST /v1/score.

    Needs no server and no database; nothing is stored.
    """
    from moderation.pipeline import ModerationPipeline

    if len(before) != len(after):
        _fail(f"{len(before)} --before photo(s) but {len(after)} --after photo(s); "
              "give one of each per photo set")
    if view and len(view) != len(before):
        _fail(f"{len(view)} --view label(s) for {len(before)} photo set(s)")
    try:
        parsed_fields = json.loads(fields)
    except json.JSONDecodeError as exc:
        _fail(f"--fields is not valid JSON (line {exc.lineno}, column {exc.colno})")
    if not isinstance(parsed_fields, dict):
        _fail("--fields must be a JSON object")
    description = _read_file(notes, "notes").decode("utf-8", "replace") if notes else ""
    files: dict[str, bytes] = {}
    photo_sets = []
    for index, (before_path, after_path) in enumerate(zip(before, after, strict=True), start=1):
        files[f"before{index}"] = _read_file(before_path, f"before photo of set {index}")
        files[f"after{index}"] = _read_file(after_path, f"after photo of set {index}")
        photo_set: dict[str, object] = {"before": f"before{index}", "after": f"after{index}"}
        if view:
            photo_set["view"] = view[index - 1].value
        photo_sets.append(photo_set)
    submission = json.dumps({
        "case_id": case_id, "member_id": member_id, "procedure": procedure,
        "consent_confirmed": True, "description": description, "fields": parsed_fields,
        "photo_sets": photo_sets,
    })
    try:
        pipeline = ModerationPipeline.from_settings(get_settings())
    except (ValueError, RuntimeError) as exc:  # a check's options or model cannot be used
        _fail(f"the configuration cannot be used: {exc}")
    try:
        prepared = pipeline.prepare(pipeline.parse_submission(submission), files)
        result = pipeline.score(prepared)
    except InputError as exc:
        _fail(exc.message, exc.errors)
    typer.echo(result.model_dump_json(indent=indent or None))


@app.command()
def procedures() -> None:
    """List the procedure codes and their fields."""
    from moderation.taxonomy import default_taxonomy

    for procedure in default_taxonomy().procedures:
        fields = ", ".join(f"{spec.name}:{spec.type}" for spec in procedure.fields)
        typer.echo(f"{procedure.code:28} {procedure.name}  [{', '.join(procedure.regions)}]  {fields}")


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="default: HOST or 127.0.0.1")] = None,
    port: Annotated[Optional[int], typer.Option(help="default: PORT or 8000")] = None,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("service.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_level=settings.log_level)


@app.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL, or SQLite under DATA_DIR) to the newest schema."""
    from moderation.storage.db import make_engine
    from moderation.storage.db import migrate as run_migrations

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(make_engine(settings.resolved_database_url))
    typer.echo("database is at the newest schema")


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(help="the admin's user name (lower-case)")],
    display_name: Annotated[str, typer.Option(help="full name shown on pages")] = "",
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help="asked for when not given; prefer the prompt (a shell keeps its history)")] = "",
) -> None:
    """Create an admin account (the first one, or another) in the database."""
    from moderation.review.audit import Actor
    from moderation.review.schemas import Role
    from moderation.storage.db import make_engine, make_session_factory
    from moderation.storage.db import migrate as run_migrations
    from service.auth.accounts import AccountStore

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    run_migrations(engine)
    try:
        user = AccountStore(make_session_factory(engine)).create(
            Actor(id=None, name="cli"), username, password, Role.ADMIN, display_name)
    except InputError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()
    typer.echo(f"admin '{user.username}' created; sign in at /login")


if __name__ == "__main__":
    app()
