"""consent events: the audit of newsletter consent decisions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08

Each consent change the worker makes in HubSpot (subscribe/unsubscribe to the
configured subscription type), each one it writes back to Workways, and each
conflict it leaves alone, with when, direction, old and new status, legal basis
and trigger. No e-mail addresses: records are named by their ids.

MERGE NOTE: written on the ``consent`` branch while 0009 was being written
elsewhere; rebase ``down_revision`` onto "0009" when both are merged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("hubspot_id", sa.String(32), nullable=True),
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("old_status", sa.String(16), nullable=False),
        sa.Column("new_status", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=True),
        sa.Column("trigger", sa.String(128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_consent_events_source", "consent_events", ["stream", "source_id"])


def downgrade() -> None:
    op.drop_index("ix_consent_events_source", table_name="consent_events")
    op.drop_table("consent_events")
