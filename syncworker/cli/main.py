"""``syncworker``: the command line for ops.

Exit codes: 0 success; 1 finished with record failures; 2 bad configuration or
usage; 3 aborted (a service unreachable, credentials refused, a run already in
progress).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import redis.exceptions
import sqlalchemy.exc

from syncworker import __version__
from syncworker.cli import EXIT_ABORTED, EXIT_USAGE, output
from syncworker.config import Settings
from syncworker.errors import ConfigError, SyncWorkerError, UsageError
from syncworker.logs import configure
from syncworker.redaction import redact
from syncworker.runtime import tune_garbage_collector

log = logging.getLogger("syncworker.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncworker", description="Keep HubSpot CRM in step with Workways."
    )
    parser.add_argument("--version", action="version", version=f"syncworker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the migrations (DATABASE_URL)")

    commands.add_parser(
        "doctor",
        help="check settings, database, Redis, Workways and HubSpot before a sync (writes nothing)",
    )

    sync = commands.add_parser("sync", help="sync Workways into HubSpot")
    sync.add_argument(
        "--source",
        choices=("workways", "workadu", "all"),
        default="all",
        help="which platform(s) to sync; unconfigured ones are skipped under all",
    )
    sync.add_argument(
        "--entity", choices=("organizations", "users", "customers", "orders", "all"), default="all"
    )
    sync.add_argument(
        "--full", action="store_true", help="ignore the snapshot and rewrite every record"
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing anywhere"
    )
    sync.add_argument(
        "--allow-mass-archive",
        action="store_true",
        help="archive what disappeared even when it is more than ARCHIVE_GUARD_PERCENT",
    )
    sync.add_argument(
        "--enqueue",
        action="store_true",
        help="hand the run to the Celery workers (needs REDIS_URL)",
    )
    sync.add_argument("--quiet", action="store_true", help="no progress lines")

    reconcile = commands.add_parser(
        "reconcile",
        help="repair what people changed in HubSpot (deleted, merged, unlinked records; "
        "privacy deletions)",
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="list the repairs; write nothing anywhere"
    )

    purge = commands.add_parser(
        "purge",
        help="delete processed webhook events, done write-backs and old task rows "
        "older than RETENTION_DAYS",
    )
    purge.add_argument("--dry-run", action="store_true", help="count them; delete nothing")

    status = commands.add_parser("status", help="recent runs, snapshot and failures")
    status.add_argument("--limit", type=int, default=10)

    failures = commands.add_parser("failures", help="records that failed to sync")
    failure_commands = failures.add_subparsers(
        dest="failures_command", required=True, metavar="ACTION"
    )
    listing = failure_commands.add_parser("list", help="list failing and quarantined records")
    listing.add_argument("--quarantined", action="store_true", help="only quarantined ones")
    retry = failure_commands.add_parser("retry", help="release failures for the next run")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", dest="ids", metavar="ID")
    which.add_argument("--all", action="store_true")
    retry.add_argument("--now", action="store_true", help="also run a sync right away")

    writeback = commands.add_parser(
        "writeback", help="write HubSpot edits of two-way fields back to Workways (polling)"
    )
    writeback_commands = writeback.add_subparsers(dest="writeback_command", metavar="ACTION")
    wb_list = writeback_commands.add_parser("list", help="the write-back outbox")
    wb_list.add_argument("--status", choices=("pending", "done", "superseded", "quarantined"))
    wb_retry = writeback_commands.add_parser("retry", help="release quarantined write-backs")
    wb_which = wb_retry.add_mutually_exclusive_group(required=True)
    wb_which.add_argument("--id", type=int, action="append", dest="ids", metavar="ID")
    wb_which.add_argument("--all", action="store_true")

    consent = commands.add_parser("consent", help="newsletter consent (HubSpot subscription)")
    consent_commands = consent.add_subparsers(
        dest="consent_command", required=True, metavar="ACTION"
    )
    consent_log = consent_commands.add_parser(
        "log", help="the consent audit, newest first (records by id, no e-mail addresses)"
    )
    consent_log.add_argument("--user", metavar="ID", help="only this Workways user's decisions")
    consent_log.add_argument("--limit", type=int, default=50, metavar="N")
    consent_log.add_argument(
        "--conflicts",
        action="store_true",
        help="only conflicts: unsubscribed in HubSpot, opted in in Workways, left alone",
    )

    webhooks = commands.add_parser("webhooks", help="HubSpot webhook receiver")
    webhook_commands = webhooks.add_subparsers(
        dest="webhooks_command", required=True, metavar="ACTION"
    )
    serve = webhook_commands.add_parser(
        "serve", help="receive HubSpot webhooks (the same as `syncworker serve`)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    ops = commands.add_parser(
        "serve", help="the ops app: webhooks, /metrics, /healthz, /readyz and the /ops page"
    )
    ops.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    ops.add_argument("--port", type=int, default=8000)

    health = commands.add_parser(
        "health", help="exit 0 when healthy, 1 when not (for container probes)"
    )
    health.add_argument(
        "--worker",
        action="store_true",
        help="check the Celery worker's heartbeat file (WORKER_HEARTBEAT_FILE), not the services",
    )
    health.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="oldest heartbeat still healthy (default: 3 x WORKER_HEARTBEAT_SECONDS)",
    )

    sandbox = commands.add_parser("sandbox", help="serve the Workways and HubSpot sandboxes")
    sandbox.add_argument("--users", type=int, default=2000)
    sandbox.add_argument("--orgs", type=int, default=300)
    sandbox.add_argument("--seed", type=int, default=42)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--workways-port", type=int, default=8801)
    sandbox.add_argument("--hubspot-port", type=int, default=8802)
    sandbox.add_argument("--workadu-port", type=int, default=8803)
    sandbox.add_argument("--customers", type=int, default=300)
    sandbox.add_argument("--orders", type=int, default=600)
    sandbox.add_argument("--invoices", type=int, default=450)
    sandbox.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="HubSpot requests per 10 s (default: unlimited)",
    )
    sandbox.add_argument("--daily-limit", type=int, default=None, metavar="N")
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    sandbox.add_argument(
        "--seed-portal",
        type=int,
        default=0,
        metavar="N",
        help="start HubSpot with N contacts holding Workways users' e-mails (and a few "
        "unrelated ones), as a real portal has before the first sync",
    )

    demo = commands.add_parser("demo", help="full then incremental sync against the sandboxes")
    demo.add_argument("--users", type=int, default=300)
    demo.add_argument("--orgs", type=int, default=40)
    demo.add_argument(
        "--changes",
        type=int,
        default=12,
        help="users changed on the Workways side before the second sync",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="then keep the sandboxes and the ops app (/ops, /metrics) running until Ctrl-C",
    )
    demo.add_argument(
        "--port", type=int, default=0, help="the ops app's port with --serve (default: a free one)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        if args.command == "doctor":
            print(f"✗ settings: {exc}")
            print(f"    fix: set {exc.variable} as the README's Configuration says")
        print(f"syncworker: configuration error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    # The CLI prints its own summaries; logs only speak up for warnings unless asked.
    level = settings.log_level if os.environ.get("LOG_LEVEL") else "WARNING"
    configure(level, settings.log_format)
    tune_garbage_collector()
    try:
        return dispatch(args, settings)
    except ConfigError as exc:
        print(f"syncworker: configuration error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"syncworker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        reason = first_line(str(exc.orig) if exc.orig is not None else str(exc))
        print(f"syncworker: aborted: the database (DATABASE_URL) failed: {reason}", file=sys.stderr)
        return EXIT_ABORTED
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        reason = first_line(str(exc))
        print(f"syncworker: aborted: Redis (REDIS_URL) did not answer: {reason}", file=sys.stderr)
        return EXIT_ABORTED
    except SyncWorkerError as exc:
        print(f"syncworker: aborted: {output.describe_error(exc)}", file=sys.stderr)
        return EXIT_ABORTED
    except KeyboardInterrupt:
        print("syncworker: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except Exception as exc:  # a fault, not a usage error: never exit 2
        # Exit 2 means bad configuration or usage (argparse's own errors and
        # ConfigError above). Nothing either API sends may end here as exit 2: a bad
        # value fails its record inside the run; anything else is a fault, reported
        # (without values) as an aborted run.
        log.debug("unexpected error", exc_info=True)
        print(f"syncworker: aborted: unexpected {output.describe_unexpected(exc)}", file=sys.stderr)
        return EXIT_ABORTED


def first_line(message: str) -> str:
    """One line of a driver's error message, redacted."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return redact(lines[0] if lines else "failed")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from syncworker.cli import commands

    handler = {
        "db": commands.db,
        "doctor": commands.doctor,
        "sync": commands.sync,
        "reconcile": commands.reconcile,
        "purge": commands.purge,
        "status": commands.status,
        "failures": commands.failures,
        "writeback": commands.writeback,
        "consent": commands.consent,
        "webhooks": commands.webhooks,
        "serve": commands.serve,
        "health": commands.health,
        "sandbox": commands.sandbox,
        "demo": commands.demo,
    }[args.command]
    return handler(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
