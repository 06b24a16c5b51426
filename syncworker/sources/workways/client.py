"""HTTP client for the four Workways endpoints the worker uses.

* ``GET /api/user-info`` (list mode and ``?id=``), ``GET /api/organization-info``
  (list mode and ``?id=``), ``POST /api/set-optin``, ``POST /api/merge-contract``.
* Every request carries ``Authorization: Bearer <token>`` and the client's timeout.
* Every documented error shape becomes one of the typed
  :class:`~syncworker.errors.SourceError` subclasses; retriable ones (5xx,
  timeouts, connection failures) are retried by a
  :class:`~syncworker.http_retry.RetryPolicy`.
* List endpoints are walked page by page with
  :class:`~syncworker.sources.pages.PageNumberPaginator`; a malformed record lands
  in ``Page.rejected`` instead of failing its page.

Error messages and log lines name endpoints, page numbers, record ids and field
names -- never the token, e-mail addresses, phone numbers or field values.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import TypeVar

import httpx
from pydantic import BaseModel

from syncworker.config import Secret
from syncworker.errors import (
    RecordValidationError,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceInvalidParameterError,
    SourceNotFoundError,
    SourceServerError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.sources.http_client import SourceClient, json_body
from syncworker.sources.pages import PageNumberPaginator
from syncworker.sources.workways.models import (
    MergeContractResult,
    OrganizationDetail,
    Page,
    SetOptinResult,
    WorkwaysOrganization,
    WorkwaysRecord,
    WorkwaysUser,
    parse_page,
    parse_record,
    parse_result,
)

__all__ = ["MAX_PAGE_SIZE", "MERGE_CONTRACT_FIELDS", "WorkwaysClient"]

logger = logging.getLogger(__name__)

USER_INFO = "/api/user-info"
ORGANIZATION_INFO = "/api/organization-info"
SET_OPTIN = "/api/set-optin"
MERGE_CONTRACT = "/api/merge-contract"

MAX_PAGE_SIZE = 200

# Body fields of POST /api/merge-contract (besides organizationId), with the
# Python types accepted for each. Names are the API's own.
MERGE_CONTRACT_FIELDS: Mapping[str, tuple[type, ...]] = {
    "rentalPrice": (str,),
    "rentalComment": (str,),
    "rentalStartAt": (str,),
    "rentalEndAt": (str,),
    "rentalUrl": (str,),
    "rentalRenewal": (int, float),
    "contractOptionsToAdd": (list, tuple),
    "contractOptionsToRemove": (list, tuple),
    "contractOptions": (list, tuple),
    "rooms": (list, tuple),
    "roomsToAdd": (list, tuple),
    "roomsToRemove": (list, tuple),
}
# Incremental fields: replaying the request after it reached the server could
# apply them twice (e.g. add the same contract option again).
_NON_IDEMPOTENT_MERGE_FIELDS = frozenset(
    {"contractOptionsToAdd", "contractOptionsToRemove", "roomsToAdd", "roomsToRemove"}
)

# The documented 401 bodies (English and French) start with one of these.
_AUTH_PREFIXES = (
    "unauthorized",
    "votre token est expiré",
    "votre compte est désactivé",
)

R = TypeVar("R", bound=WorkwaysRecord)
M = TypeVar("M", bound=BaseModel)


class _BearerAuth(httpx.Auth):
    """Adds the bearer header at send time; the token never sits in default headers."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


