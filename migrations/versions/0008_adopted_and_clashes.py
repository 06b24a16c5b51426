"""runs count adopted records and e-mail clashes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A Workways user whose e-mail a HubSpot contact already holds adopts that contact
(``adopted``); a user whose e-mail another user's contact holds is sent without
it (``clashes``). Both are counted per run, for the run summary and ``status``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("adopted", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("clashes", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("clashes")
        batch.drop_column("adopted")
