"""Helpers for tests that run real Celery worker and beat processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def holds(check: Callable[[], None]) -> Callable[[], bool]:
    def condition() -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    return condition


@contextmanager
def celery_process(
    args: tuple[str, ...], env: dict[str, str], app: str = "syncworker.celery_app"
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A <app> <args>`` in its own process group, stopped on exit."""
    command = [sys.executable, "-m", "celery", "-A", app, *args]
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=full_env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop(process)


def send_task(broker_url: str, name: str, **kwargs: object) -> str:
    """Queue a task on ``broker_url`` by name, as beat or the CLI would."""
    from syncworker.celery_app import app

    with app.connection_for_write(broker_url) as connection:
        return str(app.send_task(name, kwargs=kwargs, connection=connection).id)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> str:
    """Stop a process group; return what it printed."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    out = process.stdout.read() if process.stdout else b""
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
