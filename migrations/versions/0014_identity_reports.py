"""identity reports: a clash or an ambiguous adoption is reported once

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-20

Two Workways users with one e-mail, or a Workways organization whose name several
HubSpot companies hold, is reported (logged, with both ids) the first time a run
meets it, not on every run: ``identity_reports`` remembers what was reported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("other", sa.String(200), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stream", "source_id", "kind", "other", name="uq_identity_reports"),
    )


def downgrade() -> None:
    op.drop_table("identity_reports")
