# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up, then run a full and an incremental sync against the sandboxes
#   make test   set up, then lint, type-check and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
# Every dependency, pinned with hashes (Python 3.11, Linux x86_64): the runtime
# ones for the image, the runtime and dev ones for here. `make lock` updates them.
LOCK     = requirements.lock
DEV_LOCK = requirements-dev.lock

.PHONY: demo test lint typecheck pytest services bench clean lock

# The locked dependencies first (pip refuses anything without a matching hash),
# then the two packages of this checkout without theirs; pip check catches a
# dependency of pyproject.toml that the lock files miss (run `make lock`).
$(STAMP): $(LOCK) $(DEV_LOCK) pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e . -e ./sandbox
	$(BIN)/pip check
	touch $(STAMP)

# Resolve pyproject.toml's dependencies again into the lock files, keeping the
# pins that still fit; `make lock LOCK_FLAGS=--upgrade` takes the newest releases.
LOCK_FLAGS ?=
UV_COMPILE  = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(LOCK_FLAGS)
lock:
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet 'uv>=0.4,<1'; }
	$(UV_COMPILE) pyproject.toml -o $(LOCK)
	$(UV_COMPILE) pyproject.toml --extra dev --constraint $(LOCK) -o $(DEV_LOCK)

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
