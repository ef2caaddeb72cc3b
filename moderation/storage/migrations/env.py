"""Alembic environment: runs on the connection `moderation.storage.db.migrate` hands it, or on
the settings' database URL when called from the `alembic` command line."""

from __future__ import annotations

from alembic import context

from moderation.storage import review_tables  # noqa: F401  (registers its tables)
from moderation.storage.tables import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from moderation.settings import Settings
    from moderation.storage.db import make_engine

    with make_engine(Settings().resolved_database_url).begin() as own_connection:
        _run(own_connection)
