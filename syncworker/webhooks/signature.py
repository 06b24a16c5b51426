"""HubSpot webhook signature v3 (``X-HubSpot-Signature-v3``).

Signed string = method + URI + body + timestamp, where the URI is the full
``https://host/path?query`` with ``%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C
%3B`` decoded, the body is the raw request body read as UTF-8 and the
timestamp is the ``X-HubSpot-Request-Timestamp`` header (epoch milliseconds).
The signature is base64(HMAC-SHA256(client secret, signed string)).

Unlike the SDK's ``Signature.is_valid``, the time window is two-sided: a
timestamp more than ``max_skew_ms`` in the past *or* in the future is refused.
Error reasons are fixed strings: they never quote a header, body or secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from syncworker.config import Secret
from syncworker.errors import SyncWorkerError

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_SKEW_MS = 300_000  # five minutes, either direction

_MAX_SIGNATURE_LENGTH = 256  # a base64 SHA-256 digest is 44 characters
_TIMESTAMP = re.compile(r"[0-9]{1,16}")

# HubSpot decodes exactly these escapes before signing. Matched case-insensitively:
# a proxy that rewrites "%3A" as "%3a" still yields the string HubSpot signed.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(re.escape(k) for k in _DECODED), re.IGNORECASE)


class SignatureError(SyncWorkerError):
    """The request's signature is missing, malformed, wrong or outside the window."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def normalize_uri(uri: str) -> str:
    """``uri`` with the escapes HubSpot decodes before signing decoded."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def _digest(method: str, uri: str, body: bytes, timestamp: str, key: str) -> str:
    # HMAC over the raw body bytes: for a UTF-8 body (the only kind verify_v3
    # accepts) that is exactly the bytes of "body decoded as UTF-8", re-encoded.
    head = f"{method.upper()}{normalize_uri(uri)}".encode()
    mac = hmac.new(key.encode("utf-8"), head + body + timestamp.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def sign_v3(method: str, uri: str, body: bytes | str, timestamp: str | int, secret: Secret) -> str:
    """The ``X-HubSpot-Signature-v3`` value HubSpot would send (tests, sandbox)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return _digest(method, uri, raw, str(timestamp), secret.reveal())


def verify_v3(
    *,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    secret: Secret,
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> None:
    """Return if the request is signed by HubSpot and fresh; raise :class:`SignatureError`."""
    if not secret:
        raise SignatureError("no client secret configured")
    if not signature:
        raise SignatureError("signature header missing")
    if not timestamp:
        raise SignatureError("timestamp header missing")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("timestamp is not epoch milliseconds")
    if abs(now_ms - int(timestamp)) > max_skew_ms:
        raise SignatureError("timestamp outside the allowed window")
    if len(signature) > _MAX_SIGNATURE_LENGTH or not signature.isascii():
        raise SignatureError("signature malformed")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    expected = _digest(method, uri, body, timestamp, secret.reveal())
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise SignatureError("signature mismatch")
