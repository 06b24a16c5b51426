"""Command-line options of ``python -m bench``; the defaults are what ``make bench`` runs."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = ("initial", "nochange", "changed", "naive", "workers", "webhooks")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Options:
    users: int
    orgs: int
    seed: int
    rate_limit: int
    latency_ms: float
    workways_latency_ms: float
    postgres_url: str | None
    redis_url: str
    only: tuple[str, ...]
    naive_users: int
    workers: tuple[int, ...]
    webhook_events: int
    webhook_users: int
    webhook_orgs: int
    slow_clients: int
    change_share: float
    repeat: int
    output: Path
    argv: tuple[str, ...]

    @property
    def naive_orgs(self) -> int:
        return max(1, math.ceil(self.orgs * self.naive_users / self.users))

    @property
    def per_second(self) -> float:
        return self.rate_limit / 10.0

    def wants(self, scenario: str) -> bool:
        return scenario in self.only


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark syncworker against the local sandboxes; writes BENCHMARKS.md.",
    )
    parser.add_argument("--users", type=int, default=20_000, help="Workways users (20,000)")
    parser.add_argument("--orgs", type=int, default=2_000, help="Workways organizations (2,000)")
    parser.add_argument(
        "--large", action="store_true", help="100,000 users and 10,000 organizations"
    )
    parser.add_argument("--seed", type=int, default=42, help="population seed (42)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=190,
        metavar="N",
        help="HubSpot requests per rolling 10 s, enforced by the sandbox and configured "
        "in syncworker (190)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=80.0, help="HubSpot sandbox latency (80)"
    )
    parser.add_argument(
        "--workways-latency-ms", type=float, default=40.0, help="Workways sandbox latency (40)"
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        metavar="URL",
        help="use PostgreSQL instead of SQLite: a server URL whose user may create "
        "databases (scratch databases syncworker_bench_* are created and dropped)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/6",
        help="Redis for scenarios workers and webhooks; this database is FLUSHED "
        "(redis://127.0.0.1:6379/6)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios, from {','.join(SCENARIOS)} (all); nochange and "
        "changed run after initial, which then runs too",
    )
    parser.add_argument(
        "--naive-users",
        type=int,
        default=2_000,
        help="users in the naive baseline's sample; organizations in proportion (2,000)",
    )
    parser.add_argument(
        "--workers", default="1,2,4", help="Celery worker process counts to measure (1,2,4)"
    )
    parser.add_argument(
        "--webhook-events", type=int, default=200, help="write-back events timed (200)"
    )
    parser.add_argument(
        "--slow-clients",
        type=int,
        default=50,
        help="connections trickling a body to the receiver while write-back is timed (50)",
    )
    parser.add_argument(
        "--webhook-users",
        type=int,
        default=1_000,
        help="population of the write-back scenario's own sandboxes (1,000 users)",
    )
    parser.add_argument("--webhook-orgs", type=int, default=100)
    parser.add_argument(
        "--change-share",
        type=float,
        default=0.01,
        help="share of users and organizations changed in scenario changed (0.01)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="no-change runs and paging references (measured alternately), and each "
        "worker scenario: how many times; the median of each is reported (3)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.large:
        args.users, args.orgs = 100_000, 10_000
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {SCENARIOS}")
    if {"nochange", "changed"} & set(only) and "initial" not in only:
        only = ("initial", *only)
    only = tuple(s for s in SCENARIOS if s in only)
    workers = tuple(int(n) for n in args.workers.split(",") if n.strip())
    if args.naive_users > args.users:
        args.naive_users = args.users
    return Options(
        users=args.users,
        orgs=args.orgs,
        seed=args.seed,
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        workways_latency_ms=args.workways_latency_ms,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        only=only,
        naive_users=args.naive_users,
        workers=workers,
        webhook_events=args.webhook_events,
        webhook_users=args.webhook_users,
        webhook_orgs=args.webhook_orgs,
        slow_clients=args.slow_clients,
        change_share=args.change_share,
        repeat=args.repeat,
        output=args.output,
        argv=tuple(argv),
    )