class WorkwaysClient(SourceClient):
    """Synchronous client for the Workways public API."""

    name = "Workways"
    page_parameter = "limit"
    secret_label = "[token]"  # noqa: S105  (a placeholder)
    hide_phones = False

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = MAX_PAGE_SIZE,
        page_concurrency: int = 1,
    ) -> None:
        if not isinstance(token, Secret) or not token:
            raise ValueError("token must be a non-empty Secret")
        self._token = token
        self.page_concurrency = page_concurrency  # list pages fetched at a time after page 1
        super().__init__(
            base_url,
            auth=_BearerAuth(token),
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            retry=retry,
            page_size=page_size,
            max_page_size=MAX_PAGE_SIZE,
        )

    # ------------------------------------------------------------------ lists
    def iter_user_pages(self, *, organization: str | None = None) -> Iterator[Page[WorkwaysUser]]:
        """Pages of ``GET /api/user-info``, optionally only one organization's users."""
        params = {} if organization is None else {"organization": _id("organization", organization)}
        return self._pages(USER_INFO, WorkwaysUser, params)

    def iter_organization_pages(
        self, *, site: str | None = None
    ) -> Iterator[Page[WorkwaysOrganization]]:
        """Pages of ``GET /api/organization-info``, optionally only one site's members."""
        params = {} if site is None else {"site": _id("site", site)}
        return self._pages(ORGANIZATION_INFO, WorkwaysOrganization, params)

    def user_page(self, number: int) -> Page[WorkwaysUser]:
        """Page ``number`` of ``GET /api/user-info`` alone (a run split into partitions)."""
        return self._page(USER_INFO, WorkwaysUser, {}, number)

    def organization_page(self, number: int) -> Page[WorkwaysOrganization]:
        """Page ``number`` of ``GET /api/organization-info`` alone."""
        return self._page(ORGANIZATION_INFO, WorkwaysOrganization, {}, number)

    def iter_users(self, *, organization: str | None = None) -> Iterator[WorkwaysUser]:
        """Valid users, one page in memory at a time (rejected ones: see iter_user_pages)."""
        pages = self.iter_user_pages(organization=organization)  # checks arguments now
        return (user for page in pages for user in page.items)

    def iter_organizations(self, *, site: str | None = None) -> Iterator[WorkwaysOrganization]:
        """Valid organizations, one page in memory at a time."""
        pages = self.iter_organization_pages(site=site)
        return (org for page in pages for org in page.items)

    # ------------------------------------------------------------------ single records
    def get_user(self, user_id: str) -> WorkwaysUser:
        user_id = _id("user_id", user_id)
        where = f"Workways GET {USER_INFO} id {user_id}"
        data = self._call("GET", USER_INFO, where, params={"id": user_id})
        user = parse_record(WorkwaysUser, data, where=where, record_id=user_id)
        return _same_id(user, user.id, user_id, where)

    def get_organization(self, org_id: str) -> OrganizationDetail:
        org_id = _id("org_id", org_id)
        where = f"Workways GET {ORGANIZATION_INFO} id {org_id}"
        data = self._call("GET", ORGANIZATION_INFO, where, params={"id": org_id})
        org = parse_record(OrganizationDetail, data, where=where, record_id=org_id)
        return _same_id(org, org.id, org_id, where)

    # ------------------------------------------------------------------ writes
    def set_optin(self, user_id: str, optin: bool) -> SetOptinResult:
        """Set a user's newsletter opt-in (idempotent, so retried like a read)."""
        user_id = _id("user_id", user_id)
        if not isinstance(optin, bool):
            raise TypeError("optin must be a bool")
        where = f"Workways POST {SET_OPTIN} user {user_id}"
        data = self._call("POST", SET_OPTIN, where, payload={"user": user_id, "optin": optin})
        result = parse_result(SetOptinResult, data, where=where)
        return _same_id(result, result.user_id, user_id, where)

    def merge_contract(self, organization_id: str, **fields: object) -> MergeContractResult:
        """Merge contract fields into an organization; only the given fields are sent.

        Field names are the API's own (``rentalEndAt="2025-12-31"``,
        ``rentalRenewal=12``, ``contractOptionsToAdd=[...]``; see
        :data:`MERGE_CONTRACT_FIELDS`). An unknown name or a value of the wrong
        type raises :class:`ValueError`/:class:`TypeError` before any request.
        A request with incremental fields (``...ToAdd``/``...ToRemove``) is
        retried only when it certainly never reached the server.
        """
        organization_id = _id("organization_id", organization_id)
        unknown = sorted(set(fields) - set(MERGE_CONTRACT_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown merge-contract field(s) {', '.join(unknown)}; "
                f"use the API's names: {', '.join(MERGE_CONTRACT_FIELDS)}"
            )
        if not fields:
            raise ValueError("merge_contract needs at least one field to merge")
        for name, value in fields.items():
            allowed = MERGE_CONTRACT_FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, allowed):
                expected = " or ".join(t.__name__ for t in allowed)
                raise TypeError(f"merge-contract field {name} must be {expected}")
        where = f"Workways POST {MERGE_CONTRACT} organization {organization_id}"
        body = {"organizationId": organization_id, **fields}
        idempotent = not (_NON_IDEMPOTENT_MERGE_FIELDS & fields.keys())
        data = self._call("POST", MERGE_CONTRACT, where, payload=body, idempotent=idempotent)
        result = parse_result(MergeContractResult, data, where=where)
        return _same_id(result, result.organization_id, organization_id, where)

    # ------------------------------------------------------------------ internals
    def _page(self, path: str, model: type[R], params: dict[str, str], number: int) -> Page[R]:
        where = f"Workways GET {path} page {number}"
        query = {**params, "limit": str(self.page_size), "page": str(number)}
        data = self._call("GET", path, where, params=query, page=number)
        return parse_page(data, model, where=where, number=number)

    def _pages(self, path: str, model: type[R], params: dict[str, str]) -> Iterator[Page[R]]:
        def fetch(number: int) -> Page[R]:
            return self._page(path, model, params, number)

        def unreadable(number: int, pages: int, total: int, error: SourceDataError) -> Page[R]:
            rejection = RecordValidationError(str(error), record_id=None, page=number)
            return Page(
                items=[],
                total=total,
                page=number,
                limit=self.page_size,
                pages=pages,
                rejected=[rejection],
            )

        return iter(
            PageNumberPaginator(
                fetch,
                source=f"Workways GET {path}",
                unreadable=unreadable,
                concurrency=self.page_concurrency,
            )
        )

    def _call(
        self,
        method: str,
        path: str,
        where: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: object = None,
        page: int | None = None,
        idempotent: bool = True,
    ) -> object:
        """Send one logical request (with retries); return the ``data`` of a retcode-1 body."""
        request = self._http.build_request(method, self._url(path), params=params, json=payload)
        return self._retry.call(
            lambda: self._send(request, where, page),
            description=where,
            retry_if=None if idempotent else _never_sent,
        )

    def _unwrap(self, response: httpx.Response, where: str) -> object:
        status = response.status_code
        body = json_body(response)
        message = self._clean(body.get("message")) if isinstance(body, dict) else None
        if not 200 <= status < 300:
            raise _status_error(status, message, where)
        if not isinstance(body, dict):
            raise self._not_json_object(response, body, where)
        retcode = body.get("retcode")
        if retcode == 1 and type(retcode) is int:
            if "data" not in body:
                raise SourceDataError(f"{where}: retcode 1 without 'data'", status=status)
            return body["data"]
        if retcode == -1 and type(retcode) is int:
            kind = _message_kind(message) or SourceDataError
            raise kind(f"{where}: retcode -1: {message or '(no message)'}", status=status)
        raise SourceDataError(f"{where}: 'retcode' is missing or neither 1 nor -1", status=status)

    def _secret_forms(self) -> Sequence[str]:
        return (self._token.reveal(),)


