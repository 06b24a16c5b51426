"""alert state: one row per alert condition, so several workers alert once

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12

Each condition (a stale stream, a failed run, quarantined records, the daily
budget, the outbox's age) has one row saying whether it fires and whether its
latest message went out. Workers move a row with a compare-and-set on
``version``, so only one of them sends each message.

(Written beside 0009 and 0010 on other branches: rebase ``down_revision`` onto
the newest of them when merging.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sending_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
