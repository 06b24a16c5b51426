"""``python -m bench.launch USAGE_FILE -- ARGS...``: run ``python ARGS`` and record its cost.

Why a launcher: Linux carries a process's peak RSS (``ru_maxrss``) across
``exec``, and a child forked (or vforked) from the benchmark harness starts from
the harness's own address space, which holds whole populations. Measured
directly, every child would "peak" at least at the harness's size. This
process is small, so the child it starts reports its own peak.

Writes ``{"returncode", "wall", "utime", "stime", "maxrss_kb"}`` to USAGE_FILE
(the ``wait4`` usage of the child and its reaped descendants) and exits with
the child's code. SIGTERM and SIGINT are passed on to the child, never obeyed
here, so the usage is written even when the caller stops the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time


def main() -> int:
    usage_file, separator, *args = sys.argv[1:]
    if separator != "--" or not args:
        print("usage: python -m bench.launch USAGE_FILE -- ARGS...", file=sys.stderr)
        return 2
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: become the run under test
        try:
            os.execv(sys.executable, [sys.executable, *args])
        finally:
            os._exit(127)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    with open(usage_file, "w") as handle:
        json.dump(
            {
                "returncode": code,
                "wall": wall,
                "utime": usage.ru_utime,
                "stime": usage.ru_stime,
                "maxrss_kb": usage.ru_maxrss,
            },
            handle,
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main())
