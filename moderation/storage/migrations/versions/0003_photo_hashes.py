"""photo hashes: perceptual fingerprints of stored photos, for the duplicate check

Revision ID: 0003_photo_hashes
Revises: 0001
Create Date: 2026-11-25 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_photo_hashes"
down_revision = "0002_review"  # "0001" on its branch; relinked at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo_hashes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("photo_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=True),
        sa.Column("codes", sa.LargeBinary(), nullable=False),
        sa.Column("thumb", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("photo_hashes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_photo_hashes_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_photo_hashes_submission_id"), ["submission_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photo_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photo_hashes_submission_id"))
        batch_op.drop_index(batch_op.f("ix_photo_hashes_case_id"))
    op.drop_table("photo_hashes")
