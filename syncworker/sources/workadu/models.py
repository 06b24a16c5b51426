"""Typed records of the Workadu API v2 (customers, orders, invoices), and their parsing.

Python names are the API's (already snake_case) except ``companyid`` (``company_id``)
and the spec's misspelt ``recource`` (``resource``); ``model_dump(by_alias=True)``
gives back the API's names and nesting. Validation is strict (no str for a number,
no bool for an id, no NaN), with leniencies the spec's own examples call for: ids-as-
text fields (``mobile``, ``postal_code``, ``vat_number``, ``reference``,
``service_id``) may be numbers and are read as strings; a blank ``email``/``mobile``
and an empty or MySQL zero date (``"0000-00-00"``) read as ``None``; other dates must
be ISO. Fields beyond ids, names, status and amounts are nullable and may be absent;
unknown ones are ignored ("Versioning"). E-mails, phones, birth dates stay out of
``repr()``. The spec gives invoices no paid/balance: orders' payments give
:attr:`Order.paid_amount` and :attr:`Order.balance`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from syncworker.errors import RecordValidationError, SourceDataError, SourceNotFoundError

__all__ = [
    "Customer",
    "Invoice",
    "ListedPayment",
    "Order",
    "Page",
    "WorkaduModel",
    "WorkaduRecord",
    "parse_one",
    "parse_page",
]

# The spec's order statuses (filter[status]) and booking statuses (filter[booking_status]).
ORDER_STATUSES = (
    *("PRE_ASSIGNED", "ASSIGNED_NOT_CONFIRMED", "ASSIGNED_AND_AGREED", "CHECKED_OUT"),
    *("CHECKED_IN", "CHECKED_IN_EARLIER", "CANCELLED"),
)
BOOKING_STATUSES = ("ON_PROGRESS", "PAID", "NOT_PAID")
INVOICE_STATUSES = ("VALID", "DRAFT", "CANCELLED")
# "Request OPERATOR shortcodes": filter[key][op]=value.
FILTER_OPERATORS = (">=", ">*", "<=", "<*", "==", "!=", "<>", "!<>")


def _number_as_text(value: object) -> object:
    """Ints become strings (``1112223334`` -> ``"1112223334"``); anything else is left."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _blank_as_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _phone(value: object) -> object:
    return _blank_as_none(_number_as_text(value))


def _empty_date_as_none(value: object) -> object:
    if isinstance(value, str) and value.strip() in ("", "0000-00-00", "0000-00-00 00:00:00"):
        return None
    return value


def _iso_date(value: str | None) -> str | None:
    if value is not None:
        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError("not a YYYY-MM-DD date") from None
    return value


Number = int | float
Text = Annotated[str, BeforeValidator(_number_as_text)]
OptText = Annotated[str | None, BeforeValidator(_number_as_text)]
Email = Annotated[str | None, BeforeValidator(_blank_as_none)]
Phone = Annotated[str | None, BeforeValidator(_phone)]
IsoDate = Annotated[str | None, BeforeValidator(_empty_date_as_none), AfterValidator(_iso_date)]
RecordId = Annotated[int, Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        allow_inf_nan=False,
    )


WorkaduModel = _Model  # what a list page may hold: records with an id, and payments


class WorkaduRecord(_Model):
    """A top-level record with an integer ``id``."""

    id: RecordId


# ---------------------------------------------------------------------- customers
class SocialLink(_Model):
    social: str | None = None
    alias: str | None = None


class Customer(WorkaduRecord):
    """One customer, as ``GET /api/customers`` (list or ``/{id}``) returns it."""

    fullname: str
    email: Email = Field(default=None, repr=False)
    mobile: Phone = Field(default=None, repr=False)
    country: str | None = None
    city: str | None = None
    address: str | None = None
    postal_code: OptText = None
    vat_number: OptText = None
    birthdate: IsoDate = Field(default=None, repr=False)
    gender: str | None = None
    title: str | None = None
    social: list[SocialLink] | None = None
    comments: str | None = None
    company_id: int | None = Field(default=None, alias="companyid")
    media: list[str] | None = None


# ------------------------------------------------------------------------- orders
class OrderCustomer(_Model):
    """The customer embedded in an order: ``{"id", "fullname", "email"}``."""

    id: RecordId
    fullname: str | None = None
    email: Email = Field(default=None, repr=False)


class Stop(_Model):
    """``start``/``end`` of an order line."""

    coordinates: str | None = None
    location_name: str | None = None
    date: IsoDate = None
    time: str | None = None


class Resource(_Model):
    number: OptText = None
    type: str | None = None
    color: str | None = None


class Extra(_Model):
    id: int
    name: str | None = None
    description: str | None = None
    media: str | list[str] | None = None
    params: dict[str, Any] | None = None


class OrderLine(_Model):
    """``orders.order`` of an order: the booked service."""

    id: int
    reference: OptText = None
    service_id: OptText = None
    start: Stop | None = None
    end: Stop | None = None
    comment: str | None = None
    status: str | None = None
    total_cost: Number | None = None
    resource: Resource | None = Field(default=None, alias="recource")  # the spec's spelling
    extras: list[Extra] | None = None


