"""Redaction of secrets and personal data, shared by logs and stored errors.

One function, :func:`redact`, is applied to every log record (through
:class:`RedactingFilter`) and to every error message written to the database
or shown to a user. It removes:

- secrets registered with :func:`register_secret` (tokens, client secrets, the
  passwords of ``DATABASE_URL`` and ``REDIS_URL``);
- the password of any URL's user info (``scheme://user:password@host``);
- ``Authorization`` header values and bearer tokens, Workways tokens
  (``ww_dev_…``) and HubSpot private-app tokens (``pat-…``);
- e-mail addresses and phone numbers.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

REDACTED = "[redacted]"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a URL's password, registered or not (a short one is never registered)
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer\s+|basic\s+)?[^\s'\",}]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"\bww_dev_[0-9A-Za-z]+"), REDACTED),
    (re.compile(r"\bpat-[a-z0-9]+-[0-9a-fA-F-]{8,}"), REDACTED),
    (re.compile(r"(?i)(client[_-]?secret['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1" + REDACTED),
    # HubSpot's INVALID_EMAIL message quotes the rejected value, whatever it is
    (re.compile(r"(?i)(email address\s+)\S+(\s+is invalid)"), r"\1" + REDACTED + r"\2"),
    # e-mail addresses
    (re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"), REDACTED),
    # phone numbers: + or digit, then digits with spaces, dots, dashes, brackets (>= 8 digits)
    (re.compile(r"(?<![\w/-])\+?\(?\d(?:[\s.()-]*\d){7,}(?![\w/-])"), REDACTED),
)


def register_secret(value: str | None) -> None:
    """Make ``value`` redacted wherever it appears from now on."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every secret, token, e-mail address and phone number removed."""
    if not text:
        return text
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name in ("run_id", "task_id", "stream"):
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True
