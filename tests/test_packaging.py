"""``pip install .`` gives a working package outside the checkout (issue 15).

The wheel is built from a copy of the sources (so no stale ``build/`` of the
checkout can leak into it), installed with its dependencies into a fresh venv,
and run from a temporary folder: ``syncworker db upgrade`` migrates a fresh
SQLite file with the migrations shipped inside the wheel, and a Celery worker
starts on the package's default settings (no ``celeryconfig`` on the path) and
answers a ping on a Redis database given by ``REDIS_URL``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from syncworker.store.database import SCHEMA_HEAD
from tests.conftest import REDIS_TEST_URL, service_missing
from tests.integration import ROOT, stop, wait_until

# A Redis database of this test's own; the worker also listens on a queue and
# answers under a hostname of its own, so a shared database would do no harm.
PACKAGING_REDIS_URL = os.environ.get(
    "TEST_PACKAGING_REDIS_URL", REDIS_TEST_URL.rsplit("/", 1)[0] + "/13"
)
# What a wheel is built from, here and in the Dockerfile.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "syncworker", "migrations")


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_env(**extra: str) -> dict[str, str]:
    """The environment of a user of the installed package: nothing of the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    run([*pip_wheel, str(source)], cwd=out, env=outside_env(), timeout=300)
    (built,) = out.glob("syncworker-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies; returns its ``bin/``."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    bin_dir = home / "bin"
    pip_install = [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)]
    run(pip_install, cwd=home, env=outside_env(), timeout=600)
    return bin_dir


@pytest.mark.integration
@pytest.mark.slow
def test_the_wheel_carries_the_migrations_and_no_sandbox(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    migrations = {Path(n).name for n in names if n.startswith("syncworker/migrations/versions/")}
    expected = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert expected and migrations == expected
    assert "syncworker/migrations/env.py" in names
    assert "syncworker/migrations/script.py.mako" in names
    assert "syncworker/celery_defaults.py" in names
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"syncworker", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert not [n for n in names if "sandbox" in n]


@pytest.fixture(scope="module")  # before the venv is built: a missing Redis fails fast
def packaging_broker() -> Iterator[str]:
    client: redis.Redis[bytes] = redis.Redis.from_url(PACKAGING_REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {PACKAGING_REDIS_URL}", exc)
    yield PACKAGING_REDIS_URL
    client.close()


@pytest.mark.integration
@pytest.mark.slow
def test_the_installed_package_migrates_and_runs_a_worker_outside_the_checkout(
    packaging_broker: str, installed: Path, tmp_path: Path
) -> None:
    python = str(installed / "python")
    where = tmp_path / "elsewhere"
    where.mkdir()
    database = where / "syncworker.db"
    env = outside_env(DATABASE_URL=f"sqlite:///{database}", REDIS_URL=packaging_broker)

    # The wheel's own files are imported, with its migrations and Celery defaults.
    probe = (
        "import syncworker, syncworker.celery_app as c, syncworker.store.database as d;"
        "print(syncworker.__file__); print(c.CONFIG_MODULE); print(d.MIGRATIONS)"
    )
    module, config, migrations = run([python, "-c", probe], where, env, 60).split()
    venv_home = installed.parent.resolve()
    assert Path(module).resolve().is_relative_to(venv_home)
    assert config == "syncworker.celery_defaults"
    assert Path(migrations).resolve().is_relative_to(venv_home)

    run([str(installed / "syncworker"), "db", "upgrade"], where, env, 120)
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"alembic_version", "sync_runs", "synced_records", "run_partitions"} <= tables
    assert version == SCHEMA_HEAD

    name = f"packaging-{uuid.uuid4().hex[:8]}"
    hostname = f"{name}@{os.uname().nodename}"
    celery = [python, "-m", "celery", "-A", "syncworker.celery_app"]
    worker_options = ["--pool=solo", f"--hostname={hostname}", f"--queues={name}"]
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"]
    worker = subprocess.Popen(
        [*celery, "worker", *worker_options, *quiet],
        cwd=where,
        env={**env, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    control = Celery("packaging-test", broker=packaging_broker)

    def answers() -> bool:
        assert worker.poll() is None, "the worker exited"
        return bool(control.control.ping(destination=[hostname], timeout=0.5))

    failure = ""
    try:
        wait_until(answers, timeout=60, what=f"worker {hostname} to answer a ping")
    except AssertionError as exc:
        failure = str(exc)
    finally:
        output = stop(worker)
        control.close()
    assert not failure, f"{failure}\nworker output:\n{output}"
    assert "Traceback" not in output, output


def test_the_image_installs_the_wheel_built_from_the_same_sources() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {
        word.removeprefix("./")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for word in line.split()[1:-1]
    }
    # no sandbox, no tests, no celeryconfig.py; the runtime lock for the dependencies
    assert copied == {*SOURCES, "requirements.lock"}
    assert "pip wheel" in dockerfile and "pip install -e" not in dockerfile
