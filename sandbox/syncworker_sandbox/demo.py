"""``syncworker demo``: a full sync, some Workways edits, an incremental sync.

Everything runs in this process against the sandboxes and a fresh SQLite
store in a temporary folder: no credentials, no broker, nothing left behind.
With ``--serve`` the sandboxes stay up and the ops app serves that store on
loopback until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import random
import socket
import sys
import tempfile
from pathlib import Path

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.cli import EXIT_FAILURES, EXIT_OK
from syncworker.cli.output import ProgressPrinter, summary
from syncworker.config import Settings
from syncworker.engine.state import RunResult
from syncworker.store.database import upgrade
from syncworker_sandbox.runner import Sandboxes


def _section(title: str) -> None:
    print(f"\n== {title}")


def _edit_workways(boxes: Sandboxes, changes: int, seed: int = 7) -> dict[str, int]:
    """Change ``changes`` users and a few organizations on the Workways side."""
    rng = random.Random(seed)
    users = [u for u in boxes.workways.users() if not u.get("isUserArchived")]
    orgs = [o for o in boxes.workways.organizations() if not o.get("isArchived")]
    picked = rng.sample(users, min(changes, len(users)))
    for n, user in enumerate(picked):
        if n % 3 == 0:
            boxes.workways.update_user(user["_id"], title=f"Community manager {n}")
        elif n % 3 == 1:
            boxes.workways.update_user(user["_id"], newsOptin=not user.get("newsOptin"))
        else:
            boxes.workways.update_user(user["_id"], lastName=f"{user.get('lastName', '')}-Martin")
    org_edits = rng.sample(orgs, min(2, len(orgs)))
    for org in org_edits:
        boxes.workways.update_organization(org["_id"], basePrice=(org.get("basePrice") or 0) + 100)
    return {"users": len(picked), "organizations": len(org_edits)}


def _run(services: Container, full: bool) -> list[RunResult]:
    progress = ProgressPrinter()
    try:
        return sync_streams(services, "all", full=full, trigger="demo", progress=progress)
    finally:
        progress.done()


SERVE_HINT = (
    "To look around: `syncworker demo --serve` keeps the sandboxes and the ops page "
    "(/ops, /metrics) running until Ctrl-C."
)


def serve_ops(services: Container, port: int = 0) -> None:
    """The ops app for the demo's store on 127.0.0.1 (open on loopback) until Ctrl-C."""
    import uvicorn

    from syncworker.ops.app import ops_app

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        ops_app(services, host="127.0.0.1"), log_level="warning", access_log=False
    )
    _section("Serving")
    print(f"ops page: {base}/ops  (metrics {base}/metrics; Ctrl-C to stop)", flush=True)
    sys.stdout.flush()
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again: the demo ends normally
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[listener])
    print("stopped", flush=True)


def run_demo(
    users: int = 300, orgs: int = 40, changes: int = 12, *, serve: bool = False, port: int = 0
) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="syncworker-demo-") as folder,
        Sandboxes(users=users, orgs=orgs) as boxes,
    ):
        database_url = f"sqlite:///{Path(folder) / 'demo.db'}"
        services = Container(Settings.from_env(boxes.environment(database_url, workadu=True)))
        _section(
            f"Sandboxes: Workways {boxes.workways_url}, Workadu {boxes.workadu_url}, "
            f"HubSpot {boxes.hubspot_url}"
        )
        upgrade(services.db)
        print(f"fresh snapshot store: {database_url}")

        _section("First sync: everything is new")
        first = _run(services, full=False)
        for result in first:
            print(summary(result))

        edited = _edit_workways(boxes, changes)
        _section(
            f"Workways edits: {edited['users']} users and "
            f"{edited['organizations']} organizations changed"
        )

        _section("Incremental sync: only what changed")
        second = _run(services, full=False)
        for result in second:
            print(summary(result))

        pushed = sum(r.counts["updated"] + r.counts["created"] for r in second)
        expected = edited["users"] + edited["organizations"]
        hubspot = boxes.hubspot.store
        contacts, companies, deals = (
            len(hubspot.objects(t)) for t in ("contacts", "companies", "deals")
        )
        both = sum(
            1
            for c in hubspot.objects("contacts")
            if c["properties"].get("workways_user_id")
            and c["properties"].get("workadu_customer_id")
        )
        _section("Result")
        print(
            f"HubSpot sandbox holds {contacts} contacts ({both} known to both Workways and "
            f"Workadu), {companies} companies and {deals} deals; the incremental sync pushed "
            f"{pushed} record(s) for {expected} edit(s)."
        )
        failed = sum(r.counts["failed"] for r in first + second)
        if serve:
            serve_ops(services, port)
        else:
            print(f"\n{SERVE_HINT}")
        services.db.dispose()
        return EXIT_FAILURES if failed or pushed != expected else EXIT_OK
