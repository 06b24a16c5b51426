"""What a scenario measured, in one shape for the report."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.measure import HubSpotLog, ProcessStats, WorkwaysLog


@dataclass
class StreamSummary:
    stream: str
    status: str
    counts: dict[str, int]
    hubspot_calls: int
    workways_calls: int


_HEAD = re.compile(r"^(\S+) \((\w+)[^)]*\)(?: run #\d+)?: (\S+)$")
_COUNT = re.compile(r"(seen|created|updated|unchanged|archived|failed) (\d+)")
_CALLS = re.compile(r"HubSpot calls: (\d+) .*; Workways calls: (\d+)")


def parse_summaries(stdout: str) -> list[StreamSummary]:
    """The per-stream summaries ``syncworker sync`` prints on stdout."""
    found: list[StreamSummary] = []
    for line in stdout.splitlines():
        head = _HEAD.match(line.strip())
        if head:
            found.append(StreamSummary(head.group(1), head.group(3), {}, 0, 0))
            continue
        if not found:
            continue
        if line.strip().startswith("seen "):
            found[-1].counts = {k: int(v) for k, v in _COUNT.findall(line)}
        calls = _CALLS.search(line)
        if calls:
            found[-1].hubspot_calls = int(calls.group(1))
            found[-1].workways_calls = int(calls.group(2))
    return found


@dataclass
class Result:
    key: str
    title: str
    stats: ProcessStats | None = None
    wall: float | None = None  # defaults to stats.wall
    hubspot: HubSpotLog | None = None
    workways: WorkwaysLog | None = None
    upsert_lb: int = 0
    associate_lb: int = 0
    workways_lb: int = 0
    baseline_wall: float | None = None
    floor: float | None = None
    summaries: list[StreamSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        if self.wall is not None:
            return self.wall
        return self.stats.wall if self.stats else None

    @property
    def needed(self) -> int:
        return self.upsert_lb + self.associate_lb

    @property
    def kinds(self) -> Counter[str]:
        return self.hubspot.by_kind() if self.hubspot else Counter()

    @property
    def count_429(self) -> int:
        return self.hubspot.count_429() if self.hubspot else 0

    @property
    def share_429(self) -> float:
        total = self.hubspot.total() if self.hubspot else 0
        return self.count_429 / total if total else 0.0

    @property
    def vs_floor(self) -> float | None:
        if self.floor is None or self.floor <= 0 or self.seconds is None:
            return None
        return self.seconds / self.floor

    @property
    def vs_baseline(self) -> float | None:
        if not self.baseline_wall or self.seconds is None:
            return None
        return self.seconds / self.baseline_wall

    def count(self, name: str) -> int:
        return sum(s.counts.get(name, 0) for s in self.summaries)
