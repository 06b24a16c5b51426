"""The ops app in-process: probes, who gets in, CSRF, and the worker heartbeat probe."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from syncworker.app.container import Container
from syncworker.cli.main import main
from syncworker.config import Settings
from syncworker.ops.app import ops_app
from syncworker.ops.auth import COOKIE
from tests.conftest import fresh_database


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``stop()`` is PostgreSQL going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):  # wakes its accept() (a close alone does not)
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()


@pytest.fixture
def migrated_url() -> Iterator[str]:
    with fresh_database("syncworker_ops_app") as url:
        yield url


@pytest.mark.integration
def test_readyz_names_the_database_while_it_is_away_and_recovers(migrated_url: str) -> None:
    real = make_url(migrated_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    services = Container(Settings(database_url=via_proxy))
    try:
        with TestClient(ops_app(services, host="127.0.0.1")) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}

            proxy.stop()
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["failing"] == ["database"]
            assert client.get("/healthz").status_code == 200  # the process still serves

            proxy.start()  # same port: PostgreSQL is back
            back = client.get("/readyz")
            assert back.status_code == 200, back.json()
    finally:
        proxy.stop()
        services.db.dispose()


@pytest.mark.integration
def test_readyz_names_pending_migrations_and_redis() -> None:
    with fresh_database("syncworker_ops_unmigrated") as url:
        from sqlalchemy import text

        services = Container(Settings(database_url=url, redis_url="redis://127.0.0.1:1/11"))
        with services.db.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        try:
            with TestClient(ops_app(services, host="127.0.0.1")) as client:
                answer = client.get("/readyz")
            assert answer.status_code == 503
            assert answer.json()["failing"] == ["redis", "migrations"]
        finally:
            services.db.dispose()


def sqlite_services(tmp_path: Path, token: str | None) -> Container:
    from syncworker.store.database import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    env = {"DATABASE_URL": url, **({"OPS_TOKEN": token} if token else {})}
    return Container(Settings.from_env(env))


def test_without_a_token_the_page_is_open_on_loopback_only(tmp_path: Path) -> None:
    services = sqlite_services(tmp_path, None)
    with TestClient(ops_app(services, host="127.0.0.1")) as client:
        assert client.get("/ops").status_code == 200
        assert client.get("/metrics").status_code == 200
    with TestClient(ops_app(services, host="0.0.0.0")) as client:
        assert client.get("/ops").status_code == 403
        assert client.get("/metrics").status_code == 403
        assert client.get("/healthz").status_code == 200


def quarantine(services: Container) -> int:
    failure = services.store.failures.record(
        "workways.users", "u-1", stage="upsert", message="HTTP 400", max_attempts=1
    )
    return failure.id


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_release_needs_the_session_and_its_csrf_token(tmp_path: Path) -> None:
    services = sqlite_services(tmp_path, "ops-app-test-token-77")
    failure_id = quarantine(services)
    with TestClient(ops_app(services, host="0.0.0.0"), follow_redirects=False) as client:
        # no session: refused
        refused = client.post("/ops/failures/release", data={"id": str(failure_id)})
        assert refused.status_code == 401
        # wrong token at the login form
        assert client.post("/ops/login", data={"token": "guess"}).status_code == 401
        assert COOKIE not in client.cookies
        login = client.post("/ops/login", data={"token": "ops-app-test-token-77"})
        assert login.status_code == 303
        assert "ops-app-test-token-77" not in login.headers["set-cookie"]
        csrf = csrf_of(client.get("/ops").text)
        # a session but no CSRF token (a forged cross-site form): refused
        forged = client.post("/ops/failures/release", data={"id": str(failure_id)})
        assert forged.status_code == 403
        cross = client.post(
            "/ops/failures/release",
            data={"id": str(failure_id), "csrf": csrf},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status_code == 403
        assert services.store.failures.counts()["quarantined"] == 1
        released = client.post("/ops/failures/release", data={"id": str(failure_id), "csrf": csrf})
        assert released.status_code == 303
    assert services.store.failures.counts() == {"failing": 1, "quarantined": 0}


def test_a_bearer_token_releases_without_a_csrf_token(tmp_path: Path) -> None:
    services = sqlite_services(tmp_path, "ops-app-test-token-88")
    failure_id = quarantine(services)
    with TestClient(ops_app(services, host="0.0.0.0"), follow_redirects=False) as client:
        answer = client.post(
            "/ops/failures/release",
            data={"id": str(failure_id)},
            headers={"Authorization": "Bearer ops-app-test-token-88"},
        )
    assert answer.status_code == 303
    assert services.store.failures.counts()["quarantined"] == 0


def test_health_worker_reads_the_heartbeat_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat = tmp_path / "worker.heartbeat"
    monkeypatch.setenv("WORKER_HEARTBEAT_FILE", str(beat))
    monkeypatch.setenv("WORKER_HEARTBEAT_SECONDS", "10")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["health", "--worker"]) == 1  # no file yet
    beat.touch()
    assert main(["health", "--worker"]) == 0
    stale = time.time() - 31  # older than 3 x 10 s
    os.utime(beat, (stale, stale))
    assert main(["health", "--worker"]) == 1
    assert main(["health", "--worker", "--max-age", "60"]) == 0
