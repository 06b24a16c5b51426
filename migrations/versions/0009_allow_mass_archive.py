"""a run remembers whether a person confirmed a mass archive

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A complete pass that would archive more than ``ARCHIVE_GUARD_PERCENT`` of a
stream's synced records archives nothing unless the run was started with
``syncworker sync --allow-mass-archive``; the run's finish may happen on another
worker, so the run's row carries the confirmation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(
            sa.Column("allow_mass_archive", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("allow_mass_archive")
