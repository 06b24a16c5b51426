# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up, then run a full and an incremental sync against the sandboxes
#   make test   set up, then lint, type-check and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck pytest services bench clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./sandbox
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/syncworker demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Start the local Redis and PostgreSQL when they are not running (CI does this).
services:
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