# ---------------------------------------------------------------------- helpers
def _id(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value or value != value.strip():
        raise ValueError(f"{name} must be a non-empty id without surrounding white space")
    return value


def _never_sent(exc: BaseException) -> bool:
    """True when the failed request certainly never reached the server."""
    return isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _message_kind(message: str | None) -> type[SourceError] | None:
    """The error class a documented Workways ``message`` stands for, if any."""
    if not message:
        return None
    text = message.strip().lower()
    if text.startswith(_AUTH_PREFIXES):
        return SourceAuthError
    if "not found" in text or "introuvable" in text:
        return SourceNotFoundError
    if text.startswith("internal server error"):
        return SourceServerError
    if text.startswith(("invalid ", "missing required parameter")):
        return SourceInvalidParameterError
    return None


def _status_error(status: int, message: str | None, where: str) -> SourceError:
    text = f"{where}: HTTP {status}" + (f": {message}" if message else "")
    if status in (401, 403):
        return SourceAuthError(text, status=status)
    if status == 408:
        return SourceTimeoutError(text, status=status)
    if status == 429 or status >= 500:  # 429 is undocumented ("no enforced rate limits")
        return SourceServerError(text, status=status)
    kind = _message_kind(message)
    if kind is not None:
        return kind(text, status=status)
    if status == 404:  # no Workways "... not found" body: a wrong URL, not a missing record
        return SourceDataError(f"{text} (not a Workways 'not found' answer)", status=status)
    if 400 <= status < 500:
        return SourceInvalidParameterError(text, status=status)
    return SourceDataError(f"{text} (unexpected status)", status=status)


def _same_id(result: M, got: str, expected: str, where: str) -> M:
    if got != expected:
        raise SourceDataError(f"{where}: the answer is about {got} instead")
    return result
