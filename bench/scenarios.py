"""Scenarios 1-4: initial full sync, no-change run, 1 % changed, naive baseline.

Every run under test is its own process (``python -m syncworker sync --quiet``,
``python -m bench.naive``); the sandboxes are another (``python -m
bench.sandboxes``). Calls are counted from the sandboxes' request logs.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable

from bench.measure import (
    ROOT,
    CpuWatch,
    HubSpotLog,
    WorkwaysLog,
    ceil_div,
    pages,
    run_measured,
)
from bench.options import Options
from bench.results import Result, parse_summaries
from bench.sandboxes import SandboxProcess
from bench.stores import Stores

# HubSpot's documented maximum of v4 association pairs per batch create.
ASSOCIATION_BATCH_MAX = 2_000

Say = Callable[[str], None]


def sandbox(opts: Options, users: int, orgs: int) -> SandboxProcess:
    return SandboxProcess(
        users=users,
        orgs=orgs,
        seed=opts.seed,
        rate_limit=opts.rate_limit,
        latency_ms=opts.latency_ms,
        workways_latency_ms=opts.workways_latency_ms,
    )


def sync_env(box: SandboxProcess, database_url: str, opts: Options) -> dict[str, str]:
    return {**box.environment(database_url), "HUBSPOT_RATE_LIMIT_PER_10S": str(opts.rate_limit)}


def upgrade(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "syncworker", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


def record_cpu(result: Result, watch: CpuWatch, measured: float | None = None) -> None:
    """Where the machine's CPU went while ``result`` ran."""
    own = measured if measured is not None else (result.stats.cpu if result.stats else 0.0)
    result.extra["cpu_machine"] = watch.busy
    result.extra["cpu_sandboxes"] = watch.sandbox
    result.extra["cpu_other"] = max(0.0, watch.busy - watch.sandbox - own)


def _measure_sync(box: SandboxProcess, env: dict[str, str], result: Result, say: Say) -> Result:
    # A migration added to the tree since the store was made would stop the run.
    upgrade(env)
    box.clear_logs()
    say(f"  {result.title}: running `syncworker sync` ...")
    watch = box.cpu_watch()
    began = time.time()
    result.stats = run_measured(["-m", "syncworker", "sync", "--quiet"], env)
    record_cpu(result, watch.stop())
    result.extra["began"] = began
    result.hubspot = HubSpotLog(box.hubspot_log())
    result.workways = WorkwaysLog(box.workways_log())
    result.summaries = parse_summaries(result.stats.stdout)
    if result.stats.returncode != 0:
        result.notes.append(
            f"`syncworker sync` exited with {result.stats.returncode}: "
            + (result.stats.stderr.strip().splitlines() or ["(no message)"])[-1]
        )
    say(
        f"  {result.title}: {result.seconds:.1f} s, {result.hubspot.total()} HubSpot calls, "
        f"{result.workways.total()} Workways calls, exit {result.stats.returncode}"
    )
    return result


def _measure_paging(
    box: SandboxProcess, env: dict[str, str], source_pages: int, say: Say
) -> Result:
    box.clear_logs()
    say("  paging reference: paging through the source only ...")
    watch = box.cpu_watch()
    paging = run_measured(["-m", "bench.pagesource"], env)
    reference = Result("paging", "reference: page through the source", stats=paging)
    record_cpu(reference, watch.stop())
    reference.workways = WorkwaysLog(box.workways_log())
    reference.workways_lb = source_pages
    reference.extra.update(json.loads(paging.stdout.strip().splitlines()[-1]))
    say(f"  paging reference: {paging.wall:.1f} s")
    return reference


