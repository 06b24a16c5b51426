"""``python -m bench`` (``make bench``): run the scenarios, write BENCHMARKS.md.

Scenarios (``--only``): initial, nochange, changed, naive, workers, webhooks.
See BENCHMARKS.md for what each measures and ``python -m bench --help`` for flags.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from bench import cluster, report, scenarios
from bench.options import parse
from bench.results import Result
from bench.stores import Stores

# Settings a developer's shell may hold: the runs under test get only what we give them.
_SYNCWORKER_VARIABLES = (
    "WORKWAYS_BASE_URL",
    "WORKWAYS_API_TOKEN",
    "HUBSPOT_BASE_URL",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_CLIENT_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "HUBSPOT_RATE_TIER",
    "HUBSPOT_RATE_LIMIT_PER_10S",
    "WORKADU_BASE_URL",
    "WORKADU_API_KEY",
    "WEBHOOK_PUBLIC_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    for name in _SYNCWORKER_VARIABLES:
        os.environ.pop(name, None)
    started_at = datetime.now(UTC)
    began = time.monotonic()
    stores = Stores(opts.postgres_url)
    results: dict[str, Result] = {}
    skipped: dict[str, str] = {}
    say(f"scenarios: {', '.join(opts.only)}; output {opts.output}")

    def attempt(name: str, run: Callable[[], None]) -> None:
        """Run one scenario; a failure is reported in BENCHMARKS.md, the others still run."""
        try:
            run()
        except Exception as exc:
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            say(f"{name} FAILED: {exc!r}")
            traceback.print_exc()

    def sync_group() -> None:
        results.update(scenarios.sync_scenarios(opts, stores, say))

    def naive() -> None:
        results["naive"] = scenarios.naive_scenario(opts, say)
        for key in ("initial", "nochange", "changed", "naive"):
            if key in results:
                results[key].baseline_wall = results["naive"].seconds

    def workers() -> None:
        # A run of several processes on a shared 2-core machine varies by a second or
        # more from one try to the next: each is measured ``--repeat`` times, the
        # median shown.
        for n in opts.workers:
            tries = [
                cluster.workers_scenario(opts, stores, n, say, attempt)
                for attempt in range(1, opts.repeat + 1)
            ]
            results[f"workers-{n}"] = scenarios.median(tries)
        one = results.get("workers-1")
        for n in opts.workers:
            if one:
                results[f"workers-{n}"].baseline_wall = one.seconds

    def webhooks() -> None:
        results["webhooks"] = cluster.webhooks_scenario(opts, stores, say)

    try:
        if opts.wants("initial"):
            attempt("initial", sync_group)
        if opts.wants("naive"):
            attempt("naive", naive)
        needs_redis = [s for s in ("workers", "webhooks") if opts.wants(s)]
        problem = cluster.redis_problem(opts.redis_url) if needs_redis else None
        if problem:
            for scenario in needs_redis:
                skipped[scenario] = f"Redis is not reachable at {opts.redis_url} ({problem})."
                say(f"skipping {scenario}: {skipped[scenario]}")
        else:
            if opts.wants("workers"):
                attempt("workers", workers)
            if opts.wants("webhooks"):
                attempt("webhooks", webhooks)
    finally:
        failed = any(reason.startswith("failed") for reason in skipped.values())
        if failed:
            say(f"a scenario failed: its process logs are kept in {stores.folder}")
        stores.cleanup(keep_files=failed)
    elapsed = time.monotonic() - began
    text = report.render(opts, results, skipped, stores.kind, elapsed, started_at)
    opts.output.write_text(text)
    print(json.dumps(report.dump(results), indent=1, default=str))
    say(f"wrote {opts.output} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
