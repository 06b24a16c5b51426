"""BENCHMARKS.md: the tables, the targets with PASS/FAIL, and how the numbers were made."""

from __future__ import annotations

import math
import os
import platform
import shlex
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.measure import fmt_ratio, fmt_seconds
from bench.options import Options
from bench.results import Result

KIND_ORDER = (
    "upsert",
    "associate",
    "unassociate",
    "properties",
    "read",
    "search",
    "create",
    "update",
    "archive",
)


def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            kb = int(handle.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} MB"


def _num(value: float | int) -> str:
    return f"{value:,}"


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def _command(opts: Options) -> str:
    if not opts.argv:
        return "python -m bench"
    return "python -m bench " + " ".join(shlex.quote(a) for a in opts.argv)


def record_writes(r: Result) -> int:
    """Batch calls that write records: upserts of new ones, updates by id of known ones."""
    return int(r.kinds["upsert"] + r.kinds["update"])


def _upserts(r: Result) -> str:
    if r.key == "naive":
        return f"{r.kinds['create']:,} (sample); {r.extra['calls_full']:,} full / LB {r.upsert_lb}"
    if r.key == "paging":
        return "–"
    return f"{record_writes(r):,} / {r.upsert_lb:,}"


def _hubspot_total(r: Result) -> str:
    if r.hubspot is None:
        return "–"
    return f"{r.hubspot.total():,}"


def _workways(r: Result) -> str:
    if r.workways is None:
        return "–"
    if r.key == "naive":
        return f"{r.workways.total():,} (sample); {r.extra['workways_full']:,} full"
    return f"{r.workways.total():,} / {r.workways_lb:,}"