class OrderLines(_Model):
    """``orders``: ``{"order": {...}}`` in the spec; a list of lines is accepted too."""

    order: OrderLine | list[OrderLine] | None = None


class Payment(_Model):
    id: int
    issue_date: IsoDate = None
    amount: Number
    comments: str | None = None


class Order(WorkaduRecord):
    """One order (booking), as ``GET /api/orders`` (list or ``/{id}``) returns it."""

    reference: Text  # the booking reference ("4GELNA"), filter[booking_reference]
    company_id: int | None = None
    status: str  # one of ORDER_STATUSES; kept open so a new status rejects nothing
    customer: OrderCustomer
    total_cost: Number
    orders: OrderLines | None = None
    currency: str | None = None
    payments: list[Payment] | None = None

    @property
    def customer_id(self) -> int:
        return self.customer.id

    @property
    def lines(self) -> list[OrderLine]:
        found = self.orders.order if self.orders is not None else None
        if found is None:
            return []
        return [found] if isinstance(found, OrderLine) else list(found)

    @property
    def service_id(self) -> str | None:
        return next((line.service_id for line in self.lines if line.service_id), None)

    @property
    def start_date(self) -> str | None:
        return next((ln.start.date for ln in self.lines if ln.start and ln.start.date), None)

    @property
    def end_date(self) -> str | None:
        return next((ln.end.date for ln in self.lines if ln.end and ln.end.date), None)

    @property
    def paid_amount(self) -> Number:
        """Sum of ``payments`` (a refund is a negative payment, per the spec)."""
        return sum((p.amount for p in self.payments or ()), 0)

    @property
    def balance(self) -> Number:
        """What is left to pay: ``total_cost - paid_amount``."""
        return self.total_cost - self.paid_amount


# ----------------------------------------------------------------------- payments
def _digits_as_int(value: object) -> object:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


class ListedPayment(_Model):
    """One payment, as ``GET /api/payments`` lists it: for an order (``order_id``),
    for invoices or general (no order). The spec gives a payment no id; a discarded
    payment is a new one with a negative amount. ``currency`` is the company's
    symbol in the spec's example (``"$"``), where invoices carry a code (``"EUR"``)."""

    issue_date: IsoDate = None
    customer_id: Annotated[int | None, BeforeValidator(_digits_as_int)] = None
    series: str | None = None
    # The spec's example spells the key "transaction_num," (comma included).
    transaction_num: OptText = Field(default=None, alias="transaction_num,")
    amount: Number
    currency: str | None = None
    comments: str | None = None
    order_id: Annotated[int | None, BeforeValidator(_digits_as_int)] = None


# ----------------------------------------------------------------------- invoices
class Party(_Model):
    """An invoice's ``customer`` or ``user`` entry."""

    id: RecordId
    fullname: str | None = None
    email: Email = Field(default=None, repr=False)


class InvoiceUser(_Model):
    """An invoice's ``user`` entry: who issued it."""

    id: RecordId
    email: Email = Field(default=None, repr=False)


class InvoiceLine(_Model):
    id: int
    description: str | None = None
    quantity: Number | None = None
    solo_amount: Number | None = None
    total_amount: Number | None = None
    discount_percent: Number | None = None
    vat_percent: Number | None = None
    final_amount: Number | None = None


class Invoice(WorkaduRecord):
    """One invoice (or other document), as ``GET /api/invoices`` returns it."""

    invoice_number: OptText = None  # a draft has none yet
    series: str | None = None
    user: list[InvoiceUser] | None = None
    customer: list[Party] | Party | None = None  # a list in the spec; an object is accepted
    issue_date: IsoDate = None
    due_date: IsoDate = None
    discount_amount: Number | None = None
    vat_amount: Number | None = None
    total_amount: Number
    currency: str | None = None
    currency_rate: Number | None = None
    lines: list[InvoiceLine] | None = None
    status: str  # VALID, DRAFT, CANCELLED (kept open)
    tag: str | None = None

    @property
    def customers(self) -> list[Party]:
        if self.customer is None:
            return []
        return [self.customer] if isinstance(self.customer, Party) else list(self.customer)

    @property
    def customer_id(self) -> int | None:
        found = self.customers
        return found[0].id if found else None


