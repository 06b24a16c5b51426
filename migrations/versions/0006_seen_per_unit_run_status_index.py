"""what a run saw is handed over per unit; source digests; sync_runs indexed by status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

A run used to mark every snapshot row it saw (``last_seen_at``,
``last_seen_run``): one row write per record per run, even when nothing
changed. Each unit now hands its run the source ids it saw as one ``run_items``
row (kind ``seen``), and the run's finish archives what no unit saw.

``source_digest`` keeps a digest of the source record whose properties HubSpot
confirmed: a record whose digest is unchanged needs no mapping or comparison.

Workers look for the units of active runs on every claim; the status index
keeps that a lookup instead of a scan of every unit ever run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("synced_records") as batch:
        batch.drop_column("last_seen_run")
        batch.drop_column("last_seen_at")
        batch.add_column(sa.Column("source_digest", sa.String(length=32), nullable=True))
    op.create_index("ix_sync_runs_status", "sync_runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_status", table_name="sync_runs")
    with op.batch_alter_table("synced_records") as batch:
        batch.drop_column("source_digest")
        batch.add_column(
            sa.Column(
                "last_seen_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch.add_column(sa.Column("last_seen_run", sa.Integer(), nullable=True))
