"""Both sandboxes in a process of their own, plus a small control endpoint.

``python -m bench.sandboxes --users N --orgs N ...`` constructs
:class:`syncworker_sandbox.runner.Sandboxes` (which, unlike ``syncworker
sandbox``, takes a Workways latency), serves it on loopback, prints one JSON
line with the URLs, then serves until SIGTERM. The HubSpot sandbox has no HTTP
view of its request log, so this process adds one on a third port:

    GET    /hubspot/log      {"records": [[method, path, status, batch_size, at], ...]}
    DELETE /hubspot/log
    GET    /hubspot/objects  {"contacts": n, "companies": n, "associations": n}
    GET    /workways/log     {"records": [[method, path, query, status, at], ...]}
    DELETE /workways/log

:class:`SandboxProcess` is the parent's handle on such a process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- child side
def _control_app(boxes: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def hubspot_log(request: Request) -> Response:
        if request.method == "DELETE":
            boxes.hubspot.clear_log()
            return Response(status_code=204)
        entries = list(boxes.hubspot.request_log)
        return JSONResponse(
            {"records": [[e.method, e.path, e.status, e.batch_size, e.at] for e in entries]}
        )

    async def workways_log(request: Request) -> Response:
        if request.method == "DELETE":
            boxes.workways.clear_log()
            return Response(status_code=204)
        return JSONResponse(
            {
                "records": [
                    [r.method, r.path, r.query, r.status, r.at] for r in boxes.workways.request_log
                ]
            }
        )

    async def hubspot_objects(request: Request) -> Response:
        store = boxes.hubspot.store
        contacts = store.objects("contacts")
        companies = store.objects("companies")
        pairs = sum(len(store.associations("contacts", c["id"], "companies")) for c in contacts)
        return JSONResponse(
            {"contacts": len(contacts), "companies": len(companies), "associations": pairs}
        )

    return Starlette(
        routes=[
            Route("/hubspot/log", hubspot_log, methods=["GET", "DELETE"]),
            Route("/hubspot/objects", hubspot_objects, methods=["GET"]),
            Route("/workways/log", workways_log, methods=["GET", "DELETE"]),
        ]
    )


def serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandboxes")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--orgs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--workways-latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)

    from syncworker_sandbox.runner import Sandboxes
    from syncworker_sandbox.server import ServerThread

    boxes = Sandboxes(
        users=args.users,
        orgs=args.orgs,
        seed=args.seed,
        rate_limit_per_10s=args.rate_limit,
        latency_ms=args.latency_ms,
        workways_latency_ms=args.workways_latency_ms,
    )
    control = ServerThread(_control_app(boxes))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with boxes, control:
        print(
            json.dumps(
                {
                    "workways": boxes.workways_url,
                    "hubspot": boxes.hubspot_url,
                    "control": control.url,
                    "pid": os.getpid(),
                }
            ),
            flush=True,
        )
        stop.wait()


# ---------------------------------------------------------------- parent side
class SandboxProcess:
    """Start ``python -m bench.sandboxes`` and talk to it over HTTP."""

    def __init__(
        self,
        *,
        users: int,
        orgs: int,
        seed: int,
        rate_limit: int | None,
        latency_ms: float,
        workways_latency_ms: float,
    ) -> None:
        self.args = [
            "--users",
            str(users),
            "--orgs",
            str(orgs),
            "--seed",
            str(seed),
            "--latency-ms",
            str(latency_ms),
            "--workways-latency-ms",
            str(workways_latency_ms),
        ]
        if rate_limit is not None:
            self.args += ["--rate-limit", str(rate_limit)]
        self.process: subprocess.Popen[str] | None = None
        self.urls: dict[str, str] = {}
        self.http = httpx.Client(timeout=120)

    def start(self) -> SandboxProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.sandboxes", *self.args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise RuntimeError(f"the sandbox process exited with {self.process.returncode}")
        self.urls = json.loads(line)
        return self

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def workways_url(self) -> str:
        return self.urls["workways"]

    @property
    def hubspot_url(self) -> str:
        return self.urls["hubspot"]

    def environment(self, database_url: str) -> dict[str, str]:
        from syncworker_sandbox import (
            SANDBOX_HUBSPOT_CLIENT_SECRET,
            SANDBOX_HUBSPOT_TOKEN,
            SANDBOX_WORKWAYS_TOKEN,
        )

        return {
            "WORKWAYS_BASE_URL": self.workways_url,
            "WORKWAYS_API_TOKEN": SANDBOX_WORKWAYS_TOKEN,
            "HUBSPOT_BASE_URL": self.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN,
            "HUBSPOT_CLIENT_SECRET": SANDBOX_HUBSPOT_CLIENT_SECRET,
            "DATABASE_URL": database_url,
        }

    def cpu_watch(self) -> Any:
        from bench.measure import CpuWatch

        assert self.process is not None
        return CpuWatch(self.process.pid).start()

    # ------------------------------------------------------------ control
    def hubspot_log(self) -> list[list[Any]]:
        response = self.http.get(f"{self.urls['control']}/hubspot/log")
        response.raise_for_status()
        return list(response.json()["records"])

    def workways_log(self) -> list[list[Any]]:
        response = self.http.get(f"{self.urls['control']}/workways/log")
        response.raise_for_status()
        return list(response.json()["records"])

    def clear_logs(self) -> None:
        self.http.delete(f"{self.urls['control']}/hubspot/log").raise_for_status()
        self.http.delete(f"{self.urls['control']}/workways/log").raise_for_status()

    def hubspot_objects(self) -> dict[str, int]:
        response = self.http.get(f"{self.urls['control']}/hubspot/objects")
        response.raise_for_status()
        return dict(response.json())

    def workways_records(self, kind: str) -> list[dict[str, Any]]:
        """Every user or organization, through the Workways control surface."""
        response = self.http.get(f"{self.workways_url}/_sandbox/{kind}")
        response.raise_for_status()
        return list(response.json())

    def workways_get(self, kind: str, record_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.workways_url}/_sandbox/{kind}/{record_id}")
        response.raise_for_status()
        return dict(response.json())

    def workways_patch(self, kind: str, record_id: str, fields: dict[str, Any]) -> None:
        response = self.http.patch(f"{self.workways_url}/_sandbox/{kind}/{record_id}", json=fields)
        response.raise_for_status()


if __name__ == "__main__":
    serve()
