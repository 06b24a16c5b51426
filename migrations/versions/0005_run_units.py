"""runs split into units of work: units, hand-over items, seen markers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("synced_records") as batch:
        batch.add_column(sa.Column("last_seen_run", sa.Integer(), nullable=True))
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("units_total", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("planned_pages", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("planned_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fence", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("lease", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("after_run_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("incomplete", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("units_done_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finishing_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "run_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_page", sa.Integer(), nullable=False),
        sa.Column("last_page", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "seq", name="uq_run_units_seq"),
    )
    op.create_index("ix_run_units_run_id", "run_units", ["run_id"])
    op.create_table(
        "run_items",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "kind", "source_id"),
    )


def downgrade() -> None:
    op.drop_table("run_items")
    op.drop_index("ix_run_units_run_id", table_name="run_units")
    op.drop_table("run_units")
    with op.batch_alter_table("sync_runs") as batch:
        for name in (
            "finishing_at",
            "units_done_at",
            "incomplete",
            "after_run_id",
            "lease",
            "fence",
            "planned_total",
            "planned_pages",
            "units_total",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("synced_records") as batch:
        batch.drop_column("last_seen_run")
