"""The lab's asset records: assets (cached, a session's deposits, external) and the
links that attach them under a name to a protocol, stage, session, subject, trial or
node.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from moalab.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(1024), unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("extension", sa.String(40), nullable=False),
        sa.Column("personal", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("session_id", sa.String(12),
                  sa.ForeignKey("sessions.id", ondelete="CASCADE")),
        sa.Column("local_key", sa.String(200)),
        sa.Column("input_path", sa.Text),
        sa.Column("delete_input", sa.Boolean, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("deposited", UTCDateTime),
        sa.CheckConstraint("kind IN ('cached', 'experiment', 'external')", name="asset_kind"),
        sa.CheckConstraint("status IN ('stored', 'pending', 'deposited', 'failed')",
                           name="asset_status"),
        sa.UniqueConstraint("session_id", "local_key", name="one_deposit_per_local_key"),
    )
    op.create_table(
        "asset_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("owner_kind", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.CheckConstraint("owner_kind IN ('protocol', 'stage', 'session', 'subject', "
                           "'trial', 'node')", name="asset_link_owner_kind"),
        sa.UniqueConstraint("owner_kind", "owner", "name", name="one_asset_per_owner_name"),
    )
    op.create_index("asset_links_by_asset", "asset_links", ["asset_id"])


def downgrade() -> None:
    for table in ("asset_links", "assets"):
        op.drop_table(table)
