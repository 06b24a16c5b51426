"""Helpers for tests that run real Celery worker and beat processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds.

    This waits for an observable outcome (HubSpot converged, a row appeared),
    it is not a sleep standing in for synchronisation.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class InFlight:
    """ASGI middleware counting the HTTP requests being served at once.

    ``most`` is the largest number seen together: an observable sign that
    requests overlapped, where a test would otherwise time them. It runs on the
    server's one event loop, so the counts need no lock.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


def holds(check: Callable[[], None]) -> Callable[[], bool]:
    def condition() -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    return condition


_OUTPUT: dict[int, IO[bytes]] = {}


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``command`` in its own process group, from the checkout, with ``env`` added.

    Its output goes to a temporary file that :func:`stop` returns: a pipe nobody
    reads fills up after 64 KiB, and a busy worker would then block on its log."""
    output = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    _OUTPUT[process.pid] = output
    return process


@contextmanager
def celery_process(
    args: tuple[str, ...], env: dict[str, str], app: str = "syncworker.celery_app"
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A <app> <args>`` in its own process group, stopped on exit."""
    process = spawn([sys.executable, "-m", "celery", "-A", app, *args], env)
    try:
        yield process
    finally:
        stop(process)


CELERY = (sys.executable, "-m", "celery", "-A", "syncworker.celery_app")


def inspect(broker: str, command: str) -> dict[str, Any]:
    """``celery inspect <command>``, asked from another process as an operator would:
    each worker's answer by name ({} when none answered)."""
    answer = subprocess.run(
        [*CELERY, "-b", broker, "inspect", command, "--timeout=1", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    lines = [line for line in answer.stdout.splitlines() if line.startswith(("{", "["))]
    return dict(json.loads(lines[-1])) if answer.returncode == 0 and lines else {}


def workers_ready(broker: str) -> int:
    """Workers answering a ping."""
    return len(inspect(broker, "ping"))


def send_task(broker_url: str, name: str, **kwargs: object) -> str:
    """Queue a task on ``broker_url`` by name, as beat or the CLI would."""
    from syncworker.celery_app import app

    with app.connection_for_write(broker_url) as connection:
        return str(app.send_task(name, kwargs=kwargs, connection=connection).id)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> str:
    """Stop a process group; return what it printed.

    SIGTERM goes to the main process only: a Celery worker then shuts down warmly,
    letting its pool finish the running task (pool children that got SIGTERM
    themselves would raise ``SystemExit`` inside it). Any other signal, such as
    SIGKILL for a worker dying, goes to the whole group."""
    if process.poll() is None:
        try:
            if sig == signal.SIGTERM:
                os.kill(process.pid, sig)
            else:
                os.killpg(process.pid, sig)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # pool children left behind
        os.killpg(process.pid, signal.SIGKILL)
    output = _OUTPUT.pop(process.pid, None)
    if output is None:
        out = process.stdout.read() if process.stdout else b""
    else:
        with output:
            output.seek(0)
            out = output.read()
    return out.decode(errors="replace")


def worker_args(name: str, concurrency: int = 1) -> tuple[str, ...]:
    """Arguments of a worker process; the process pool, as in production."""
    return (
        "worker",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
    )
