"""The README says what the code does: mapping table, settings, commands."""

from __future__ import annotations

import re
from pathlib import Path

from syncworker.cli.main import build_parser
from syncworker.docs import mapping_tables, workadu_tables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_mapping_tables_match_the_code() -> None:
    assert mapping_tables() in README, "regenerate with: python -m syncworker.docs"
    assert workadu_tables() in README, "regenerate with: python -m syncworker.docs"


def test_every_setting_read_by_the_code_is_documented() -> None:
    package = ROOT / "syncworker"
    code = (package / "config.py").read_text() + (package / "celery_defaults.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"', code))
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.M))
    assert read - documented == set(), "settings missing from the README's table"
    assert documented - read == set(), "README documents settings the code does not read"


def test_the_two_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_cli_command_is_documented() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:  # type: ignore[union-attr]
        assert f"`syncworker {name}" in README, f"syncworker {name} missing from the README"