# ------------------------------------------------------------------------- pages
T = TypeVar("T", bound=WorkaduModel)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the valid records, and the ones that failed validation.

    ``paginated`` is False when the answer carried no pagination metadata (the
    spec's own examples): then it is the whole list, ``page == pages == 1`` and
    ``total`` counts its records. ``per_page`` is None then.
    """

    items: list[T]
    total: int
    page: int
    pages: int
    per_page: int | None = None
    paginated: bool = False
    rejected: list[RecordValidationError] = field(default_factory=list)

    def record_ids(self) -> list[str]:
        """Ids of every record on the page that has one (valid or rejected)."""
        ids = [str(i) for item in self.items if (i := getattr(item, "id", None)) is not None]
        ids.extend(err.record_id for err in self.rejected if err.record_id is not None)
        return ids


# ----------------------------------------------------------------------- parsing
R = TypeVar("R", bound=WorkaduRecord)
M = TypeVar("M", bound=WorkaduModel)
_TYPE_TAGS = frozenset(("int", "float", "str", "bool", "list", "dict", "none"))


@dataclass(frozen=True)
class PageMeta:
    """Pagination metadata, whichever of the recognised shapes carried it."""

    page: int
    pages: int
    total: int
    per_page: int


def _is_field_name(part: str) -> bool:
    return part.isidentifier() and part.islower() and part not in _TYPE_TAGS


def describe_validation_error(exc: ValidationError) -> str:
    """Field names and problems of a pydantic error -- never the values."""
    problems: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        # Keep field names and list positions; drop union members ("int", "Party", ...).
        loc = [str(p) for p in err["loc"] if isinstance(p, int) or _is_field_name(p)]
        problems[".".join(loc) or "record"] = err["msg"]
    shown = [f"{name}: {msg}" for name, msg in list(problems.items())[:5]]
    if len(problems) > 5:
        shown.append(f"and {len(problems) - 5} more")
    return "; ".join(shown)


def raw_id(raw: object) -> str | None:
    """A record's ``id`` as a string, when it has a usable one."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    return None


def records_of(data: object, where: str) -> list[object]:
    """The records of a ``data`` member: a list, or one bare object (as the spec shows)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        # A PHP array with gaps in its keys is JSON-encoded as {"0": {...}, "2": {...}}.
        if data and all(k.isdigit() and isinstance(v, dict) for k, v in data.items()):
            return list(data.values())
        return [data]
    raise SourceDataError(f"{where}: 'data' is neither a list nor an object")


def page_meta(body: dict[str, Any], where: str) -> PageMeta | None:
    """Pagination metadata of a list answer, or None when it carries none.

    Recognised: Fractal's ``meta.pagination`` (``current_page``/``total_pages``,
    what dingo/api, the ``vnd.<name>.v2+json`` framework, sends), Laravel API
    resources' ``meta`` and a bare Laravel paginator (``current_page``/``last_page``).
    """
    meta = body.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("pagination"), dict):
        raw, pages_key = meta["pagination"], "total_pages"
    elif isinstance(meta, dict) and "current_page" in meta:
        raw, pages_key = meta, "last_page"
    elif "current_page" in body:
        raw, pages_key = body, "last_page"
    else:
        return None
    values: list[int] = []
    for name in ("current_page", pages_key, "total", "per_page"):
        value = raw.get(name)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)  # older Laravel versions send per_page as a string
        if type(value) is not int or value < (1 if name in ("current_page", "per_page") else 0):
            raise SourceDataError(f"{where}: pagination field {name!r} is missing or invalid")
        values.append(value)
    page, pages, total, per_page = values
    if pages < -(-total // per_page):
        raise SourceDataError(
            f"{where}: {pages} pages cannot hold {total} records at {per_page} per page; "
            "records would be skipped"
        )
    return PageMeta(page, pages, total, per_page)


def parse_page(body: dict[str, Any], model: type[M], *, where: str, number: int) -> Page[M]:
    """A list answer. Bad envelope: SourceDataError; bad record: ``rejected``."""
    records = records_of(body["data"], where)
    meta = page_meta(body, where)
    if meta is not None and len(records) > meta.per_page:
        raise SourceDataError(f"{where}: {len(records)} records exceed per_page {meta.per_page}")
    items: list[M] = []
    rejected: list[RecordValidationError] = []
    for position, raw in enumerate(records, start=1):
        try:
            items.append(model.model_validate(raw))
        except ValidationError as exc:
            record_id = raw_id(raw)
            label = f"{record_id} (#{position})" if record_id else f"#{position} (no usable id)"
            rejected.append(
                RecordValidationError(
                    f"{where}: record {label} rejected: {describe_validation_error(exc)}",
                    record_id=record_id,
                    page=number,
                )
            )
    if meta is None:
        return Page(items, len(records), 1, 1, rejected=rejected)
    return Page(items, meta.total, meta.page, meta.pages, meta.per_page, True, rejected)


def parse_one(data: object, model: type[R], *, where: str, record_id: str) -> R:
    """The one record a ``/{id}`` answer must hold (an object, or a list of one)."""
    records = records_of(data, where)
    if not records:
        raise SourceNotFoundError(f"{where}: the answer holds no record")
    matching = [raw for raw in records if raw_id(raw) == record_id]
    if len(matching) != 1:
        found = ", ".join(sorted({i for i in map(raw_id, records) if i})) or "no usable id"
        raise SourceDataError(f"{where}: expected record {record_id}, got {found}")
    try:
        return model.model_validate(matching[0])
    except ValidationError as exc:
        # "from None": the pydantic error would drag the field values along.
        raise RecordValidationError(
            f"{where}: record {record_id} rejected: {describe_validation_error(exc)}",
            record_id=record_id,
        ) from None
