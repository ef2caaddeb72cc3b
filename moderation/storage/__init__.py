"""Persistence: SQLAlchemy tables with Alembic migrations, and the content-addressed image store."""
