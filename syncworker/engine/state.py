"""The records of one run: its result, progress events and working state."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncworker.engine.plan import PlannedChange
from syncworker.sources.streams import Record, Stream

COUNTERS = (
    "seen",
    "created",
    "updated",
    "unchanged",
    "archived",
    "failed",
    "conflicts",
    "quarantined",
    "adopted",  # existing HubSpot records taken over (see engine/adopt.py)
    "clashes",  # records sent without an e-mail another record holds
    # newsletter consent (see consent/sync.py): statuses written, conflicts left alone
    "consent_subscribed",
    "consent_unsubscribed",
    "consent_conflicts",
    # details fetched again because they were old (engine/details.py), and of those
    # the ones whose details had changed
    "details_refreshed",
    "details_changed",
)


class ConflictPolicy(Protocol):
    """Decides what to push when a two-way field changed on both sides."""

    def resolve(
        self, stream: Stream, changes: list[PlannedChange], hubspot_ids: dict[str, str]
    ) -> tuple[list[PlannedChange], int]: ...


@dataclass
class RunResult:
    """What one run of one stream did."""

    stream: str
    run_id: int | None = None
    mode: str = "incremental"
    dry_run: bool = False
    status: str = "running"  # succeeded | finished_with_failures | aborted
    counts: Counter[str] = field(default_factory=Counter)
    hubspot_calls: Counter[str] = field(default_factory=Counter)
    source_calls: int = 0
    planned: list[PlannedChange] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    stream: str
    page: int
    pages: int
    counts: Counter[str]
    queued: int = 0  # changes waiting for a full batch


@dataclass
class Pending:
    change: PlannedChange
    hubspot_id: str | None
    # The source record's digest, stored with the snapshot once HubSpot confirmed
    # every property the change sends (see ObjectMapping.source_digest).
    digest: str | None = None

    def hand_over(self) -> dict[str, Any]:
        """The change as a JSON payload, for a run's finish to push (see
        store/partitions.py)."""
        change = self.change
        return {
            "action": change.action,
            "properties": dict(change.properties),
            "previous": dict(change.previous),
            "hubspot_id": self.hubspot_id,
            "digest": self.digest,
        }

    @classmethod
    def handed_over(cls, stream: str, source_id: str, payload: Mapping[str, Any]) -> Pending:
        """The change a partition handed over (:meth:`hand_over`)."""
        change = PlannedChange(
            stream, source_id, payload["action"], payload["properties"], payload["previous"]
        )
        return cls(change, payload["hubspot_id"], payload.get("digest"))


@dataclass
class RunState:
    stream: Stream
    result: RunResult
    full: bool
    dry_run: bool
    seen: set[str] = field(default_factory=set)
    complete: bool = True
    pending: list[Pending] = field(default_factory=list)
    moves: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    fence: int | None = None  # the stream lock's fencing token
    enrich: Callable[[Record], Record] | None = None
    in_flight: deque[Future[Counter[str]]] = field(default_factory=deque)
    holds_quarantined: bool | None = None  # whether the stream has quarantined records
    holds_suppressed: bool | None = None  # whether it has suppressed records (reconcile)


# fail(source_id, stage, message, category=None, existing_id=None)
Fail = Callable[..., None]
