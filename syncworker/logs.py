"""Logging set-up: one redacting filter on every handler, text or JSON lines."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from syncworker.redaction import RedactingFilter, redact

# Libraries that log request or response bodies at DEBUG (the HubSpot SDK logs
# whole responses, e-mails included): never below WARNING.
QUIET_LOGGERS = ("hubspot", "urllib3", "httpx", "httpcore", "uvicorn.access")
CONTEXT_FIELDS = ("run_id", "task_id", "task", "stream")

_context: ContextVar[dict[str, object] | None] = ContextVar("syncworker_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Attach ``fields`` (run id, task id…) to every log record made inside."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the run and task ids when known."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                payload[name] = value
        if record.exc_info or record.exc_text:
            payload["exception"] = redact(record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        return json.dumps(payload, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name("syncworker")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "syncworker":  # ours from an earlier call; others stay
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    route_server_logs()


SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def route_server_logs() -> None:
    """uvicorn's loggers lose their own handlers and go through ours (redacted)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for existing in list(logger.handlers):
            logger.removeHandler(existing)
        logger.propagate = True