def median(tries: list[Result]) -> Result:
    """The run of median wall time, noting every run's (a failed run counts as slowest)."""
    ranked = sorted(
        tries,
        key=lambda r: (r.stats is None or r.stats.returncode != 0, r.seconds or 0.0),
    )
    chosen = ranked[(len(ranked) - 1) // 2]
    chosen.extra["walls"] = [r.seconds or 0.0 for r in tries]
    for other in tries:
        if other is not chosen:
            chosen.notes.extend(n for n in other.notes if n not in chosen.notes)
    return chosen


def sync_scenarios(opts: Options, stores: Stores, say: Say) -> dict[str, Result]:
    """Scenarios 1-3 (and the paging reference) on one pair of sandboxes."""
    out: dict[str, Result] = {}
    say(f"sandboxes: {opts.users:,} users, {opts.orgs:,} organizations")
    with sandbox(opts, opts.users, opts.orgs) as box:
        env = sync_env(box, stores.new("main"), opts)
        users = box.workways_records("users")
        orgs = box.workways_records("organizations")
        with_org = sum(1 for u in users if u.get("organizationId"))
        source_pages = pages(len(users)) + pages(len(orgs))

        initial = Result("initial", "1. initial full sync")
        initial.upsert_lb = ceil_div(len(orgs), 100) + ceil_div(len(users), 100)
        initial.associate_lb = ceil_div(with_org, ASSOCIATION_BATCH_MAX)
        initial.workways_lb = source_pages + len(orgs)
        initial.floor = initial.needed / opts.per_second
        initial.extra["pairs"] = with_org
        out["initial"] = _measure_sync(box, env, initial, say)
        out["initial"].extra["objects"] = box.hubspot_objects()

        if opts.wants("nochange"):
            # Both are repeated, alternately (a shared machine's pace drifts), and
            # each reports its median run; nothing changes between them.
            runs: list[Result] = []
            references: list[Result] = []
            for _ in range(opts.repeat):
                nochange = Result("nochange", "2. no change, right after")
                nochange.workways_lb = source_pages
                nochange.floor = 0.0
                runs.append(_measure_sync(box, env, nochange, say))
                references.append(_measure_paging(box, env, source_pages, say))
            out["nochange"], out["paging"] = median(runs), median(references)

        if opts.wants("changed"):
            rng = random.Random(opts.seed)
            changed_users = rng.sample(users, max(1, round(len(users) * opts.change_share)))
            changed_orgs = rng.sample(orgs, max(1, round(len(orgs) * opts.change_share)))
            for n, user in enumerate(changed_users):
                box.workways_patch("users", user["_id"], {"title": f"Benchmark title {n}"})
            for n, org in enumerate(changed_orgs):
                box.workways_patch("organizations", org["_id"], {"vatNumber": f"FRB{n:09d}"})
            share = f"{opts.change_share:.0%}"
            changed = Result("changed", f"3. {share} of records changed")
            changed.upsert_lb = ceil_div(len(changed_orgs), 100) + ceil_div(len(changed_users), 100)
            changed.workways_lb = source_pages + len(changed_orgs)
            changed.floor = changed.needed / opts.per_second
            changed.extra.update(users=len(changed_users), orgs=len(changed_orgs))
            out["changed"] = _measure_sync(box, env, changed, say)
    return out


def naive_scenario(opts: Options, say: Say) -> Result:
    """Scenario 4 on fresh sandboxes: a sample, extrapolated linearly to the full size."""
    from syncworker.app.container import Container
    from syncworker.config import Settings
    from syncworker.hubspot.schema import ensure_schema
    from syncworker.mapping import custom_properties
    from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING

    result = Result("naive", "4. naive baseline (one call per record)")
    say(
        f"naive baseline: fresh sandboxes, sample of {opts.naive_users:,} users and "
        f"{opts.naive_orgs:,} organizations"
    )
    with sandbox(opts, opts.users, opts.orgs) as box:
        env = sync_env(box, "sqlite://", opts)
        # The custom properties exist before the naive integration starts (set up by
        # hand in a real portal); not timed, not counted.
        gateway = Container(Settings.from_env(env)).gateway()
        ensure_schema(gateway, custom_properties(COMPANY_MAPPING, CONTACT_MAPPING))
        box.clear_logs()
        watch = box.cpu_watch()
        stats = run_measured(
            [
                "-m",
                "bench.naive",
                "--users",
                str(opts.naive_users),
                "--orgs",
                str(opts.naive_orgs),
            ],
            env,
        )
        watch.stop()
        result.hubspot = HubSpotLog(box.hubspot_log())
        result.workways = WorkwaysLog(box.workways_log())
    result.stats = stats
    record_cpu(result, watch)
    if stats.returncode != 0:
        raise RuntimeError(f"bench.naive failed: {stats.stderr[-2000:]}")
    done = json.loads(stats.stdout.strip().splitlines()[-1])
    result.extra.update(done)
    scale_orgs = opts.orgs / max(1, done["orgs"])
    scale_users = opts.users / max(1, done["users"])
    result.wall = done["orgs_seconds"] * scale_orgs + done["users_seconds"] * scale_users
    result.extra["sample_wall"] = stats.wall
    result.extra["scale_users"] = scale_users
    result.extra["scale_orgs"] = scale_orgs
    result.extra["calls_full"] = opts.orgs + opts.users
    result.extra["workways_full"] = pages(opts.orgs) + pages(opts.users) + opts.orgs
    result.upsert_lb = ceil_div(opts.orgs, 100) + ceil_div(opts.users, 100)
    result.floor = (opts.orgs + opts.users) / opts.per_second  # its own floor: a call per record
    say(
        f"  naive: sample {stats.wall:.1f} s ({done['orgs']} orgs in {done['orgs_seconds']:.1f} s,"
        f" {done['users']} users in {done['users_seconds']:.1f} s) -> {result.wall:,.0f} s "
        "extrapolated"
    )
    return result
