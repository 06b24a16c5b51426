"""What every source API client shares: one httpx client, a call counter,
the retry policy, transport errors mapped to the error tree, and server
messages made safe to show (no credentials, e-mails or phone numbers).

A client subclasses :class:`SourceClient` and supplies ``_unwrap`` (its API's
response envelope) and the forms its secret can take in a message.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import orjson

from syncworker import __version__, tally
from syncworker.errors import (
    SourceConnectionError,
    SourceDataError,
    SourceError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.ops import instruments

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+")
PHONE = re.compile(r"(?<![\w+])(?:\+\d(?:[\s().-]*\d){6,}|\d(?:[\s().-]*\d){8,})(?!\w)")
MAX_MESSAGE = 200


def json_body(response: httpx.Response) -> object:
    """The decoded JSON body, or None when it is not JSON.

    orjson decodes a page several times faster; what it refuses and the standard
    library reads (NaN, infinities, lone surrogates) is read by the latter, so a
    record with such a value is rejected on its own by validation, not its page."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(response.content)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


class SourceClient:
    """Base of the source clients. Thread-safe for concurrent page fetches."""

    name: ClassVar[str] = "source"  # "Workways": names the API in log lines
    page_parameter: ClassVar[str] = "limit"  # how the API calls its page size
    secret_label: ClassVar[str] = "[secret]"  # noqa: S105  (a placeholder, not a secret)
    hide_phones: ClassVar[bool] = True

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth,
        headers: Mapping[str, str],
        timeout: float,
        transport: httpx.BaseTransport | None,
        retry: RetryPolicy | None,
        page_size: int,
        max_page_size: int,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise TypeError("page_size must be an int")
        if not 1 <= page_size <= max_page_size:
            raise ValueError(f"page_size must be between 1 and {max_page_size}, got {page_size}")
        if not timeout > 0:
            raise ValueError(f"timeout must be greater than 0, got {timeout}")
        self.calls = 0  # HTTP requests actually sent, retries included
        self._calls_lock = threading.Lock()
        self.page_size = page_size
        self._timeout = timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={**headers, "User-Agent": f"syncworker/{__version__}"},
            follow_redirects=False,
            # No limit, so the pool never closes a "surplus" idle connection: with
            # many threads it can close one just handed to a waiting request, which
            # then hangs until its read timeout (encode/httpcore#1110, seen here as a
            # 20 s stall in one sync of five). Our thread pools bound the connections.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        self._urls: dict[str, httpx.URL] = {}

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r}, calls={self.calls})"

    # ------------------------------------------------------------------ sending
    def _send(self, request: httpx.Request, where: str, page: int | None) -> Any:
        """One HTTP request: counted, logged without its query, errors typed."""
        with self._calls_lock:
            self.calls += 1
        tally.count("source")
        started = time.monotonic()
        outcome = "no answer"
        try:
            response = self._http.send(request)
            outcome = f"HTTP {response.status_code}"
            instruments.source_answer(self.name, response.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
            instruments.source_answer(self.name, None)
            raise self._transport_error(exc, where) from exc
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                ms = (time.monotonic() - started) * 1000
                paging = (
                    "" if page is None else f" page={page} {self.page_parameter}={self.page_size}"
                )
                path = request.url.path  # never the query: it may hold ids or e-mails
                logger.debug(
                    "%s %s %s%s -> %s in %.0f ms",
                    self.name,
                    request.method,
                    path,
                    paging,
                    outcome,
                    ms,
                )
        return self._unwrap(response, where)

    def _url(self, path: str) -> httpx.URL:
        """``path`` joined to the base URL, worked out once per path (httpx
        re-parses a relative URL on every request otherwise)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self._http.build_request("GET", path).url
        return url

    def _unwrap(self, response: httpx.Response, where: str) -> Any:
        raise NotImplementedError

    def _transport_error(self, exc: httpx.HTTPError, where: str) -> SourceError:
        if isinstance(exc, httpx.TimeoutException):
            return SourceTimeoutError(
                f"{where}: no answer within {self._timeout:g} s ({type(exc).__name__})"
            )
        if isinstance(exc, httpx.DecodingError):
            return SourceDataError(f"{where}: response body could not be decoded")
        return SourceConnectionError(f"{where}: {type(exc).__name__}: {self._clean(str(exc))}")

    def _not_json_object(self, response: httpx.Response, body: object, where: str) -> SourceError:
        ctype = response.headers.get("content-type", "none")
        what = "is not JSON" if body is None else "is not a JSON object"
        return SourceDataError(
            f"{where}: HTTP {response.status_code} response {what} "
            f"(Content-Type: {self._clean(ctype)})",
            status=response.status_code,
        )

    # ------------------------------------------------------------------ messages
    def _secret_forms(self) -> Sequence[str]:
        """Every form the credential may take inside a server message."""
        return ()

    def _clean(self, text: object) -> str | None:
        """A server-supplied string made safe for messages: no secret, e-mail or phone; short."""
        if not isinstance(text, str):
            return None
        text = " ".join(text.split())
        for form in self._secret_forms():
            if len(form) >= 8:
                text = text.replace(form, self.secret_label)
        text = EMAIL.sub("[e-mail]", text)
        if self.hide_phones:
            text = PHONE.sub("[phone]", text)
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
