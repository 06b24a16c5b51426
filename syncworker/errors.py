"""Every error syncworker raises on purpose, in one tree.

    SyncWorkerError
    ├── ConfigError                    a setting is missing or malformed (names the variable)
    ├── UsageError                     a command asks for what does not exist (an entity)
    ├── RunInProgressError             another run of the same stream holds the lock
    │   └── LeaseLostError             our lock expired and a newer run took the stream
    ├── SourceError                    the source platform (Workways, Workadu) failed us
    │   ├── SourceAuthError            401: token missing, malformed, unknown, expired, archived
    │   ├── SourceNotFoundError        the id or e-mail names nothing ("User not found")
    │   ├── SourceInvalidParameterError  400: a parameter the source refuses (malformed id)
    │   ├── SourceServerError          5xx, or "Internal server error"            [retriable]
    │   ├── SourceTimeoutError         no answer within the timeout                [retriable]
    │   ├── SourceConnectionError      connection refused / reset / DNS            [retriable]
    │   └── SourceDataError            the answer is not what the spec promises
    │       ├── PaginationLoopError    a page repeats, or the page count changes mid-run
    │       └── RecordValidationError  one record is malformed (names the record)
    └── HubSpotError                   the destination failed us
        ├── HubSpotAuthError           401, or 403 MISSING_SCOPES
        ├── HubSpotRateLimitError      429 (``daily`` tells whether the day's budget is gone)
        ├── HubSpotLockedError         423 Locked                                  [retriable]
        ├── HubSpotServerError         5xx                                         [retriable]
        ├── HubSpotTimeoutError        no answer within the timeout                [retriable]
        ├── HubSpotConnectionError     connection refused / reset                  [retriable]
        ├── HubSpotConflictError       409 CONFLICT (e.g. e-mail owned by another contact)
        └── HubSpotBadRequestError     400 rejecting a whole request

Which errors are worth retrying is decided here and only here: see
:func:`is_retriable`. Messages never carry tokens or personal data; callers
pass ids, not e-mails.
"""

from __future__ import annotations


class SyncWorkerError(Exception):
    """Base class of every error syncworker raises on purpose."""

    retriable: bool = False


class ConfigError(SyncWorkerError):
    """A setting is missing or malformed. The message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class UsageError(SyncWorkerError):
    """A command asks for something that does not exist, e.g. an entity of a source."""


class RunInProgressError(SyncWorkerError):
    """Another run of the same stream holds the cluster-wide lock."""


class LeaseLostError(RunInProgressError):
    """A newer run holds the stream (our lock expired): we must not write."""


# --------------------------------------------------------------------------- source


class SourceError(SyncWorkerError):
    """The source platform answered with an error, or not at all."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class SourceAuthError(SourceError):
    """The source refused our credentials (any of the documented 401 bodies)."""


class SourceNotFoundError(SourceError):
    """The requested record does not exist at the source."""


class SourceInvalidParameterError(SourceError):
    """The source refused a parameter (malformed id, bad value)."""


class SourceServerError(SourceError):
    retriable = True


class SourceTimeoutError(SourceError):
    retriable = True


class SourceConnectionError(SourceError):
    retriable = True


class SourceDataError(SourceError):
    """The source answered, but not with what its spec promises."""


class PaginationLoopError(SourceDataError):
    """Pagination would never end: a page repeated or the page count changed."""


class RecordValidationError(SourceDataError):
    """One record failed validation; ``record_id`` names it when it has one."""

    def __init__(self, message: str, *, record_id: str | None = None, page: int | None = None):
        self.record_id = record_id
        self.page = page
        super().__init__(message)


# -------------------------------------------------------------------------- hubspot


class HubSpotError(SyncWorkerError):
    """HubSpot answered with an error, or not at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        super().__init__(message)


class HubSpotAuthError(HubSpotError):
    """401 (credential refused), or 403 (``missing_scopes`` lists what HubSpot named)."""

    def __init__(self, message: str, *, missing_scopes: tuple[str, ...] = (), **kw: object) -> None:
        self.missing_scopes = missing_scopes
        super().__init__(message, **kw)  # type: ignore[arg-type]


class HubSpotRateLimitError(HubSpotError):
    """429. ``daily`` is true when the account's daily budget is spent."""

    def __init__(self, message: str, *, daily: bool, retry_after: float | None = None) -> None:
        self.daily = daily
        self.retry_after = retry_after
        self.retriable = not daily  # the day's budget does not come back by retrying
        super().__init__(message, status=429, category="RATE_LIMIT")


class HubSpotLockedError(HubSpotError):
    retriable = True


class HubSpotServerError(HubSpotError):
    retriable = True


class HubSpotTimeoutError(HubSpotError):
    retriable = True


class HubSpotConnectionError(HubSpotError):
    retriable = True


class HubSpotConflictError(HubSpotError):
    """409 CONFLICT. ``existing_id`` is the HubSpot id the message names, if any."""

    def __init__(self, message: str, *, existing_id: str | None = None, **kw: object) -> None:
        self.existing_id = existing_id
        super().__init__(message, status=409, category="CONFLICT")


class HubSpotBadRequestError(HubSpotError):
    pass


def is_retriable(exc: BaseException) -> bool:
    """The one place that decides whether an error is worth another try."""
    return isinstance(exc, SyncWorkerError) and bool(exc.retriable)


CREDENTIAL_REFUSED = "credential refused"  # how a run record's error begins for one


def is_credential_refusal(exc: BaseException) -> bool:
    """A platform refused our token (401, or 403 missing scopes): nothing about one
    record, so no record is failed or quarantined for it; the run stops instead and
    the next one, once the token is fixed, does the work."""
    return isinstance(exc, SourceAuthError | HubSpotAuthError)


def credential_refused(exc: BaseException) -> str:
    """The run record's line for a refused credential: which token, never its value."""
    if isinstance(exc, HubSpotAuthError):
        variable = "HUBSPOT_ACCESS_TOKEN"
        platform = "HubSpot"
    else:
        variable = "WORKWAYS_API_TOKEN or WORKADU_API_KEY"
        platform = "the source"
    return f"{CREDENTIAL_REFUSED} by {platform} (check {variable}): {type(exc).__name__}: {exc}"
