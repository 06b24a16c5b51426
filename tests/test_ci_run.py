""".ci/run, with stand-ins for make, redis-cli, pg_isready, sleep and chromium on the PATH
(the real services are neither touched nor needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CI_RUN = Path(__file__).resolve().parent.parent / ".ci" / "run"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run_ci(tmp_path: Path, *, redis_up: bool, postgres_up: bool) -> tuple[int, str, list[str]]:
    bin_dir, log = tmp_path / "bin", tmp_path / "make.log"
    bin_dir.mkdir()
    stub(bin_dir, "make", f'echo "$* CI=$CI" >> {log}')
    stub(bin_dir, "redis-cli", f"exit {0 if redis_up else 1}")
    stub(bin_dir, "pg_isready", f"exit {0 if postgres_up else 2}")
    stub(bin_dir, "sleep", "exit 0")
    stub(bin_dir, "chromium", "exit 0")  # present: nothing to install
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", str(CI_RUN)], env=env, capture_output=True, text=True, check=False
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, done.stderr, calls


def test_runs_the_tests_with_ci_set_once_the_services_answer(tmp_path: Path) -> None:
    code, _, calls = run_ci(tmp_path, redis_up=True, postgres_up=True)
    assert code == 0
    assert calls == ["services CI=true", "test CI=true"]


@pytest.mark.parametrize(
    ("redis_up", "postgres_up", "silent"),
    [
        (False, True, ["Redis"]),
        (True, False, ["PostgreSQL"]),
        (False, False, ["Redis", "PostgreSQL"]),
    ],
)
def test_a_service_that_never_answers_fails_without_running_the_tests(
    tmp_path: Path, redis_up: bool, postgres_up: bool, silent: list[str]
) -> None:
    code, err, calls = run_ci(tmp_path, redis_up=redis_up, postgres_up=postgres_up)
    assert code == 1 and "did not answer within 30 s" in err
    named = [name for name in ("Redis", "PostgreSQL") if f"{name} (127.0.0.1:" in err]
    assert named == silent
    assert calls == ["services CI=true"]
