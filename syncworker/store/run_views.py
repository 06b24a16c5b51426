"""What workers read of a run split into units: a unit's claim, a run's view."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncworker.store.models import RunUnit, SyncRun
from syncworker.tally import HUBSPOT


@dataclass(frozen=True)
class UnitClaim:
    """A unit claimed by a worker, with what it needs to know of its run."""

    unit_id: int
    run_id: int
    stream: str
    first_page: int
    last_page: int
    full: bool
    fence: int | None
    lease: str | None
    planned_pages: int
    planned_total: int


@dataclass(frozen=True)
class RunView:
    """A detached view of a run split into units."""

    run_id: int
    stream: str
    status: str
    full: bool
    trigger: str
    fence: int | None
    lease: str | None
    after_run_id: int | None
    incomplete: bool
    units_total: int
    units_done: bool
    allow_mass_archive: bool = False  # a person confirmed a mass archive
    counts: Counter[str] = field(default_factory=Counter)
    hubspot_calls: Counter[str] = field(default_factory=Counter)
    duplicate_pages: tuple[tuple[int, int], ...] = ()  # (page, earlier page) with equal ids

    def add(self, recorded: Mapping[str, int]) -> None:
        """Count in what a unit (or other work for the run) recorded: its counts and
        its HubSpot calls by kind (``hubspot:<kind>``)."""
        for name, value in recorded.items():
            if name.startswith(HUBSPOT):
                self.hubspot_calls[name.removeprefix(HUBSPOT)] += int(value)
            else:
                self.counts[name] += int(value)


def run_view(session: Session, run: SyncRun) -> RunView:
    """``run`` with its units' counts and page fingerprints added up."""
    view = RunView(
        run.id,
        run.stream,
        run.status,
        run.mode == "full",
        run.trigger,
        run.fence,
        run.lease,
        run.after_run_id,
        run.incomplete,
        run.units_total,
        run.units_done_at is not None,
        run.allow_mass_archive,
    )
    view.add(run.outside_counts or {})  # work done for it outside its units
    first_seen: dict[str, int] = {}
    duplicates = []
    units = session.scalars(select(RunUnit).where(RunUnit.run_id == run.id).order_by(RunUnit.seq))
    for unit in units:
        view.add(unit.counts or {})
        for page, digest in sorted((unit.fingerprints or {}).items(), key=lambda kv: int(kv[0])):
            if digest in first_seen:
                duplicates.append((int(page), first_seen[digest]))
            else:
                first_seen[digest] = int(page)
    return dataclasses.replace(view, duplicate_pages=tuple(duplicates))
