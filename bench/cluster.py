"""Scenarios 5-6: Celery worker processes on Redis.

5. N worker processes share one HubSpot budget (the Redis limiter). Each gets
   the same order at the same moment: one ``syncworker.sync_stream`` task
   (entity ``all``) per worker, as N schedulers or retries would send. The
   stream locks let one run of each stream at a time; what the others do is
   measured, not assumed.
6. Write-back latency: ``syncworker webhooks serve`` and one worker; for each
   event, flip a contact's opt-in through HubSpot's batch update API, deliver
   the signed webhook, and time until the Workways sandbox shows the new value.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from typing import Any

import httpx
import redis

from bench.measure import (
    HubSpotLog,
    ProcessStats,
    WorkwaysLog,
    ceil_div,
    group_cpu,
    pages,
    percentile,
    start_group,
    stop_group,
)
from bench.options import Options
from bench.results import Result
from bench.scenarios import (
    ASSOCIATION_BATCH_MAX,
    record_cpu,
    sandbox,
    sync_env,
)
from bench.slow_clients import SlowClients
from bench.stores import Stores

Say = Callable[[str], None]


def redis_problem(url: str) -> str | None:
    """None when Redis answers at ``url``; else why not."""
    try:
        client: redis.Redis[bytes] = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _flush(url: str) -> None:
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def _worker_args(name: str) -> list[str]:
    return [
        "-m",
        "celery",
        "-A",
        "syncworker.celery_app",
        "worker",
        "--concurrency=1",
        "--pool=prefork",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
    ]


def _celery(broker: str) -> Any:
    from syncworker.celery_app import app

    app.conf.broker_url = broker
    return app


def _wait_for_workers(broker: str, n: int, timeout: float = 60.0) -> None:
    app = _celery(broker)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= n:
            return
    raise RuntimeError(f"only some of {n} Celery workers answered within {timeout:.0f} s")


def _send(broker: str, name: str, **kwargs: Any) -> str:
    app = _celery(broker)
    with app.connection_for_write(broker) as connection:
        return str(app.send_task(name, kwargs=kwargs, connection=connection).id)


def _runs_since(database_url: str, started: float) -> tuple[list[Any], int, int]:
    """(runs started since ``started``, task deliveries open, failures recorded)."""
    from sqlalchemy import func, select

    from syncworker.store.database import make_engine, session_factory
    from syncworker.store.models import RecordFailure, SyncRun, TaskDelivery

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
            open_tasks = session.scalar(select(func.count()).select_from(TaskDelivery)) or 0
            failures = session.scalar(select(func.count()).select_from(RecordFailure)) or 0
    finally:
        engine.dispose()
    fresh = [r for r in runs if _epoch(r.started_at) >= started - 1]
    return fresh, int(open_tasks), int(failures)


def _epoch(moment: Any) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(moment.timestamp())


def workers_scenario(opts: Options, stores: Stores, n: int, say: Say, attempt: int = 1) -> Result:
    result = Result(f"workers-{n}", f"5. {n} worker process{'es' if n > 1 else ''}")
    say(f"{n} Celery worker(s): fresh sandboxes ({opts.users:,} users, {opts.orgs:,} orgs)")
    _flush(opts.redis_url)
    with sandbox(opts, opts.users, opts.orgs) as box:
        database = stores.new(f"workers{n}_{attempt}")
        env = {
            **sync_env(box, database, opts),
            "REDIS_URL": opts.redis_url,
            "LOG_LEVEL": "WARNING",
        }
        users = box.workways_records("users")
        orgs = box.workways_records("organizations")
        with_org = sum(1 for u in users if u.get("organizationId"))
        result.upsert_lb = ceil_div(len(orgs), 100) + ceil_div(len(users), 100)
        result.associate_lb = ceil_div(with_org, ASSOCIATION_BATCH_MAX)
        result.workways_lb = pages(len(users)) + pages(len(orgs)) + len(orgs)
        result.floor = result.needed / opts.per_second

        logs = stores.folder / f"workers{n}_{attempt}"
        logs.mkdir(exist_ok=True)
        workers = [
            start_group(_worker_args(f"bench{i}"), env, logs / f"worker{i}.log") for i in range(n)
        ]
        stats: list[ProcessStats] = []
        try:
            _wait_for_workers(opts.redis_url, n)
            box.clear_logs()
            watch = box.cpu_watch()
            cpu_before = sum(group_cpu(process.pid) for process, _ in workers)
            started = time.time()
            for _ in range(n):
                _send(opts.redis_url, "syncworker.sync_stream", entity="all", trigger="bench")
            finished = _wait_until_idle(opts, database, started, say, result)
            in_run = sum(group_cpu(process.pid) for process, _ in workers) - cpu_before
            watch.stop()
        finally:
            stats = [stop_group(process, handle) for process, handle in workers]
        result.hubspot = HubSpotLog(box.hubspot_log())
        result.workways = WorkwaysLog(box.workways_log())
        result.extra["objects"] = box.hubspot_objects()
    result.wall = finished - started
    # CPU: what the worker processes used between sending the tasks and the end of the
    # last run (their start-up excluded); peak RSS: the largest over their lifetime.
    result.stats = ProcessStats(
        wall=result.wall,
        cpu_user=in_run,
        cpu_system=0.0,
        max_rss_mb=max(s.max_rss_mb for s in stats),
        returncode=max(s.returncode for s in stats),
    )
    result.extra["cpu_lifetime"] = sum(s.cpu for s in stats)
    record_cpu(result, watch, in_run)
    result.extra["workers"] = n
    result.extra["max_window"] = result.hubspot.max_in_window()
    result.extra["max_window_all"] = result.hubspot.max_in_window(admitted_only=False)
    say(
        f"  {n} worker(s): {result.wall:.1f} s, {result.hubspot.total()} HubSpot calls, "
        f"{result.count_429} 429s, max {result.extra['max_window']} requests in 10 s"
    )
    return result


def _wait_until_idle(
    opts: Options, database: str, started: float, say: Say, result: Result, timeout: float = 1800
) -> float:
    """Until every task ran: queue empty, no delivery open, no run running, users done."""
    client: redis.Redis[bytes] = redis.Redis.from_url(opts.redis_url)
    deadline = time.monotonic() + timeout
    quiet = 0
    runs: list[Any] = []
    while time.monotonic() < deadline:
        time.sleep(0.5)
        runs, open_tasks, failures = _runs_since(database, started)
        queued = int(client.llen("celery"))
        users_done = any(r.stream.endswith(".users") and r.status != "running" for r in runs)
        busy = queued or open_tasks or any(r.status == "running" for r in runs)
        quiet = quiet + 1 if users_done and not busy else 0
        if quiet >= 3:
            break
    else:
        raise RuntimeError("the workers did not finish in time")
    client.close()
    result.extra["runs"] = [
        {
            "stream": r.stream,
            "status": r.status,
            "seen": r.seen,
            "created": r.created,
            "updated": r.updated,
            "failed": r.failed,
            "started": _epoch(r.started_at) - started,
            "seconds": _epoch(r.finished_at) - _epoch(r.started_at),
        }
        for r in runs
    ]
    result.extra["failures"] = failures
    return max(_epoch(r.finished_at) for r in runs)


# -------------------------------------------------------------- write-back
def _optin_event(contact_id: str, value: str, event_id: int) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": 42,
        "appId": 7,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": int(contact_id),
        "propertyName": "workways_newsletter_optin",
        "propertyValue": value,
        "changeSource": "CRM_UI",
    }


def _deliver(http: httpx.Client, url: str, events: list[dict[str, Any]]) -> int:
    from syncworker_sandbox import SANDBOX_HUBSPOT_CLIENT_SECRET

    from syncworker.config import Secret
    from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3

    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    uri = f"{url}/webhooks/hubspot"
    signature = sign_v3("POST", uri, body, stamp, Secret(SANDBOX_HUBSPOT_CLIENT_SECRET))
    response = http.post(
        uri,
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            TIMESTAMP_HEADER: stamp,
        },
    )
    return response.status_code


def _flip_in_hubspot(http: httpx.Client, box: Any, contact_id: str, value: str) -> int:
    """Edit the opt-in the way a person's tool would: HubSpot's batch update API."""
    from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN

    body = {"inputs": [{"id": contact_id, "properties": {"workways_newsletter_optin": value}}]}
    for _ in range(30):
        response = http.post(
            f"{box.hubspot_url}/crm/objects/2026-09/contacts/batch/update",
            json=body,
            headers={"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"},
        )
        if response.status_code != 429:
            return response.status_code
        time.sleep(1.0)
    return 429


def webhooks_scenario(opts: Options, stores: Stores, say: Say) -> Result:
    from syncworker_sandbox.server import free_port

    from bench.measure import run_measured
    from syncworker.store.database import make_engine, session_factory
    from syncworker.store.snapshots import SnapshotStore

    result = Result("webhooks", "6. webhook → Workways write-back")
    say(
        f"write-back: sandboxes with {opts.webhook_users:,} users, receiver + 1 worker, "
        f"{opts.webhook_events} events"
    )
    _flush(opts.redis_url)
    with sandbox(opts, opts.webhook_users, opts.webhook_orgs) as box:
        database = stores.new("webhooks")
        env = {**sync_env(box, database, opts), "REDIS_URL": opts.redis_url}
        setup = run_measured(["-m", "syncworker", "sync", "--quiet"], env)
        if setup.returncode != 0:
            raise RuntimeError(f"the set-up sync failed: {setup.stderr[-2000:]}")
        users = [u for u in box.workways_records("users") if not u.get("isUserArchived")]
        engine = make_engine(database)
        contacts = SnapshotStore(session_factory(engine)).hubspot_ids(
            "workways.users", [u["_id"] for u in users]
        )
        engine.dispose()
        chosen = [u for u in users if u["_id"] in contacts][: opts.webhook_events]
        if len(chosen) < opts.webhook_events:
            result.notes.append(f"only {len(chosen)} synced users available")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        logs = stores.folder / "webhooks"
        logs.mkdir(exist_ok=True)
        receiver = start_group(
            ["-m", "syncworker", "webhooks", "serve", "--port", str(port)],
            env,
            logs / "receiver.log",
        )
        worker = start_group(_worker_args("benchwb"), env, logs / "worker.log")
        latencies: list[float] = []
        answered: list[float] = []  # the receiver's 200, from the edit
        failures: Counter[str] = Counter()
        http = httpx.Client(timeout=10)
        stack = contextlib.ExitStack()
        slow = SlowClients("127.0.0.1", port, opts.slow_clients)
        try:
            _wait_for_workers(opts.redis_url, 1)
            _wait_http(http, f"{url}/healthz")
            box.clear_logs()
            began = time.monotonic()
            stack.enter_context(slow)  # held while every event is timed
            for n, user in enumerate(chosen, start=1):
                want = not bool(box.workways_get("users", user["_id"])["newsOptin"])
                value = "true" if want else "false"
                contact = contacts[user["_id"]]
                status = _flip_in_hubspot(http, box, contact, value)
                edited = time.monotonic()
                if status >= 300:
                    failures[f"HubSpot update {status}"] += 1
                    continue
                status = _deliver(http, url, [_optin_event(contact, value, n)])
                answered.append(time.monotonic() - edited)
                if status != 200:
                    failures[f"webhook {status}"] += 1
                    continue
                seen = _wait_for_optin(box, user["_id"], want, timeout=30.0)
                if seen is None:
                    failures["not written back within 30 s"] += 1
                    continue
                latencies.append(seen - edited)
            result.wall = time.monotonic() - began
        finally:
            stack.close()
            http.close()
            stop_group(worker[0], worker[1])
            stop_group(receiver[0], receiver[1])
        result.hubspot = HubSpotLog(box.hubspot_log())
        result.workways = WorkwaysLog(box.workways_log())
    result.extra.update(
        events=len(chosen),
        written=len(latencies),
        failures=dict(failures),
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        max=max(latencies) if latencies else float("nan"),
        p50_receiver=percentile(answered, 50),
        p95_receiver=percentile(answered, 95),
        slow_clients=opts.slow_clients,
        slow_reopened=slow.reopened,
    )
    say(
        f"  write-back: p50 {result.extra['p50'] * 1000:.0f} ms, "
        f"p95 {result.extra['p95'] * 1000:.0f} ms over {len(latencies)} events"
    )
    return result


def _wait_http(http: httpx.Client, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _wait_for_optin(box: Any, user_id: str, want: bool, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bool(box.workways_get("users", user_id)["newsOptin"]) is want:
            return time.monotonic()
        time.sleep(0.01)
    return None
