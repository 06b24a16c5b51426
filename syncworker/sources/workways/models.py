"""Typed records of the Workways public API (GET /api/user-info & co).

Python names are snake_case; the API's camelCase names are the aliases and
``_id`` becomes ``id``. Models validate by alias (what the API sends) and by
name (what Python code and tests write).

Validation is strict: a string where the spec says boolean ("yes"), a number
where it says string (``"_id": 12``), NaN or infinity are errors, not
coercions. Nullability follows the spec's field tables. Fields the spec marks
nullable may also be absent (read as ``None``); fields it does not mark
nullable are required, so a record missing, say, ``newsOptin`` is rejected
rather than read as "not opted in". Unknown extra fields are ignored.

E-mail addresses and phone numbers are hidden from ``repr()`` so a model that
ends up in a log line or a test failure does not leak them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from syncworker.errors import RecordValidationError, SourceDataError

__all__ = [
    "AccessibleSite",
    "AllocatedRoom",
    "ContractOption",
    "MergeContractResult",
    "OrganizationDetail",
    "Page",
    "SetOptinResult",
    "WorkwaysOrganization",
    "WorkwaysRecord",
    "WorkwaysUser",
    "describe_validation_error",
    "parse_page",
    "parse_record",
    "parse_result",
]

# The spec's "number": an int stays an int, a float stays a float, bool is refused.
Number = int | float


class _Model(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        allow_inf_nan=False,
    )


class WorkwaysRecord(_Model):
    """A top-level record with a MongoDB ``_id``."""

    id: str = Field(alias="_id", min_length=1)


class WorkwaysUser(WorkwaysRecord):
    """One user, as ``GET /api/user-info`` returns it (single or list mode)."""

    first_name: str
    last_name: str  # may be empty
    email: str = Field(repr=False)
    title: str | None = None
    language: str | None = None
    phone: str | None = Field(default=None, repr=False)
    mobile_phone: str | None = Field(default=None, repr=False)
    role: str  # principal-admin, admin, user, temp (kept open: new roles must not reject users)
    news_optin: bool
    mail_valid: bool
    is_user_archived: bool
    organization_id: str | None = None
    organization_name: str | None = None
    is_organization_archived: bool | None = None
    updated_at: str | None = None  # YYYY-MM-DD


class WorkwaysOrganization(WorkwaysRecord):
    """One organization as list mode of ``GET /api/organization-info`` returns it."""

    name: str
    description: str | None = None
    language: str | None = None
    is_archived: bool
    principal_site_id: str | None = None
    principal_site_name: str | None = None
    principal_site_country: str | None = None
    sites_count: Number
    max_resident_users: Number
    is_member: bool
    contract_start_date: str | None = None  # YYYY-MM-DD
    contract_end_date: str | None = None  # YYYY-MM-DD, None = no end date
    renewal_months: Number | None = None
    base_price: Number | None = None
    last_access_date: str | None = None
    account_type: str | None = None  # none, issuer, customer, test
    billing_name: str | None = None
    billing_email: str | None = Field(default=None, repr=False)
    billing_address: str | None = None
    vat_number: str | None = None
    company_number: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = Field(default=None, repr=False)
    updated_at: str | None = None


class AllocatedRoom(_Model):
    id: str = Field(alias="_id", min_length=1)
    name: str
    # The spec says string; the organization-level date is "null if no end
    # date", so null is accepted here too rather than rejecting the organization.
    contract_end_date: str | None
    price: Number | None = None
    site_id: str | None = None


class AccessibleSite(_Model):
    id: str = Field(alias="_id", min_length=1)
    name: str
    country: str


class ContractOption(_Model):
    id: int = Field(alias="id")  # unique within the organization; note: "id", not "_id"
    name: str
    key: str
    quantity: Number
    price: Number | None = None  # None = the rate's default price
    price_promo: Number | None = None
    start_date: str
    end_date: str  # "" = no end date (inherits the organization's)


class OrganizationDetail(WorkwaysOrganization):
    """One organization with the arrays only single mode (``?id=``) returns."""

    allocated_rooms: list[AllocatedRoom]
    accessible_sites: list[AccessibleSite]
    contract_options: list[ContractOption]


class SetOptinResult(_Model):
    """``data`` of ``POST /api/set-optin``."""

    user_id: str
    email: str = Field(repr=False)
    news_optin: bool
    previous_value: bool


class MergeContractResult(_Model):
    """``data`` of ``POST /api/merge-contract``."""

    organization_id: str
    organization_name: str | None = None


class _PageMeta(_Model):
    """The pagination fields of a list-mode ``data`` object."""

    total: int = Field(ge=0)
    page: int = Field(ge=1)
    limit: int = Field(ge=1)
    pages: int = Field(ge=0)


T = TypeVar("T", bound=WorkwaysRecord)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One list-mode page: the valid records, and the ones that failed validation.

    A malformed record does not fail its page: it lands in ``rejected`` as a
    :class:`~syncworker.errors.RecordValidationError` naming the record (its
    ``_id`` when usable, else its position) and the fields at fault, never
    their values.
    """

    items: list[T]
    total: int
    page: int
    limit: int
    pages: int
    rejected: list[RecordValidationError] = field(default_factory=list)
    # ``items`` as the API sent them, one dict each (in API field names). The models
    # are strict (no coercion, no validators), so these hold the values the models
    # hold, as the mapping reads them: the sync maps these instead of dumping every
    # model back into a dict.
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def record_ids(self) -> Sequence[str]:
        """Ids of every record on the page that has one (valid or rejected)."""
        ids = [item.id for item in self.items]
        ids.extend(err.record_id for err in self.rejected if err.record_id is not None)
        return ids


