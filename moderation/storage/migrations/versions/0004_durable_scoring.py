"""durable scoring: submissions are stored before they are scored, and claimed by a worker

Revision ID: 0004_durable
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_durable"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.alter_column("risk", existing_type=sa.Float(), nullable=True)
        batch.alter_column("recommendation", existing_type=sa.JSON(), nullable=True)
        batch.alter_column("models", existing_type=sa.JSON(), nullable=True)
        batch.alter_column("timings_ms", existing_type=sa.JSON(), nullable=True)
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("submission_photos") as batch:
        batch.add_column(sa.Column("photo_metadata", sa.JSON(), nullable=False,
                                   server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("submission_photos") as batch:
        batch.drop_column("photo_metadata")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("scored_at")
        batch.drop_column("attempts")
        batch.drop_column("claimed_at")
