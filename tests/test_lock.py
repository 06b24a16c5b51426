"""Reproducible installs (issue 19, point 7): the lock files, and the three places
that install from them (the Makefile's set-up, hence .ci/run; the Dockerfile).

The lock files are made by `make lock`; these tests read them as text and need
neither the network nor Docker (the compose check is skipped without ``docker``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK, DEV_LOCK = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\$", re.M)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {normalise(name): version for name, version in PIN.findall(path.read_text())}


def requirement_names(requirements: list[str]) -> set[str]:
    return {normalise(re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0]) for r in requirements}


def project(path: Path = ROOT / "pyproject.toml") -> dict[str, object]:
    return tomllib.loads(path.read_text())["project"]  # type: ignore[no-any-return]


def entries(path: Path) -> list[str]:
    """Each requirement of a lock file with its continuation lines, comments dropped."""
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    return [entry for entry in re.split(r"\n(?=\S)", text) if entry.strip()]


@pytest.mark.parametrize("path", [LOCK, DEV_LOCK], ids=["runtime", "dev"])
def test_every_locked_requirement_is_pinned_with_a_hash(path: Path) -> None:
    found = entries(path)
    assert len(found) > 20
    for entry in found:
        assert re.match(r"^[A-Za-z0-9._-]+==\S+ \\\n", entry), entry
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry


def test_the_runtime_lock_holds_the_runtime_dependencies_and_no_more() -> None:
    runtime = pins(LOCK)
    wanted = requirement_names(project()["dependencies"])  # type: ignore[arg-type]
    sandbox = project(ROOT / "sandbox" / "pyproject.toml")["dependencies"]
    wanted |= requirement_names(sandbox) - {"syncworker"}  # type: ignore[arg-type]
    assert wanted <= set(runtime), f"missing from requirements.lock: {wanted - set(runtime)}"
    assert "prometheus-client" in runtime
    # dev tools, and the HubSpot SDK the gateway replaced, stay out of the image
    for absent in ("pytest", "mypy", "ruff", "websocket-client", "hubspot-api-client", "uv"):
        assert absent not in runtime


def test_the_dev_lock_adds_the_dev_tools_at_the_runtime_versions() -> None:
    runtime, dev = pins(LOCK), pins(DEV_LOCK)
    assert {name: dev.get(name) for name in runtime} == runtime
    extras = project()["optional-dependencies"]["dev"]  # type: ignore[index]
    wanted = requirement_names(extras)
    assert wanted <= set(dev), f"missing from requirements-dev.lock: {wanted - set(dev)}"
    assert "websocket-client" in dev and "hubspot-api-client" not in dev


@pytest.mark.parametrize("path", ["pyproject.toml", "sandbox/pyproject.toml"])
def test_every_runtime_dependency_has_an_upper_bound(path: str) -> None:
    for requirement in project(ROOT / path)["dependencies"]:  # type: ignore[attr-defined]
        if requirement == "syncworker":  # the sandbox's sibling in this checkout
            continue
        assert "<" in requirement, f"{path}: {requirement} has no upper bound"


def test_the_makefile_sets_up_from_the_lock_files() -> None:
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\): (.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert stamp is not None
    assert {"$(LOCK)", "$(DEV_LOCK)"} <= set(stamp.group(1).split())
    recipe = stamp.group(2)
    assert "--require-hashes -r $(DEV_LOCK)" in recipe
    assert "--no-deps -e . -e ./sandbox" in recipe
    assert re.search(r"^LOCK += requirements\.lock$", makefile, re.M)
    assert re.search(r"^DEV_LOCK = requirements-dev\.lock$", makefile, re.M)
    assert re.search(r"^lock:", makefile, re.M)
    assert "make lock" in (ROOT / "README.md").read_text()


def test_the_image_installs_the_runtime_lock_then_the_wheel_alone() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim", b) for b in bases), bases
    install_lock = dockerfile.index("--require-hashes -r /tmp/requirements.lock")
    install_wheel = dockerfile.index("--no-deps /wheels/")
    assert install_lock < install_wheel


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


@pytest.mark.skipif(not compose_available(), reason="docker compose is not installed")
def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose))
    env = {**os.environ, **{name: "placeholder-value" for name in required}}
    empty = tmp_path / "empty.env"  # no .env of the checkout's is read
    empty.write_text("")
    compose_file = str(ROOT / "docker-compose.yml")
    done = subprocess.run(
        ["docker", "compose", "-f", compose_file, "--env-file", str(empty), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_docker_compose_publishes_on_loopback_and_takes_passwords_from_the_env() -> None:
    """Plain YAML, no Docker: the ops app on 127.0.0.1 only, no service on another
    address, and the PostgreSQL and Redis passwords from .env (required, never inline)."""
    import yaml

    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    published = {name: svc.get("ports", []) for name, svc in services.items() if "ports" in svc}
    assert published == {"ops": ["127.0.0.1:8000:8000"]}

    postgres_password = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"
    redis_password = "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == postgres_password
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1] == redis_password
    for name in ("migrate", "worker", "beat", "ops"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"] == (
            "postgresql://syncworker:${POSTGRES_PASSWORD}@postgres:5432/syncworker"
        )
        assert env["REDIS_URL"] == "redis://:${REDIS_PASSWORD}@redis:6379/0"
    assert "syncworker:syncworker@" not in text and "POSTGRES_PASSWORD: syncworker" not in text
