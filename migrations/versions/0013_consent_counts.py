"""sync runs count their consent decisions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Every newsletter consent decision a run makes is counted on its row, as its
other totals are: contacts subscribed and unsubscribed in HubSpot to the
configured subscription type, and conflicts left alone (unsubscribed in HubSpot,
opted in in Workways: not re-subscribed). Until now these counts lived only in
the memory of the run; ``syncworker status`` shows them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ("consent_subscribed", "consent_unsubscribed", "consent_conflicts")


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        for name in COLUMNS:
            batch.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
