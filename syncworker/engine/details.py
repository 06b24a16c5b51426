"""Details that do not go stale: which records' details a run fetches again.

An organization's detail arrays (rooms, sites, contract options) cost one
source call per record, so they are fetched when the record is new or one of
its listed fields changed. A room's price, an option or a site name can change
without that, so each snapshot row also keeps when its details were last
fetched and found as HubSpot holds them (``synced_records.details_at``).

A record's details are *due* once they are half of ``DETAIL_REFRESH_HOURS``
old (or their age is not known). Each page of a run refreshes at most its
share of its records, the oldest first: ``⌈records × run interval ÷ (half the
refresh window)⌉``. With a run every ``SYNC_INTERVAL_SECONDS``, that share
refreshes every record of a page within the other half of the window even when
all of them fell due at once (after the first sync, or after the upgrade that
added ``details_at``), so no record's details are older than
``DETAIL_REFRESH_HOURS``; a run's detail calls stay bounded (its share per
page), and a run right after a sync makes none. The share is decided from the
page alone, so the partitions of a run need not agree on anything.

Pure code: the engine (``sync.py``) reads the ages and fetches.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_NEVER = datetime.min.replace(tzinfo=UTC)


def refreshed_in_words(refreshed: int, changed: int) -> str:
    """A run's detail refreshes in words ("" when it made none)."""
    return f"details refreshed {refreshed} ({changed} changed)" if refreshed else ""


@dataclass(frozen=True)
class DetailRefresh:
    """How often records' details are fetched again although nothing listed changed."""

    every: timedelta = timedelta(hours=24)  # DETAIL_REFRESH_HOURS: the most they may lag
    interval: timedelta = timedelta(seconds=900)  # SYNC_INTERVAL_SECONDS: runs come this often

    @property
    def due_after(self) -> timedelta:
        """Details this old are due (the other half of the window is to catch up)."""
        return self.every / 2

    def share(self, records: int) -> int:
        """How many of a page's ``records`` one run may refresh (at least 1)."""
        if records <= 0:
            return 0
        return min(records, -(-(records * self.interval) // self.due_after))

    def due(self, ages: Mapping[str, datetime | None], records: int, now: datetime) -> set[str]:
        """Of ``ages`` (source id → when its details were last found as HubSpot holds
        them, None: not known), the oldest due, at most :meth:`share` of ``records``."""
        cutoff = now - self.due_after
        eligible = (
            (at is not None, at or _NEVER, source_id)
            for source_id, at in ages.items()
            if at is None or at <= cutoff
        )
        return {source_id for _, _, source_id in heapq.nsmallest(self.share(records), eligible)}
