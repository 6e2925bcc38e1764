"""The lab's networks (Dallinger's): networks, their nodes, the vectors between
nodes, the infos nodes make and the transmissions of infos along vectors.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from moalab.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _network_id() -> sa.Column:
    return sa.Column("network_id", sa.Integer,
                     sa.ForeignKey("networks.id", ondelete="CASCADE"), nullable=False)


def _node_id(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                     nullable=False)


def _common() -> list[sa.Column]:
    return [sa.Column("failed", sa.Boolean, nullable=False),
            sa.Column("creation_time", UTCDateTime, nullable=False)]


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(300), nullable=False),
        sa.Column("protocol", sa.String(200)),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("max_size", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("creation_time", UTCDateTime, nullable=False),
        sa.CheckConstraint("size <= max_size", name="network_not_overfull"),
        sa.CheckConstraint("role IN ('practice', 'experiment')", name="network_role"),
        sqlite_autoincrement=True,
    )
    op.create_index("networks_by_protocol_role", "networks", ["protocol", "role"])
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        _network_id(),
        sa.Column("type", sa.String(300), nullable=False),
        sa.Column("participant", sa.String(200)),
        sa.Column("session_id", sa.String(12),
                  sa.ForeignKey("sessions.id", ondelete="SET NULL")),
        sa.Column("fitness", sa.Float),
        sa.Column("generation", sa.Integer),
        sa.Column("properties", sa.JSON, nullable=False),
        *_common(),
        sa.Column("time_of_death", UTCDateTime),
        sa.UniqueConstraint("network_id", "participant", name="one_node_per_participant"),
        sqlite_autoincrement=True,
    )
    op.create_index("nodes_by_network", "nodes", ["network_id"])
    op.create_index("nodes_by_session", "nodes", ["session_id"])
    op.create_table(
        "vectors",
        sa.Column("id", sa.Integer, primary_key=True),
        _network_id(),
        _node_id("origin_id"),
        _node_id("destination_id"),
        *_common(),
        sqlite_autoincrement=True,
    )
    op.create_index("one_live_vector_per_pair", "vectors", ["origin_id", "destination_id"],
                    unique=True, sqlite_where=sa.text("NOT failed"),
                    postgresql_where=sa.text("NOT failed"))
    op.create_index("vectors_by_network", "vectors", ["network_id"])
    op.create_table(
        "infos",
        sa.Column("id", sa.Integer, primary_key=True),
        _network_id(),
        _node_id("origin_id"),
        sa.Column("type", sa.String(300), nullable=False),
        sa.Column("contents", sa.JSON),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="SET NULL")),
        *_common(),
        sqlite_autoincrement=True,
    )
    op.create_index("infos_by_network", "infos", ["network_id"])
    op.create_table(
        "transmissions",
        sa.Column("id", sa.Integer, primary_key=True),
        _network_id(),
        sa.Column("vector_id", sa.Integer, sa.ForeignKey("vectors.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("info_id", sa.Integer, sa.ForeignKey("infos.id", ondelete="CASCADE"),
                  nullable=False),
        _node_id("origin_id"),
        _node_id("destination_id"),
        sa.Column("status", sa.String(20), nullable=False),
        *_common(),
        sa.Column("receive_time", UTCDateTime),
        sa.CheckConstraint("status IN ('pending', 'received')", name="transmission_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("transmissions_by_network", "transmissions", ["network_id"])
    op.create_index("transmissions_by_destination", "transmissions",
                    ["destination_id", "status"])


def downgrade() -> None:
    for table in ("transmissions", "infos", "vectors", "nodes", "networks"):
        op.drop_table(table)
