"""a unit's sightings and a run's outside work move out of run_items

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``run_items`` held five kinds of rows. What a unit saw now lives on the unit's
own row (``run_units.seen``), and work done for a run outside its units (a
parent run's finish linking a child run's moves) is added to the run's row
(``sync_runs.outside_counts``). ``run_items`` keeps the two kinds of hand-over
that wait for whole batches: ``change`` and ``move``. Runs going while this
migration runs should be let finish first (``syncworker status``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_units") as batch:
        batch.add_column(sa.Column("seen", sa.JSON(), nullable=True))
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("outside_counts", sa.JSON(), nullable=True))
    op.execute("DELETE FROM run_items WHERE kind IN ('seen', 'tally')")
    op.execute("UPDATE run_items SET kind = 'move' WHERE kind = 'linking'")


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("outside_counts")
    with op.batch_alter_table("run_units") as batch:
        batch.drop_column("seen")
