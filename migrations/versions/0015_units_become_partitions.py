"""units of work become partitions; runs no longer wait for a parent run by id

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

A run's ranges of source pages are called partitions, as in the data-pipeline
tools a newcomer knows: ``run_units`` becomes ``run_partitions`` (rows copied),
``sync_runs.units_total``/``units_done_at`` become ``partitions_total``/
``partitions_done_at``. ``sync_runs.after_run_id`` goes: a run's finish now waits
for whichever run of its parent stream is going. Let runs going while this
migration runs finish first (``syncworker status``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, run_id, seq, first_page, last_page, status, attempts, worker, started_at, "
    "heartbeat_at, finished_at, counts, fingerprints, seen"
)


def _table(name: str, unique: str) -> None:
    op.create_table(
        name,
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
        sa.Column("seen", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "seq", name=unique),
    )
    op.create_index(f"ix_{name}_run_id", name, ["run_id"])


def _move(old: str, new: str, unique: str) -> None:
    _table(new, unique)
    op.execute(f"INSERT INTO {new} ({COLUMNS}) SELECT {COLUMNS} FROM {old}")  # noqa: S608
    if op.get_bind().dialect.name == "postgresql":  # new ids continue after the copied ones
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{new}', 'id'), "  # noqa: S608
            f"COALESCE((SELECT MAX(id) FROM {new}), 0) + 1, false)"
        )
    op.drop_index(f"ix_{old}_run_id", table_name=old)
    op.drop_table(old)


def upgrade() -> None:
    _move("run_units", "run_partitions", "uq_run_partitions_seq")
    with op.batch_alter_table("sync_runs") as batch:
        batch.alter_column("units_total", new_column_name="partitions_total")
        batch.alter_column("units_done_at", new_column_name="partitions_done_at")
        batch.drop_column("after_run_id")


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("after_run_id", sa.Integer(), nullable=True))
        batch.alter_column("partitions_done_at", new_column_name="units_done_at")
        batch.alter_column("partitions_total", new_column_name="units_total")
    _move("run_partitions", "run_units", "uq_run_units_seq")
