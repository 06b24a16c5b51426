"""Both sandboxes together, served on loopback: for the CLI, the demo and tests."""

from __future__ import annotations

from types import TracebackType

from syncworker_sandbox import (
    SANDBOX_HUBSPOT_CLIENT_SECRET,
    SANDBOX_HUBSPOT_TOKEN,
    SANDBOX_WORKWAYS_TOKEN,
)
from syncworker_sandbox.hubspot_app import HubSpotSandbox
from syncworker_sandbox.server import ServerThread
from syncworker_sandbox.workadu import SANDBOX_WORKADU_KEY, WorkaduSandbox
from syncworker_sandbox.workways import WorkwaysSandbox


class Sandboxes:
    """Workways, Workadu and HubSpot sandboxes, each in its own server thread."""

    def __init__(
        self,
        *,
        users: int = 200,
        orgs: int = 30,
        seed: int = 42,
        host: str = "127.0.0.1",
        workways_port: int = 0,
        hubspot_port: int = 0,
        rate_limit_per_10s: int | None = None,
        daily_limit: int | None = None,
        latency_ms: float = 0.0,
        workways_latency_ms: float = 0.0,
        customers: int = 40,
        orders: int = 80,
        invoices: int = 60,
        workadu_port: int = 0,
        hubspot_dated_only: bool = False,
    ) -> None:
        self.workways = WorkwaysSandbox(
            users=users, orgs=orgs, seed=seed, latency_ms=workways_latency_ms
        )
        # Every fifth Workadu customer is a Workways user too (same e-mail, other case).
        shared = [
            (f"{u['firstName']} {u['lastName']}".strip(), u["email"].strip().upper())
            for u in self.workways.users()[: max(1, customers // 5)]
            if not u["isUserArchived"]
        ]
        self.workadu = WorkaduSandbox(
            customers=customers, orders=orders, invoices=invoices, seed=seed, shared_people=shared
        )
        self.hubspot = HubSpotSandbox(
            rate_limit_per_10s=rate_limit_per_10s,
            daily_limit=daily_limit,
            latency_ms=latency_ms,
            seed=seed,
            dated_only=hubspot_dated_only,
        )
        self._workways_server = ServerThread(self.workways.app, host, workways_port)
        self._hubspot_server = ServerThread(self.hubspot.app, host, hubspot_port)
        self._workadu_server = ServerThread(self.workadu.app, host, workadu_port)

    @property
    def workways_url(self) -> str:
        return self._workways_server.url

    @property
    def hubspot_url(self) -> str:
        return self._hubspot_server.url

    @property
    def workadu_url(self) -> str:
        return self._workadu_server.url

    def environment(self, database_url: str, *, workadu: bool = False) -> dict[str, str]:
        """The settings that point syncworker at these sandboxes (Workadu on request)."""
        env = {
            "WORKWAYS_BASE_URL": self.workways_url,
            "WORKWAYS_API_TOKEN": SANDBOX_WORKWAYS_TOKEN,
            "HUBSPOT_BASE_URL": self.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN,
            "HUBSPOT_CLIENT_SECRET": SANDBOX_HUBSPOT_CLIENT_SECRET,
            "DATABASE_URL": database_url,
        }
        if workadu:
            env["WORKADU_BASE_URL"] = self.workadu_url
            env["WORKADU_API_KEY"] = SANDBOX_WORKADU_KEY
        return env

    def start(self) -> Sandboxes:
        started: list[ServerThread] = []
        try:
            for server in self._servers:
                started.append(server.start())
        except BaseException:
            for server in started:
                server.stop()
            raise
        return self

    @property
    def _servers(self) -> tuple[ServerThread, ...]:
        return (self._workways_server, self._hubspot_server, self._workadu_server)

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()

    def __enter__(self) -> Sandboxes:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