# ---------------------------------------------------------------------- parsing
R = TypeVar("R", bound=WorkwaysRecord)
M = TypeVar("M", bound=BaseModel)


@cache
def _list_adapter(model: type[R]) -> TypeAdapter[list[R]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def describe_validation_error(exc: ValidationError) -> str:
    """Field names and problems of a pydantic error -- never the values."""
    problems: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = list(err["loc"])
        while len(loc) > 1 and loc[-1] in ("int", "float"):  # members of int | float
            loc.pop()
        problems[".".join(str(part) for part in loc) or "record"] = err["msg"]
    shown = [f"{name}: {msg}" for name, msg in list(problems.items())[:5]]
    if len(problems) > 5:
        shown.append(f"and {len(problems) - 5} more")
    return "; ".join(shown)


def parse_record(model: type[R], data: object, *, where: str, record_id: str) -> R:
    """One record of a single-record answer; RecordValidationError if malformed."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # "from None": the pydantic error would drag the field values along.
        raise RecordValidationError(
            f"{where}: record {record_id} rejected: {describe_validation_error(exc)}",
            record_id=record_id,
        ) from None


def parse_result(model: type[M], data: object, *, where: str) -> M:
    """The ``data`` of a write; SourceDataError if it is not what the spec promises."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SourceDataError(
            f"{where}: unexpected 'data': {describe_validation_error(exc)}"
        ) from None


def parse_page(data: object, model: type[R], *, where: str, number: int) -> Page[R]:
    """A list-mode ``data`` object. Bad envelope: SourceDataError; bad record: rejected."""
    if not isinstance(data, dict):
        raise SourceDataError(f"{where}: 'data' is not an object")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raise SourceDataError(f"{where}: 'data.items' is missing or not a list")
    try:
        meta = _PageMeta.model_validate(data)
    except ValidationError as exc:
        raise SourceDataError(
            f"{where}: bad pagination fields: {describe_validation_error(exc)}"
        ) from None
    if len(raw_items) > meta.limit:
        raise SourceDataError(f"{where}: {len(raw_items)} items exceed limit {meta.limit}")
    if meta.pages < math.ceil(meta.total / meta.limit):
        raise SourceDataError(
            f"{where}: {meta.pages} pages cannot hold {meta.total} records at {meta.limit} "
            "per page; records would be skipped"
        )
    try:
        # The usual page, every record valid: one validator call for the whole list.
        return Page(
            items=_list_adapter(model).validate_python(raw_items),
            total=meta.total,
            page=meta.page,
            limit=meta.limit,
            pages=meta.pages,
            raw=raw_items,
        )
    except ValidationError:
        pass  # some record is malformed: validate one by one to know which
    items: list[R] = []
    valid: list[dict[str, Any]] = []
    rejected: list[RecordValidationError] = []
    for position, raw in enumerate(raw_items, start=1):
        try:
            items.append(model.model_validate(raw))
            valid.append(raw)
        except ValidationError as exc:
            raw_id = raw.get("_id") if isinstance(raw, dict) else None
            record_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else None
            label = f"{record_id} (#{position})" if record_id else f"#{position} (no usable _id)"
            rejected.append(
                RecordValidationError(
                    f"{where}: record {label} rejected: {describe_validation_error(exc)}",
                    record_id=record_id,
                    page=number,
                )
            )
    return Page(
        items=items,
        total=meta.total,
        page=meta.page,
        limit=meta.limit,
        pages=meta.pages,
        rejected=rejected,
        raw=valid,
    )