def results_table(rows: list[Result]) -> list[str]:
    lines = [
        "| scenario | wall | HubSpot calls | record write calls / lower bound | 429s | max HubSpot "
        "requests in 10 s | Workways calls / lower bound | CPU (run under test) | peak RSS | "
        "× baseline | × floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.key == "webhooks":
            continue
        workways = _workways(r)
        wall = fmt_seconds(r.seconds) + (" (extrapolated)" if r.key == "naive" else "")
        window = r.hubspot.max_in_window() if r.hubspot else "–"
        cpu = fmt_seconds(r.stats.cpu if r.stats else None)
        rss = _mb(r.stats.max_rss_mb if r.stats else None)
        lines.append(
            f"| {r.title} | {wall} | {_hubspot_total(r)} | {_upserts(r)} | "
            f"{r.count_429 if r.hubspot else '–'} | {window} | {workways} | {cpu} | {rss} | "
            f"{fmt_ratio(r.vs_baseline)} | {fmt_ratio(r.vs_floor)} |"
        )
    return lines


def kinds_table(rows: list[Result]) -> list[str]:
    present = [k for k in KIND_ORDER if any(r.kinds[k] for r in rows)]
    others = sorted({k for r in rows for k in r.kinds} - set(KIND_ORDER))
    kinds = present + others
    lines = [
        "| scenario | " + " | ".join(kinds) + " | HubSpot needed (floor) | Workways by kind |",
        "|---|" + "---:|" * len(kinds) + "---:|---|",
    ]
    for r in rows:
        if r.hubspot is None and r.workways is None:
            continue
        ww_kinds = r.workways.kinds if r.workways else {}
        ww = ", ".join(f"{k} {v:,}" for k, v in sorted(ww_kinds.items())) or "none"
        floor = "–" if r.floor is None else f"{r.needed:,} ({fmt_seconds(r.floor)})"
        if r.key == "naive":
            floor = f"{r.extra['calls_full']:,} ({fmt_seconds(r.floor)})"
        if r.key in ("paging", "webhooks"):
            floor = "–"
        lines.append(
            f"| {r.title} | "
            + " | ".join(f"{r.kinds[k]:,}" for k in kinds)
            + f" | {floor} | {ww} |"
        )
    return lines


def cpu_table(rows: list[Result]) -> list[str]:
    lines = [
        "| scenario | wall | CPU available (cores × wall) | run under test | sandbox process "
        "| everything else on the machine |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    cores = os.cpu_count() or 1
    for r in rows:
        if "cpu_machine" not in r.extra or r.stats is None:
            continue
        wall = r.extra.get("sample_wall", r.seconds) or 0.0
        lines.append(
            f"| {r.title} | {fmt_seconds(wall)} | {fmt_seconds(cores * wall)} | "
            f"{fmt_seconds(r.stats.cpu)} | {fmt_seconds(r.extra['cpu_sandboxes'])} | "
            f"{fmt_seconds(r.extra['cpu_other'])} |"
        )
    return lines


def phases(r: Result) -> str | None:
    """Start-up, organizations stream, users stream, from the request logs' clocks."""
    if "began" not in r.extra or r.workways is None or r.hubspot is None or not r.stats:
        return None
    ww = [float(x[4]) for x in r.workways.records]
    users = [float(x[4]) for x in r.workways.records if x[1].endswith("/user-info")]
    crm = [float(x[4]) for x in r.hubspot.crm()]
    if not ww or not users:
        return None
    began, end = r.extra["began"], r.extra["began"] + r.stats.wall
    last = max([*crm, *ww])
    return (
        f"start-up to the first Workways answer {min(ww) - began:.1f} s, organizations "
        f"stream ≈ {min(users) - min(ww):.1f} s, users stream ≈ {last - min(users):.1f} s, "
        f"exit {end - last:.1f} s after the last request"
    )


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**FAIL**")


def targets(opts: Options, res: dict[str, Result], skipped: dict[str, str]) -> list[str]:
    lines = ["| target | measured | result |", "|---|---|---|"]

    def row(target: str, measured: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {measured} | {_verdict(ok)} |")

    # 1. upserts against the lower bound
    parts, oks = [], []
    for key in ("initial", "changed"):
        r = res.get(key)
        if r and r.upsert_lb:
            ratio = record_writes(r) / r.upsert_lb
            parts.append(f"{r.title}: {record_writes(r):,} / {r.upsert_lb:,} = {ratio:.3f}")
            oks.append(ratio <= 1.02)
    row(
        "record write calls (upsert, update by id) ≤ 1.02 × lower bound",
        "; ".join(parts) or "not run",
        all(oks) if oks else None,
    )

    # 2. zero writes on a no-change run
    r = res.get("nochange")
    if r and r.hubspot:
        writes = r.hubspot.writes()
        row(
            "zero HubSpot writes on a no-change run",
            f"{writes} writes ({r.hubspot.total()} HubSpot calls in all)",
            writes == 0,
        )
    else:
        row("zero HubSpot writes on a no-change run", "not run", None)

    # 3. initial full sync within 1.15 × floor, < 1 % 429s
    r = res.get("initial")
    if r and r.vs_floor is not None and r.hubspot:
        clean = r.stats is not None and r.stats.returncode == 0  # no record failed
        row(
            "initial full sync: wall ≤ 1.15 × floor",
            f"{fmt_seconds(r.seconds)} = {fmt_ratio(r.vs_floor)} the floor of "
            f"{fmt_seconds(r.floor)}" + ("" if clean else "; the sync did not exit 0"),
            r.vs_floor <= 1.15 and clean,
        )
        row(
            "initial full sync: < 1 % 429s",
            f"{r.count_429} 429s in {r.hubspot.total()} HubSpot calls ({r.share_429:.2%})",
            r.share_429 < 0.01,
        )
    else:
        row("initial full sync: wall ≤ 1.15 × floor, < 1 % 429s", "not run", None)

    # 4. 2 and 4 workers
    worker_rows = [res[k] for k in ("workers-2", "workers-4") if k in res]
    if worker_rows:
        row(
            "2 and 4 workers: never over the budget",
            "; ".join(
                f"{w.extra['workers']} workers: at most {w.extra['max_window']} requests in any "
                f"rolling 10 s (budget {opts.rate_limit}), {w.count_429} 429s"
                for w in worker_rows
            ),
            all(w.extra["max_window"] <= opts.rate_limit for w in worker_rows),
        )
        row(
            "2 and 4 workers: wall ≤ 1.15 × floor",
            "; ".join(
                f"{w.extra['workers']} workers: {fmt_seconds(w.seconds)} = "
                f"{fmt_ratio(w.vs_floor)} the floor of {fmt_seconds(w.floor)}"
                + (f" ({w.extra['failures']:,} record failures)" if w.extra.get("failures") else "")
                for w in worker_rows
            ),
            all(
                w.vs_floor is not None and w.vs_floor <= 1.15 and not w.extra.get("failures")
                for w in worker_rows
            ),
        )
    else:
        reason = skipped.get("workers", "not run")
        row("2 and 4 workers: never over the budget, wall ≤ 1.15 × floor", reason, None)

    # 5. no-change at 100,000 users
    r, paging = res.get("nochange"), res.get("paging")
    target = "no-change run over 100,000 users: peak memory < 400 MB, wall ≤ 1.3 × paging time"
    if r and paging and r.stats and paging.seconds:
        ratio = (r.seconds or 0) / paging.seconds
        measured = (
            f"{opts.users:,} users: peak {r.stats.max_rss_mb:,.0f} MB, "
            f"{fmt_seconds(r.seconds)} = {ratio:.2f} × paging ({fmt_seconds(paging.seconds)})"
        )
        if opts.users >= 100_000:
            row(target, measured, r.stats.max_rss_mb < 400 and ratio <= 1.3)
        else:
            row(
                target,
                f"not measured at 100,000 (needs `python -m bench --large`); at {measured}",
                None,
            )
    else:
        row(target, "not run", None)

    # 6. write-back p95
    r = res.get("webhooks")
    if r:
        p95 = r.extra["p95"]
        ok = not math.isnan(p95) and p95 < 1.0 and r.extra["written"] == r.extra["events"]
        slow = r.extra.get("slow_clients", 0)
        row(
            "p95 webhook → Workways write-back < 1 s (with slow clients held)",
            f"p95 {_ms(p95)} (p50 {_ms(r.extra['p50'])}, max {_ms(r.extra['max'])}) over "
            f"{r.extra['written']} of {r.extra['events']} events, {slow} slow clients held",
            ok,
        )
    else:
        row(
            "p95 webhook → Workways write-back < 1 s (with slow clients held)",
            skipped.get("webhooks", "not run"),
            None,
        )
    return lines


def _repeats(r: Result, alternating: bool = True) -> str:
    walls = ", ".join(fmt_seconds(w) for w in r.extra["walls"])
    count = len(r.extra["walls"])
    how = ", alternating with the other" if alternating else ", each from fresh sandboxes"
    return f"Measured {count} times{how}: {walls}; the median run is shown."


def _details(opts: Options, res: dict[str, Result]) -> list[str]:
    out: list[str] = []
    for key in ("initial", "nochange", "changed"):
        r = res.get(key)
        if not r:
            continue
        streams = "; ".join(
            f"`{s.stream}` {s.status}: "
            + ", ".join(f"{k} {v:,}" for k, v in s.counts.items() if v)
            + f" (it counted {s.hubspot_calls} HubSpot and {s.workways_calls:,} Workways calls)"
            for s in r.summaries
        )
        out.append(f"- **{r.title}** — {streams or 'no summary printed'}.")
        split = phases(r)
        if split:
            out.append(f"  Time line: {split}.")
        if key == "initial":
            objects = r.extra.get("objects", {})
            out.append(
                f"  HubSpot afterwards: {objects.get('companies', 0):,} companies, "
                f"{objects.get('contacts', 0):,} contacts, {objects.get('associations', 0):,} "
                f"associations ({r.extra['pairs']:,} users have an organization). Most "
                f"requests in any rolling 10 s: {r.hubspot.max_in_window() if r.hubspot else 0}."
            )
        if key == "changed":
            out.append(
                f"  Changed through the Workways sandbox's `PATCH /_sandbox/...`: "
                f"{r.extra['users']:,} users (`title`) and {r.extra['orgs']:,} organizations "
                "(`vatNumber`), chosen at random with the population seed."
            )
        if r.extra.get("walls"):
            out.append(f"  {_repeats(r)}")
        for note in r.notes:
            out.append(f"  Note: {note}")
    paging = res.get("paging")
    if paging:
        out.append(
            f"- **{paging.title}** (`python -m bench.pagesource`: syncworker's Workways client, "
            f"every page, nothing else): {fmt_seconds(paging.seconds)}, "
            f"{paging.extra.get('pages', 0)} pages, CPU {fmt_seconds(paging.stats.cpu)}, "
            f"peak {_mb(paging.stats.max_rss_mb)}."
            + (f" {_repeats(paging)}" if paging.extra.get("walls") else "")
            if paging.stats
            else ""
        )
    r = res.get("naive")
    if r:
        e = r.extra
        out.append(
            f"- **{r.title}** — `python -m bench.naive` on fresh sandboxes: {e['orgs']:,} "
            f"organizations (detail call + one create each) in {e['orgs_seconds']:.1f} s, then "
            f"{e['users']:,} users (one create each, company association inline for the "
            f"{e['associated']:,} whose company is in the sample) in {e['users_seconds']:.1f} s; "
            f"{r.count_429} 429s, errors {e['errors'] or 'none'}. Extrapolated linearly: "
            f"{e['orgs_seconds']:.1f} s × {e['scale_orgs']:.0f} + {e['users_seconds']:.1f} s × "
            f"{e['scale_users']:.0f} = **{fmt_seconds(r.seconds)}** for {opts.orgs:,} + "
            f"{opts.users:,} records ({e['calls_full']:,} HubSpot calls; its own rate-limit "
            f"floor {fmt_seconds(r.floor)}). It runs one request at a time, so the 80 ms "
            "latency, not the rate limit, bounds it. Sample process: CPU "
            f"{fmt_seconds(r.stats.cpu if r.stats else None)}, peak "
            f"{_mb(r.stats.max_rss_mb if r.stats else None)}."
        )
    for key in sorted(k for k in res if k.startswith("workers-")):
        r = res[key]
        runs = r.extra.get("runs", [])
        described = "; ".join(
            f"{run['stream'].split('.')[-1]} {run['status']} at +{run['started']:.1f} s for "
            f"{run['seconds']:.1f} s (created {run['created']:,}, updated {run['updated']:,}, "
            f"failed {run['failed']:,})"
            for run in runs
        )
        n = r.extra["workers"]
        objects = r.extra.get("objects", {})
        per_stream = Counter(run["stream"] for run in runs)
        if n > 1 and per_stream and set(per_stream.values()) == {1}:
            locked = (
                f" Each stream ran once: the other {n - 1} task(s) found the stream locks "
                'held and returned "run in progress" without recording a run.'
            )
        elif n > 1:
            locked = f" Runs per stream: {dict(per_stream)}."
        else:
            locked = ""
        out.append(
            f"- **{r.title}** — {n} `syncworker.sync_stream` task{'s' if n > 1 else ''} "
            f"(entity `all`) sent at once; runs recorded: {described or 'none'}.{locked} "
            f"Max requests in any rolling 10 s: {r.extra['max_window']} admitted "
            f"({r.extra['max_window_all']} counting refused ones), budget {opts.rate_limit}. "
            f"HubSpot afterwards: {objects.get('companies', 0):,} companies, "
            f"{objects.get('contacts', 0):,} contacts. Record failures: "
            f"{r.extra.get('failures', 0)}. CPU: "
            + (f"all {n} worker processes" if n > 1 else "the worker process")
            + " (Celery main + pool child) from sending the tasks to the end of the last run "
            f"({r.extra['cpu_lifetime']:.1f} s with start-up and shut-down); peak RSS: "
            "the largest process."
            + (f" {_repeats(r, alternating=False)}" if r.extra.get("walls") else "")
        )
    r = res.get("webhooks")
    if r:
        e = r.extra
        out.append(
            f"- **{r.title}** — {opts.webhook_users:,} users synced first, then one event at a "
            f"time: opt-in flipped with `POST /crm/objects/2026-09/contacts/batch/update` (the "
            f"sandbox token), signed delivery (`sign_v3`, sandbox client secret) to `syncworker "
            f"webhooks serve`, one Celery worker on Redis, Workways polled every 10 ms through "
            f"`GET /_sandbox/users/{{id}}`. Meanwhile {e.get('slow_clients', 0)} slow clients "
            f"held connections to the receiver, each sending a body a byte every 0.2 s and "
            f"opened again when cut off ({e.get('slow_reopened', 0)} times). Latency from the "
            f"HubSpot edit to Workways showing "
            f"it: p50 {_ms(e['p50'])}, p95 {_ms(e['p95'])}, max {_ms(e['max'])}; the receiver "
            f"answered 200 after p50 {_ms(e['p50_receiver'])} / p95 {_ms(e['p95_receiver'])}. "
            f"Written back: {e['written']} of {e['events']}; failures: {e['failures'] or 'none'}. "
            f"HubSpot calls during the {e['events']} events: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.kinds.items()))
            + " (the updates are the benchmark's own edits); Workways: "
            + ", ".join(
                f"{k} {v}" for k, v in sorted((r.workways.kinds if r.workways else {}).items())
            )
            + "."
        )
    return [line for line in out if line]


def render(
    opts: Options,
    res: dict[str, Result],
    skipped: dict[str, str],
    stores_kind: str,
    elapsed: float,
    started: datetime,
) -> str:
    order = ["initial", "nochange", "changed", "paging", "naive"]
    order += sorted(k for k in res if k.startswith("workers-"))
    order += ["webhooks"]
    rows = [res[k] for k in order if k in res]
    lines = [
        "# Benchmarks",
        "",
        f"Numbers measured on this machine by `{_command(opts)}`"
        + (" (the defaults: what `make bench` runs)" if not opts.argv else "")
        + " on "
        f"{started.astimezone(UTC):%Y-%m-%d %H:%M} UTC; the whole run took "
        f"{elapsed / 60:.1f} min. To reproduce: **`make bench`** (it runs "
        "`.venv/bin/python -m bench` with the defaults below; `python -m bench --help` lists "
        "the flags, e.g. `--only initial,nochange`, `--large`, `--rate-limit`, "
        "`--postgres-url`). The harness lives in `bench/` and is not part of the test suite.",
        "",
        "## Set-up",
        "",
        f"- Machine: {_machine()}.",
        f"- Population: {opts.users:,} Workways users and {opts.orgs:,} organizations "
        f"(seed {opts.seed}).",
        "- Sandboxes: `syncworker_sandbox.runner.Sandboxes` served on loopback by a process "
        "of their own (`python -m bench.sandboxes`), fresh for every scenario group. HubSpot "
        f"rate limit ON: {opts.rate_limit} requests per rolling 10 s, enforced by the sandbox "
        "(429 beyond it) and configured in syncworker (`HUBSPOT_RATE_LIMIT_PER_10S`). Injected "
        f"latency: {opts.latency_ms:g} ms per HubSpot request, {opts.workways_latency_ms:g} ms "
        "per Workways request.",
        f"- Snapshot store: {stores_kind}, fresh and migrated per scenario group. Redis "
        f"(scenarios 5-6): `{opts.redis_url}` (flushed before each).",
        "- The run under test is its own process: `python -m syncworker sync --quiet` "
        "(scenarios 1-3, in-process rate limiter, no Redis), `python -m bench.naive` (4), "
        "`celery -A syncworker.celery_app worker --concurrency=1` processes (5, 6). Wall time "
        "is from process start to exit (interpreter start-up included); for 5 it is from "
        "sending the tasks to the end of the last run. CPU time (user + system) and peak RSS "
        "come from `os.wait4` on that process, so the sandboxes' cost is not in them. Each "
        "run is started by a small launcher (`python -m bench.launch`), because Linux carries "
        "`ru_maxrss` across `exec`: a child started straight from the harness would report at "
        "least the harness's own size.",
        "- Calls are counted from the sandboxes' request logs: every request they served, "
        "429s included (so a retried request counts twice).",
        f"- The no-change run (2) and the paging reference run {opts.repeat} times each, "
        f"alternately, and each worker scenario (5) {opts.repeat} times, from fresh sandboxes "
        "and store each time (several processes on a shared 2-core machine vary by a second "
        "or more from one try to the next); each row shows its median run (all wall times "
        "are under Scenario details). Every other scenario runs once.",
        "",
        "Definitions:",
        "",
        "- **Upsert lower bound**: ⌈changed organizations / 100⌉ + ⌈changed users / 100⌉ "
        "(HubSpot's batch limit). On an initial sync every record is new. It bounds the "
        "record write calls: upserts of new records and updates by id of known ones.",
        "- **HubSpot calls needed** = upsert lower bound + ⌈new user→company associations / "
        "2,000⌉ (the associations API's documented batch maximum). Property/schema calls are "
        "not counted as needed.",
        f"- **Floor** = HubSpot calls needed ÷ ({opts.rate_limit} / 10) per second: the "
        "fastest the run could be if only the rate limit mattered. A no-change run needs 0 "
        "calls, so it has no floor.",
        "- **Workways lower bound**: ⌈users / 200⌉ + ⌈organizations / 200⌉ list pages, plus "
        "one detail call per new or changed organization.",
        "- **Baseline** for scenarios 1-3: the naive integration's full sync (scenario 4, "
        "extrapolated): with no snapshot, every run is a full rewrite. For 5: the 1-worker run "
        "(same protocol).",
        "",
        "## Results",
        "",
        *results_table(rows),
        "",
        "HubSpot calls by kind (from the HubSpot sandbox's log) and Workways calls by kind:",
        "",
        *kinds_table(rows),
        "",
        "Where the machine's CPU went during each measured run (from `/proc`: the run under "
        "test, the sandbox process, and the rest, which includes anything else running on "
        "this shared machine at the time):",
        "",
        *cpu_table(rows),
        "",
    ]
    if "webhooks" in res:
        e = res["webhooks"].extra
        lines += [
            "Write-back (scenario 6):",
            "",
            "| events | written back | p50 | p95 | max | receiver's 200 (p50 / p95) |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {e['events']} | {e['written']} | {_ms(e['p50'])} | {_ms(e['p95'])} | "
            f"{_ms(e['max'])} | {_ms(e['p50_receiver'])} / {_ms(e['p95_receiver'])} |",
            "",
        ]
    for key, reason in skipped.items():
        lines.append(f"**Skipped: {key}** — {reason}")
        lines.append("")
    lines += [
        "## Targets (from the issue), as measured",
        "",
        *targets(opts, res, skipped),
        "",
        "## Scenario details",
        "",
        *_details(opts, res),
        "",
        "## Caveats",
        "",
        "- This is a shared 2-core machine: the CPU table above shows how much CPU other "
        "processes took during each run. The sandboxes, the run under test and (5, 6) Redis, "
        "the receiver and the workers all share the same two cores, so a run that is "
        "CPU-bound here would be faster with the sandboxes elsewhere.",
        "- The naive baseline runs a sample and is extrapolated linearly (per organization and "
        "per user). The HubSpot sandbox has no single-object `POST /crm/v3/objects/{type}`, so "
        "each of its creates is a one-input `batch/create`: one request per record either way. "
        "Only users whose company is in the sample get the inline association; that changes "
        "no call count.",
        "- Lower bounds count HubSpot's batch limits only; the floor ignores latency, which is "
        f"{opts.latency_ms:g} ms a HubSpot request and {opts.workways_latency_ms:g} ms a "
        "Workways request here.",
        "- The most-requests-in-10-s figures use the time each answer was logged by the "
        "sandbox; the sandbox's own limiter (which sends the 429s) counts at admission, a few "
        "milliseconds earlier.",
        "- The 100,000-user targets need `python -m bench --large` (not part of the default "
        "run: its initial sync alone takes several minutes).",
        "",
    ]
    return "\n".join(lines)


def dump(res: dict[str, Result]) -> dict[str, Any]:
    """A plain-data copy of the results (printed at the end of a run)."""
    out: dict[str, Any] = {}
    for key, r in res.items():
        out[key] = {
            "wall": r.seconds,
            "cpu": r.stats.cpu if r.stats else None,
            "max_rss_mb": r.stats.max_rss_mb if r.stats else None,
            "hubspot": dict(r.kinds),
            "http_429": r.count_429,
            "workways": dict(r.workways.kinds) if r.workways else None,
            "upsert_lb": r.upsert_lb,
            "needed": r.needed,
            "floor": r.floor,
        }
    return out
