"""staff review: accounts, sessions, API keys, finding labels, decisions, audit log, queue index

Revision ID: 0002_review
Revises: 0004_durable
Create Date: 2026-11-25 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_review"
down_revision = "0004_durable"  # "0001" on its branch; relinked when main was merged in
branch_labels = None
depends_on = None

_APPEND_ONLY_MESSAGE = "audit_log is append-only"


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_latest", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column("queue_priority", sa.Float(), server_default="1",
                                      nullable=False))
        batch_op.create_index("ix_submissions_queue", ["is_latest", "queue_priority", "id"])
        batch_op.create_index("ix_submissions_queue_procedure",
                              ["procedure", "is_latest", "queue_priority", "id"])
        batch_op.create_index("ix_submissions_queue_member",
                              ["member_id", "is_latest", "queue_priority", "id"])
        batch_op.create_index("ix_submissions_created", ["created_at"])
    # Rows scored before this revision: none decided yet; the newest scored version is queued.
    op.execute("UPDATE submissions SET queue_priority = 1 - COALESCE(risk, 0)")
    op.execute("UPDATE submissions SET is_latest = CASE WHEN status = 'scored' AND version = "
               "(SELECT max(s2.version) FROM submissions s2 WHERE s2.case_id = submissions.case_id"
               " AND s2.status = 'scored') THEN true ELSE false END")

    op.create_table(
        "queue_flags",
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("queue_priority", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", "check"),
    )
    op.create_index("ix_queue_flags_page", "queue_flags", ["check", "queue_priority", "submission_id"])
    op.execute('INSERT INTO queue_flags (submission_id, "check", queue_priority) '
               'SELECT DISTINCT f.submission_id, f."check", s.queue_priority FROM findings f '
               "JOIN submissions s ON s.id = f.submission_id "
               "WHERE f.verdict = 'fail' AND s.is_latest")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])
    op.create_index("ix_staff_sessions_expires_at", "staff_sessions", ["expires_at"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"])
    op.create_index("ix_login_failures_client_at", "login_failures", ["client", "at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_sha256"),
    )
    op.create_table(
        "finding_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("rule_broken", sa.Boolean(), nullable=False),
        sa.Column("agrees_with_model", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("labelled_by", sa.Integer(), nullable=True),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["labelled_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("finding_id", name="uq_finding_labels_finding"),
    )
    op.create_index("ix_finding_labels_submission_id", "finding_labels", ["submission_id"])
    op.create_index("ix_finding_labels_check_labelled", "finding_labels", ["check", "labelled_at"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "destination",
                            name="uq_decisions_submission_destination"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=True),
        sa.Column("submission_id", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_case", "audit_log", ["case_id", "id"])
    # Labels per finding are read by finding; the queue's failing-check filter probes findings
    # by submission, check and verdict.
    op.create_index("ix_findings_submission_check_verdict", "findings",
                    ["submission_id", "check", "verdict"])
    _make_audit_log_append_only()


def _make_audit_log_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END $$""")
        op.execute("CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_findings_submission_check_verdict", table_name="findings")
    op.drop_table("audit_log")
    op.drop_table("decisions")
    op.drop_table("finding_labels")
    op.drop_table("api_keys")
    op.drop_table("login_failures")
    op.drop_table("staff_sessions")
    op.drop_table("users")
    op.drop_table("queue_flags")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_created")
        batch_op.drop_index("ix_submissions_queue_member")
        batch_op.drop_index("ix_submissions_queue_procedure")
        batch_op.drop_index("ix_submissions_queue")
        batch_op.drop_column("queue_priority")
        batch_op.drop_column("is_latest")
