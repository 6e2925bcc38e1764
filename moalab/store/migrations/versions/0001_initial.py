"""The first lab schema: subjects, rigs, sessions, trials, session state,
qualifications, counters.

Revision ID: 0001
Revises: none
"""

import sqlalchemy as sa
from alembic import op

from moalab.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("species", sa.String(200)),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("dob", sa.Date),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("personal", sa.JSON, nullable=False),
        sa.CheckConstraint("sex IN ('F', 'M', 'U')", name="subject_sex"),
    )
    op.create_table(
        "rigs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("executor", sa.String(20), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("port", sa.Integer),
        sa.CheckConstraint("executor IN ('websocket', 'rest', 'process', 'thread')",
                           name="rig_executor"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("protocol", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("rig_id", sa.Integer, sa.ForeignKey("rigs.id")),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("started", UTCDateTime),
        sa.Column("ended", UTCDateTime),
        sa.Column("data_dir", sa.String(500), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("owner_host", sa.String(255)),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("heartbeat", UTCDateTime),
        sa.CheckConstraint("status IN ('created', 'running', 'interrupted', 'submitted', "
                           "'failed', 'abandoned')", name="session_status"),
        sa.CheckConstraint("kind IN ('main', 'training', 'screening')", name="session_kind"),
    )
    op.create_index("one_running_session_per_subject", "sessions", ["subject_id"],
                    unique=True, sqlite_where=sa.text("status = 'running'"),
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("sessions_by_subject_protocol", "sessions", ["subject_id", "protocol"])
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(12),
                  sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("start", sa.Float),
        sa.Column("end", sa.Float),
        sa.UniqueConstraint("session_id", "index", name="one_trial_per_index"),
    )
    op.create_table(
        "session_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(12),
                  sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("init", sa.JSON),
        sa.Column("data", sa.JSON),
    )
    op.create_table(
        "qualifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("granted", UTCDateTime, nullable=False),
        sa.Column("revoked", UTCDateTime),
    )
    op.create_index("one_current_qualification", "qualifications", ["subject_id", "name"],
                    unique=True, sqlite_where=sa.text("revoked IS NULL"),
                    postgresql_where=sa.text("revoked IS NULL"))
    op.create_table(
        "counters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("counters", "qualifications", "session_state", "trials", "sessions",
                  "rigs", "subjects"):
        op.drop_table(table)
