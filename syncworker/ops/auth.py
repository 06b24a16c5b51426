"""Who may see ``/ops`` and ``/metrics``, and CSRF protection of the page's forms.

- ``OPS_TOKEN`` set: a request needs ``Authorization: Bearer <token>`` or the
  session cookie the login form (``/ops/login``) sets; wherever the app binds.
- ``OPS_TOKEN`` unset: open on a loopback address (only this machine can
  connect); refused (403) on any other address.

The cookie holds an HMAC of the token, never the token; it is HttpOnly and
SameSite=Strict. Every form of the page carries a CSRF token (an HMAC bound to
the session, or to a per-process key when open on loopback) and a POST without
the right one is refused, as is one a browser marks cross-site. Bearer requests
need no CSRF token: a browser never adds that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from enum import Enum

from starlette.requests import Request

from syncworker.config import Secret

COOKIE = "syncworker_ops"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Access(Enum):
    OPEN = "open"  # no token configured, bound to loopback
    BEARER = "bearer"
    COOKIE = "cookie"


@dataclass
class OpsAuth:
    token: Secret | None
    loopback: bool
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    @property
    def closed(self) -> bool:
        """No token configured and reachable from other machines: nobody gets in."""
        return self.token is None and not self.loopback

    def _mac(self, purpose: str) -> str:
        key = self.token.reveal().encode() if self.token else self._key
        return hmac.new(key, purpose.encode(), hashlib.sha256).hexdigest()

    def session_cookie(self) -> str:
        return self._mac("session")

    def access(self, request: Request) -> Access | None:
        """How ``request`` is allowed in, or None."""
        if self.token is None:
            return Access.OPEN if self.loopback else None
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.reveal().encode()
        ):
            return Access.BEARER
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session_cookie().encode()):
            return Access.COOKIE
        return None

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            given.strip().encode(), self.token.reveal().encode()
        )

    def csrf_token(self) -> str:
        return self._mac("csrf")

    def csrf_ok(self, request: Request, access: Access, given: str | None) -> bool:
        if request.headers.get("sec-fetch-site") == "cross-site":
            return False
        if access is Access.BEARER:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token().encode())
