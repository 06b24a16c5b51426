"""A real ``syncworker serve`` process for tests, and reading its answers."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.integration import spawn, stop, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(env: dict[str, str], host: str = "127.0.0.1") -> Iterator[str]:
    """``syncworker serve`` on a free port; yields its base URL once /healthz answers."""
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "syncworker.cli.main", "serve", "--host", host, "--port", str(port)],
        env,
    )
    base = f"http://{host}:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError("serve exited:\n" + stop(process))
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30, "syncworker serve to answer /healthz")
        yield base
    finally:
        stop(process)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(name, sorted labels) -> value`` of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
