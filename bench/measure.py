"""Measuring a process of its own, and reading the sandboxes' request logs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ProcessStats:
    """What one finished child process cost (``os.wait4``: its own usage and its
    reaped descendants')."""

    wall: float
    cpu_user: float
    cpu_system: float
    max_rss_mb: float
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system


def _launcher(args: Sequence[str]) -> tuple[list[str], Path]:
    """``python -m bench.launch`` around ``python <args>``; and where it writes the usage."""
    fd, name = tempfile.mkstemp(prefix="bench-usage-", suffix=".json")
    os.close(fd)
    usage = Path(name)
    return [sys.executable, "-m", "bench.launch", str(usage), "--", *args], usage


def _usage(path: Path, fallback_wall: float, returncode: int) -> ProcessStats:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    finally:
        path.unlink(missing_ok=True)
    nan = float("nan")
    return ProcessStats(
        wall=float(data.get("wall", fallback_wall)),
        cpu_user=float(data.get("utime", nan)),
        cpu_system=float(data.get("stime", nan)),
        max_rss_mb=float(data.get("maxrss_kb", nan)) / 1024,
        returncode=int(data.get("returncode", returncode)),
    )


def run_measured(
    args: Sequence[str], env: dict[str, str], *, timeout: float = 3600.0
) -> ProcessStats:
    """Run ``python <args>`` to its end; wall, CPU and peak RSS of that process alone."""
    command, usage = _launcher(args)
    started = time.monotonic()
    with open(os.devnull, "rb") as stdin:
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"python {' '.join(args)} ran over {timeout:.0f} s") from exc
    stats = _usage(usage, time.monotonic() - started, done.returncode)
    stats.stdout, stats.stderr = done.stdout, done.stderr
    return stats


def start_group(
    args: Sequence[str], env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[str], Any]:
    """Start ``python <args>`` (under the launcher) in its own session, output to ``log_path``."""
    command, usage = _launcher(args)
    handle = open(log_path, "w")  # noqa: SIM115 - closed by stop_group
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, (handle, usage)


def stop_group(process: subprocess.Popen[str], handle: Any) -> ProcessStats:
    """SIGTERM the run (through its launcher), wait for it, return its usage."""
    log, usage = handle
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)  # the launcher passes it on
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    log.close()
    return _usage(usage, time.monotonic() - started, process.returncode)


# -------------------------------------------------------------------- logs
def hubspot_kind(method: str, path: str) -> str:
    """The gateway's call kinds, from a HubSpot request line."""
    if path.startswith(("/crm/v3/properties", "/crm/properties/")):
        return "properties"
    if path.startswith(("/crm/v4/associations", "/crm/associations/")):
        if path.endswith("/batch/archive"):
            return "unassociate"
        if path.endswith("/batch/read"):
            return "read"
        return "associate"
    if path.endswith("/search"):
        return "search"
    for action in ("upsert", "read", "create", "update", "archive"):
        if path.endswith(f"/batch/{action}"):
            return action
    return f"{method} other"


@dataclass
class HubSpotLog:
    records: list[list[Any]]  # [method, path, status, batch_size, at]

    def crm(self) -> list[list[Any]]:
        return [r for r in self.records if str(r[1]).startswith("/crm/")]

    def by_kind(self) -> Counter[str]:
        return Counter(hubspot_kind(r[0], r[1]) for r in self.crm())

    def count_429(self) -> int:
        return sum(1 for r in self.crm() if r[2] == 429)

    def total(self) -> int:
        return len(self.crm())

    def writes(self) -> int:
        kinds = ("upsert", "create", "update", "archive", "associate", "unassociate")
        return sum(1 for r in self.crm() if hubspot_kind(r[0], r[1]) in kinds) + sum(
            1
            for r in self.crm()
            if r[1].startswith(("/crm/v3/properties", "/crm/properties/")) and r[0] != "GET"
        )

    def max_in_window(self, window: float = 10.0, *, admitted_only: bool = True) -> int:
        """The most requests in any rolling ``window`` seconds (429-refused ones left out)."""
        times = sorted(
            float(r[4])
            for r in self.crm()
            if not (admitted_only and r[2] == 429) and not str(r[1]).endswith("/search")
        )
        return max_in_window(times, window)

    def span(self) -> float:
        times = [float(r[4]) for r in self.crm()]
        return max(times) - min(times) if times else 0.0


def max_in_window(times: Sequence[float], window: float) -> int:
    best = 0
    for i, t in enumerate(times):
        # requests at or after t - window + ε, up to and including t
        j = bisect_left(times, t - window + 1e-9)
        best = max(best, i - j + 1)
    return best


@dataclass
class WorkwaysLog:
    records: list[list[Any]]  # [method, path, query, status, at]
    kinds: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for method, path, query, _status, _at in self.records:
            if path.endswith("/organization-info") and "id" in query:
                kind = "organization detail"
            elif path.endswith("/organization-info"):
                kind = "organization pages"
            elif path.endswith("/user-info") and "id" not in query:
                kind = "user pages"
            else:
                kind = f"{method} {path}"
            self.kinds[kind] += 1

    def total(self) -> int:
        return len(self.records)


def pages(records: int, size: int = 200) -> int:
    return max(1, math.ceil(records / size))


def ceil_div(n: int, d: int) -> int:
    return math.ceil(n / d) if n > 0 else 0


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value >= 100:
        return f"{value:,.0f}×"
    if value < 0.1:
        return f"{value:.2g}×"
    return f"{value:.2f}×"


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ------------------------------------------------------------ machine load
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (``/proc/stat``)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user/nice
    return (sum(fields) - idle - guest) / _TICK


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by a live process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            tail = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(tail[11]) + int(tail[12])) / _TICK


@dataclass
class CpuWatch:
    """Machine-wide busy CPU and the sandbox process's CPU over a stretch of time."""

    sandbox_pid: int
    busy0: float = 0.0
    sandbox0: float = 0.0
    busy: float = 0.0
    sandbox: float = 0.0

    def start(self) -> CpuWatch:
        self.busy0, self.sandbox0 = machine_busy(), process_cpu(self.sandbox_pid)
        return self

    def stop(self) -> CpuWatch:
        self.busy = machine_busy() - self.busy0
        self.sandbox = process_cpu(self.sandbox_pid) - self.sandbox0
        return self


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of process group ``pgid``."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                tail = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(tail[2]) == pgid:
            total += (int(tail[11]) + int(tail[12])) / _TICK
    return total
