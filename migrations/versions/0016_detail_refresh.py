"""details that do not go stale: when each record's details were last fetched

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-27

An organization's detail arrays (rooms, sites, contract options) cost one
Workways call each, so they were fetched only when a listed field changed: a
room's price changed alone never reached HubSpot. Now each snapshot row keeps
when its details were last fetched and found as HubSpot holds them
(``synced_records.details_at``; NULL: not known, so refreshed first), every run
refreshes a bounded share of the oldest, and counts what it refreshed and what
had changed (``sync_runs.details_refreshed``, ``details_changed``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COUNTERS = ("details_refreshed", "details_changed")


def upgrade() -> None:
    with op.batch_alter_table("synced_records") as batch:
        batch.add_column(sa.Column("details_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sync_runs") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        for name in reversed(COUNTERS):
            batch.drop_column(name)
    with op.batch_alter_table("synced_records") as batch:
        batch.drop_column("details_at")
