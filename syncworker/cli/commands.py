"""The CLI's commands; each takes the parsed arguments and settings, returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from syncworker.app.container import Container
from syncworker.app.sync import select, sync_streams
from syncworker.app.writeback import write_back
from syncworker.cli import EXIT_ABORTED, EXIT_FAILURES, EXIT_OK, EXIT_USAGE, output
from syncworker.config import Settings
from syncworker.engine.state import RunResult
from syncworker.errors import CREDENTIAL_REFUSED
from syncworker.store.database import upgrade

FAILURES_SHOWN = 10  # records named under a run's summary; the rest in `failures list`


def exit_code(results: list[RunResult]) -> int:
    if any(r.status == "aborted" for r in results):
        return EXIT_ABORTED
    if any(r.counts["failed"] or r.status == "finished_with_failures" for r in results):
        return EXIT_FAILURES
    return EXIT_OK


def db(args: argparse.Namespace, settings: Settings) -> int:
    services = Container(settings)
    upgrade(services.db)
    print(f"database at {services.db.url.render_as_string(hide_password=True)} is up to date")
    return EXIT_OK


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    from syncworker.app.doctor import run_doctor

    return run_doctor(settings, lambda line: print(line, flush=True))


def sync(args: argparse.Namespace, settings: Settings) -> int:
    if args.enqueue:
        return _enqueue(args, settings)
    services = Container(settings)
    selection = select(settings, args.entity, args.source)
    progress = None if args.quiet else output.ProgressPrinter()
    try:
        results = sync_streams(
            services,
            selection.streams,
            full=args.full,
            dry_run=args.dry_run,
            trigger="cli",
            progress=progress,
            allow_mass_archive=args.allow_mass_archive,
        )
    finally:
        if progress:
            progress.done()
    for line in selection.skipped:
        print(line)
    for result in results:
        print(output.summary(result))
        if result.counts["failed"] and result.run_id is not None and not result.dry_run:
            failed = services.store.failures.of_run(result.run_id, limit=FAILURES_SHOWN)
            for line in output.run_failures(failed, result.counts["failed"]):
                print(line)
        if result.dry_run:
            for line in output.dry_run_report(result):
                print(line)
    return exit_code(results)


def _enqueue(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.redis_url:
        print("syncworker: --enqueue needs REDIS_URL (the Celery broker)", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        print(
            "syncworker: --dry-run runs here, not on the workers; drop --enqueue", file=sys.stderr
        )
        return EXIT_USAGE
    from syncworker.tasks import enqueue_sync

    task_id = enqueue_sync(
        args.entity,
        source=args.source,
        full=args.full,
        trigger="cli",
        allow_mass_archive=args.allow_mass_archive,
    )
    print(f"queued sync of {args.entity} as task {task_id}")
    return EXIT_OK


def reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from syncworker.app.reconcile import reconcile as run

    services = Container(settings)
    outcome = run(services, dry_run=args.dry_run, trigger="cli")
    report = outcome.report
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(report.counts.items())) or "nothing"
    head = "reconcile (dry run)" if args.dry_run else f"reconcile run #{outcome.run_id}"
    print(f"{head}: checked {report.checked} record(s); repairs: {counts}")
    for line in output.reconcile_report(report.repairs):
        print(line)
    if report.failed:
        print(f"  {report.failed} repair(s) refused by HubSpot: see the log")
    for result in outcome.syncs:
        print(output.summary(result))
    failed = report.failed or any(r.counts["failed"] for r in outcome.syncs)
    if any(r.status == "aborted" for r in outcome.syncs):
        return EXIT_ABORTED
    return EXIT_FAILURES if failed else EXIT_OK


def purge(args: argparse.Namespace, settings: Settings) -> int:
    """``purge [--dry-run]``: the rows older than RETENTION_DAYS, deleted or counted."""
    from syncworker.store.retention import purge as run

    services = Container(settings)
    services.check_database()
    report = run(services.store.sessions, settings.retention_days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"purge{' (dry run)' if args.dry_run else ''}: {verb} {report.webhook_events} "
        f"processed webhook event(s), {report.writeback_intents} done or superseded "
        f"write-back(s), {report.task_deliveries} task delivery row(s) older than "
        f"{settings.retention_days} day(s) (before {report.cutoff:%Y-%m-%d %H:%M} UTC)"
    )
    return EXIT_OK


def status(args: argparse.Namespace, settings: Settings) -> int:
    services = Container(settings)
    services.check_database()
    store = services.store
    print("Recent runs")
    print(output.runs_table(store.recent_runs(args.limit)))
    print("\nSnapshot")
    for stream, stats in sorted(store.stats().items()):
        print(
            f"  {stream:<24} {stats['records']:>8} records, {stats['in_hubspot']:>8} in HubSpot,"
            f" {stats['archived']:>6} flagged archived"
        )
    from syncworker.store.drift import DriftStore

    suppressed = DriftStore(store.sessions).suppressed_counts()
    print(output.suppressed_line(suppressed))
    conflicts = services.consent_audit.count("conflict")
    if conflicts:
        print(
            f"Newsletter consent conflicts left alone: {conflicts} "
            "(see `syncworker consent log --conflicts`)"
        )
    outbox = services.outbox.counts()
    print(
        f"\nWrite-back outbox: {outbox.get('pending', 0)} pending, "
        f"{outbox.get('quarantined', 0)} quarantined, {outbox.get('done', 0)} done"
    )
    from syncworker.writeback.service import WRITEBACK_STREAM

    last = store.recent_runs(1, stream=WRITEBACK_STREAM)
    if last and last[0].error and last[0].error.startswith(CREDENTIAL_REFUSED):
        print(
            f"  the last write-back pass (run #{last[0].id}) stopped: {last[0].error}; "
            "the pending intents are written by the next pass once the token is fixed"
        )
    from syncworker.store.ledger import TaskLedger

    poisoned = TaskLedger(store.sessions).quarantined_count()
    if poisoned:
        print(f"Quarantined tasks (killed their worker repeatedly): {poisoned}")
    counts = store.failures.counts()
    print(
        f"\nFailures: {counts['failing']} retrying, {counts['quarantined']} quarantined"
        + (" (see `syncworker failures list`)" if sum(counts.values()) else "")
    )
    return EXIT_OK


def failures(args: argparse.Namespace, settings: Settings) -> int:
    services = Container(settings)
    services.check_database()
    store = services.store
    if args.failures_command == "list":
        rows = store.failures.rows(quarantined=True if args.quarantined else None)
        print(output.failures_table(rows) if rows else "no failures")
        return EXIT_OK
    released = store.failures.release(None if args.all else args.ids)
    print(f"released {released} failure(s); the next run retries them")
    if args.now and released:
        results = sync_streams(services, "all", trigger="retry")
        for result in results:
            print(output.summary(result))
        return exit_code(results)
    return EXIT_OK


def writeback(args: argparse.Namespace, settings: Settings) -> int:
    services = Container(settings)
    services.check_database()
    if args.writeback_command == "list":
        rows = services.outbox.listing(args.status)
        print(output.outbox_table(rows) if rows else "the outbox is empty")
        return EXIT_OK
    if args.writeback_command == "retry":
        released = services.outbox.release(None if args.all else args.ids)
        print(f"released {released} write-back(s); the next write-back run retries them")
        return EXIT_OK
    result = write_back(services, trigger="cli")
    print(
        f"write-back: examined {result.examined} HubSpot object(s), {result.intents} change(s) "
        f"found, {result.written} written to Workways, {result.failed} failed, "
        f"{result.quarantined} quarantined"
    )
    if result.failed:
        print("  see `syncworker writeback list --status quarantined`")
    return EXIT_FAILURES if result.failed else EXIT_OK


def consent(args: argparse.Namespace, settings: Settings) -> int:
    """``consent log``: the audit of newsletter consent decisions, newest first."""
    if args.limit < 1:
        print("syncworker: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    services = Container(settings)
    services.check_database()
    events = services.consent_audit.listing(
        args.user, limit=args.limit, action="conflict" if args.conflicts else None
    )
    if not events:
        print(f"no consent {'conflicts' if args.conflicts else 'decisions'} recorded")
        return EXIT_OK
    print(output.consent_table(events))
    return EXIT_OK


def webhooks(args: argparse.Namespace, settings: Settings) -> int:
    """``webhooks serve``: the ops app, which receives the webhooks (needs the secret)."""
    settings.require_client_secret()
    return serve(args, settings)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from syncworker.ops.app import ops_app
    from syncworker.ops.server import run_server

    services = Container(settings)
    receiver = None
    if settings.hubspot_client_secret:
        from syncworker.webhooks.wiring import receiver_app

        receiver = receiver_app(services)
    app = ops_app(services, host=args.host, receiver=receiver)
    base = f"http://{args.host}:{args.port}"
    if receiver is not None:
        print(f"receiving HubSpot webhooks on {base}/webhooks/hubspot")
    else:
        print("not receiving webhooks: HUBSPOT_CLIENT_SECRET is not set")
    print(f"ops page on {base}/ops, metrics on {base}/metrics, probes /healthz and /readyz")
    sys.stdout.flush()
    run_server(app, args.host, args.port, settings)
    return EXIT_OK


def health(args: argparse.Namespace, settings: Settings) -> int:
    """``health --worker``: the heartbeat file's age; else the readiness checks."""
    from syncworker.ops.health import readiness, worker_alive

    if args.worker:
        max_age = args.max_age or 3 * settings.worker_heartbeat_seconds
        alive, detail = worker_alive(settings.worker_heartbeat_file, max_age)
        print(f"worker {'alive' if alive else 'NOT alive'}: {detail}")
        return EXIT_OK if alive else EXIT_FAILURES
    result = readiness(Container(settings).db, settings.redis_url)
    for name, outcome in result.checks.items():
        print(f"{name}: {outcome}")
    return EXIT_OK if result.ready else EXIT_FAILURES


def sandbox(args: argparse.Namespace, settings: Settings) -> int:
    return int(_sandboxes("cli").serve(args))


def demo(args: argparse.Namespace, settings: Settings) -> int:
    return int(
        _sandboxes("demo").run_demo(
            users=args.users, orgs=args.orgs, changes=args.changes, serve=args.serve, port=args.port
        )
    )


def _sandboxes(module: str) -> Any:
    """A module of the sandboxes package, which ships beside the product, not in it
    (a checkout's ``make`` set-up installs it; a wheel of syncworker has none)."""
    try:
        return importlib.import_module(f"syncworker_sandbox.{module}")
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("syncworker_sandbox"):
            raise
        print(
            "syncworker: the sandboxes are not installed: they come with a checkout of "
            "syncworker (`make demo`, or `pip install -e ./sandbox`)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_USAGE) from None
