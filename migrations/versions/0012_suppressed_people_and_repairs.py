"""snapshot rows can be suppressed; runs keep their repairs by kind

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-14

Drift repair (``syncworker reconcile``): a person deleted for privacy in HubSpot
is never brought back, and a record merged into another record of its own stream
is never created again; their snapshot rows say so (``suppressed``: ``privacy``
or ``merged``) and the sync skips them. A reconcile run records its repairs,
counted by kind (``repairs``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("synced_records") as batch:
        batch.add_column(sa.Column("suppressed", sa.String(16), nullable=True))
    op.create_index(
        "ix_synced_records_suppressed",
        "synced_records",
        ["stream", "suppressed"],
        postgresql_where=sa.text("suppressed IS NOT NULL"),
        sqlite_where=sa.text("suppressed IS NOT NULL"),
    )
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("repairs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("repairs")
    op.drop_index("ix_synced_records_suppressed", table_name="synced_records")
    with op.batch_alter_table("synced_records") as batch:
        batch.drop_column("suppressed")
