"""``syncworker demo --serve`` as a real process: the page's URL, its probes, Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading

import httpx

from tests.integration import ROOT, stop

HANG_GUARD_SECONDS = 180  # only against a hung process; never a bound on speed
DEMO = [sys.executable, "-m", "syncworker.cli.main", "demo", "--users", "30", "--orgs", "5"]
DEMO += ["--changes", "3"]


def test_demo_serve_keeps_the_ops_page_up_until_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERT_", "OPS_"))}
    process = subprocess.Popen(
        [*DEMO, "--serve"],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    printed: list[str] = []
    try:
        url = None
        while url is None:
            line = lines.get(timeout=HANG_GUARD_SECONDS)
            assert line is not None, "demo --serve ended early:\n" + "".join(printed)
            printed.append(line)
            found = re.search(r"ops page: (http://127\.0\.0\.1:\d+)/ops", line)
            url = found.group(1) if found else None
        assert "the incremental sync pushed 5 record(s) for 5 edit(s)" in "".join(printed)

        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        page = httpx.get(f"{url}/ops")  # loopback without OPS_TOKEN: open
        assert page.status_code == 200
        assert "workways.users" in page.text and "workadu.customers" in page.text

        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=HANG_GUARD_SECONDS) == 0
        while (line := lines.get(timeout=HANG_GUARD_SECONDS)) is not None:
            printed.append(line)
        assert "Traceback" not in "".join(printed)
        try:
            httpx.get(f"{url}/healthz")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the ops app still answers after Ctrl-C")
    finally:
        stop(process)


def test_plain_demo_ends_with_the_serve_hint() -> None:
    from syncworker_sandbox.demo import SERVE_HINT

    finished = subprocess.run(
        DEMO,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=HANG_GUARD_SECONDS,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.rstrip().splitlines()[-1] == SERVE_HINT
    assert "syncworker demo --serve" in SERVE_HINT
