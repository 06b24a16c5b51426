"""The thread-safe state behind the Workadu sandbox, with the spec's filtering and sorting.

API-facing methods raise :class:`ApiError` carrying a status and a message (the
spec's own messages where its error tables have one); control methods raise
``KeyError`` for unknown ids and ``ValueError`` for refused field names.

Records are kept in ``id`` order ("the proper display order as they are stored").
An order's or an invoice's embedded customer shows the customer's current
``fullname``/``email`` (a removed customer's last known ones).

Filtering (sandbox choices where the spec is silent):

* ``filter[key]=value`` and ``filter[key][op]=value`` with the spec's operators
  (``>= >* <= <* == != <> !<>``; ``<>``/``!<>`` take ``low,high``, inclusive) on
  any filter key of the endpoint; unknown keys or operators are 400.
* Comparison is MySQL-collation-like: case- and accent-insensitive for text,
  numeric when the record's value is a number (a non-number operand is 400). A
  null value matches only ``!=``.
* Keys are the spec's per endpoint (``booking_status`` derives from payments:
  PAID, ON_PROGRESS, NOT_PAID; ``Country`` matches the name or the ISO code)
  plus every scalar response key. Invoices also take the spec's plain
  ``customer_id``, ``series_id``, ``status``, ``issue_date_from``/``_to``.
* ``sort=key``/``sort=-key``: one key among the filter keys, else 400; NULLs
  first ascending, as in MySQL; ties keep ``id`` order.
* Payments (list only: the spec's payment has no id to ask for) take the spec's
  plain ``customer_id``, ``series_id``, ``issue_date_from``/``_to`` and
  ``status`` (the spec copies it from invoices; a payment has none, so every
  payment is ``valid``), in ``transaction_num,`` order. An order's payments are
  listed with its ``order_id`` and currency; they go when the order goes.
"""

from __future__ import annotations

import copy
import operator
import random
import threading
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from syncworker_sandbox import workadu_population as wpop
from syncworker_sandbox.workadu_population import JsonDict

Getter = Callable[[JsonDict], Any]

CUSTOMER_FIELDS = tuple(wpop.make_customers(1, 0)[0])
ORDER_FIELDS: tuple[str, ...] = ("id", "reference", "company_id", "status", "customer")
ORDER_FIELDS += ("total_cost", "orders", "currency", "payments")
INVOICE_FIELDS = tuple(wpop.make_invoice(random.Random(0), 1, 1, {"id": 1}, None))
NOT_FOUND = {
    "customers": "No customers could be found.",
    "orders": "No orders could be found.",
    "invoices": "The invoice is not valid or exist",
}
BAD_ID = {
    "customers": "Please provide a customer_id!",
    "orders": "You must provide the order ID(s)",
    "invoices": "You didn't specify a correct invoice ID.",
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">*": operator.gt,
    "<=": operator.le,
    "<*": operator.lt,
}
ISO_CODES = {origin.country: origin.iso for origin in wpop.ORIGINS}


class ApiError(Exception):
    """An answer in the sandbox's error shape: ``{"message": ..., "status_code": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def collate(text: str) -> str:
    """Case- and accent-insensitive form, like MySQL's ``utf8mb4_unicode_ci``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _line(order: JsonDict) -> JsonDict:
    lines = order.get("orders")
    line = lines.get("order") if isinstance(lines, dict) else None
    if isinstance(line, list):
        line = line[0] if line else None
    return line if isinstance(line, dict) else {}


def _stop(order: JsonDict, which: str, key: str) -> Any:
    stop = _line(order).get(which)
    return stop.get(key) if isinstance(stop, dict) else None


def booking_status(order: JsonDict) -> str | None:
    try:
        paid = sum(p["amount"] for p in order.get("payments") or ())
        total = order["total_cost"]
        return "PAID" if paid >= total else "ON_PROGRESS" if paid > 0 else "NOT_PAID"
    except (KeyError, TypeError):  # a record the tests corrupted on purpose
        return None


def _first_id(parties: Any) -> Any:
    if isinstance(parties, dict):
        return parties.get("id")
    return parties[0].get("id") if isinstance(parties, list) and parties else None


def _field(key: str) -> Getter:
    return lambda record: record.get(key)


def _stop_field(which: str, key: str) -> Getter:
    return lambda order: _stop(order, which, key)


def _scalars(fields: Iterable[str]) -> dict[str, Getter]:
    return {key: _field(key) for key in fields}


CUSTOMER_KEYS: dict[str, Getter] = {
    **_scalars(CUSTOMER_FIELDS),
    "company_id": lambda c: c.get("companyid"),
    "country": lambda c: [c.get("country"), ISO_CODES.get(str(c.get("country")))],
}
ORDER_KEYS: dict[str, Getter] = {
    **_scalars(("id", "reference", "company_id", "status", "total_cost", "currency")),
    "booking_reference": lambda o: o.get("reference"),
    "booking_status": booking_status,
    "customer_id": lambda o: _first_id(o.get("customer")),
    "service_id": lambda o: _line(o).get("service_id"),
    **{
        f"{which}_{key}": _stop_field(which, key)
        for which in ("start", "end")
        for key in ("coordinates", "location_name", "date", "time")
    },
}
INVOICE_KEYS: dict[str, Getter] = {
    **_scalars(k for k in INVOICE_FIELDS if k not in ("user", "customer", "lines")),
    "customer_id": lambda i: _first_id(i.get("customer")),
    "series_id": lambda i: wpop.SERIES_IDS.get(str(i.get("series"))),
}
PAYMENT_KEYS: dict[str, Getter] = {
    **_scalars(k for k in wpop.PAYMENT_FIELDS if k != "transaction_num,"),
    "transaction_num": lambda p: p.get("transaction_num,"),
    "series_id": lambda p: wpop.PAYMENT_SERIES_IDS.get(str(p.get("series"))),
    "status": lambda p: "valid",
}
KEYS = {
    "customers": CUSTOMER_KEYS,
    "orders": ORDER_KEYS,
    "invoices": INVOICE_KEYS,
    "payments": PAYMENT_KEYS,
}
# The spec's plain invoice parameters: (filter key, operator).
INVOICE_PARAMS = {
    "customer_id": ("customer_id", "=="),
    "series_id": ("series_id", "=="),
    "status": ("status", "=="),
    "issue_date_from": ("issue_date", ">="),
    "issue_date_to": ("issue_date", "<="),
}
PLAIN_PARAMS = {"invoices": INVOICE_PARAMS, "payments": INVOICE_PARAMS}  # the same five


def _getter(kind: str, key: str, what: str) -> Getter:
    getter = KEYS[kind].get(key) or KEYS[kind].get(key.lower())
    if getter is None:
        raise ApiError(400, f"The {what} {key} is not supported.")
    return getter


def _matches(value: Any, op: str, operand: str, key: str) -> bool:
    if isinstance(value, list):  # several spellings of one value (Country)
        return any(_matches(v, op, operand, key) for v in value if v is not None)
    if value is None or isinstance(value, dict | list):
        return op == "!="
    if op in ("<>", "!<>"):
        low, sep, high = operand.partition(",")
        if not sep:
            raise ApiError(400, f"The filter {key} needs two values, low,high.")
        inside = _matches(value, ">=", low, key) and _matches(value, "<=", high, key)
        return inside if op == "<>" else not inside
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(operand)
        except ValueError:
            raise ApiError(400, f"The filter {key} needs a number.") from None
        return _COMPARE[op](float(value), number)
    return _COMPARE[op](collate(str(value)), collate(operand))


def _sort_form(value: Any) -> tuple[Any, ...]:
    if isinstance(value, list):
        value = value[0]
    if value is None or isinstance(value, dict | list):
        return (0,)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, 0, float(value), "")
    return (1, 1, 0.0, collate(str(value)))


def select(kind: str, records: list[JsonDict], params: list[tuple[str, str]]) -> list[JsonDict]:
    """The records matching the request's filters, in the requested order."""
    conditions: list[tuple[Getter, str, str, str]] = []
    sort: str | None = None
    for name, value in params:
        if name.startswith("filter"):
            key, op = _parse_filter(name)
            conditions.append((_getter(kind, key, "filter"), op, value, key))
        elif name in PLAIN_PARAMS.get(kind, {}) and value != "":
            key, op = PLAIN_PARAMS[kind][name]
            conditions.append((_getter(kind, key, "filter"), op, value, name))
        elif name == "sort":
            if sort is not None or "," in value:
                raise ApiError(400, "Only one sort key is supported.")
            sort = value
    chosen = [r for r in records if all(_matches(get(r), op, v, k) for get, op, v, k in conditions)]
    if sort:
        getter = _getter(kind, sort.removeprefix("-"), "sort key")
        chosen.sort(key=lambda r: _sort_form(getter(r)), reverse=sort.startswith("-"))
    return chosen


def _parse_filter(name: str) -> tuple[str, str]:
    """``filter[key]`` -> (key, "=="); ``filter[key][op]`` -> (key, op)."""
    parts = name.removeprefix("filter").split("]")
    if len(parts) not in (2, 3) or parts[-1] or not all(p.startswith("[") for p in parts[:-1]):
        raise ApiError(400, f"The filter parameter {name} is malformed.")
    key = parts[0][1:]
    op = parts[1][1:] if len(parts) == 3 else "=="
    if not key:
        raise ApiError(400, f"The filter parameter {name} is malformed.")
    if op not in _COMPARE and op not in ("<>", "!<>"):
        raise ApiError(400, f"The filter operator {op} is not supported.")
    return key, op


class WorkaduStore:
    """Every record of the sandbox, behind one re-entrant lock."""

    def __init__(
        self,
        customers: list[JsonDict],
        orders: list[JsonDict],
        invoices: list[JsonDict],
        seed: int,
        payments: list[JsonDict] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._rng = random.Random(f"{seed}:workadu:additions")
        self._records: dict[str, dict[int, JsonDict]] = {
            "customers": {c["id"]: c for c in customers},
            "orders": {o["id"]: o for o in orders},
            "invoices": {i["id"]: i for i in invoices},
        }
        self._fields = {"customers": CUSTOMER_FIELDS, "orders": ORDER_FIELDS}
        self._fields["invoices"] = INVOICE_FIELDS
        # Payments no order shows (for invoices, general ones); orders' are in the orders.
        self._payments: list[JsonDict] = list(payments or [])

    # ------------------------------------------------------------------ views
    def _view(self, kind: str, record: JsonDict) -> JsonDict:
        view = copy.deepcopy(record)
        customers = self._records["customers"]
        if kind == "orders" and isinstance(view.get("customer"), dict):
            found = customers.get(view["customer"].get("id"))
            if found is not None:
                view["customer"] = wpop.party(found)
        elif kind == "invoices" and isinstance(view.get("customer"), list):
            view["customer"] = [
                wpop.party(customers[p["id"]]) if p.get("id") in customers else p
                for p in view["customer"]
            ]
        return view

    def all(self, kind: str) -> list[JsonDict]:
        with self.lock:
            if kind == "payments":
                return self._payment_views()
            return [self._view(kind, r) for r in sorted(self._records[kind].values(), key=_id)]

    def _payment_views(self) -> list[JsonDict]:
        """Every payment: the orders' (with their order id) and the others."""
        found = copy.deepcopy(self._payments)
        for order in self._records["orders"].values():
            for paid in order.get("payments") or ():
                try:
                    found.append(
                        wpop.payment(
                            paid["id"],
                            _first_id(order.get("customer")),
                            paid["amount"],
                            issue_date=paid.get("issue_date"),
                            order_id=order["id"],
                            currency=order.get("currency"),
                            comments=paid.get("comments"),
                        )
                    )
                except (KeyError, TypeError):  # a record the tests corrupted on purpose
                    continue
        return sorted(found, key=_transaction)

    def api_list(self, kind: str, params: list[tuple[str, str]]) -> list[JsonDict]:
        return select(kind, self.all(kind), params)

    def api_by_ids(self, kind: str, raw_ids: str) -> list[JsonDict]:
        parts = [part.strip() for part in raw_ids.split(",")]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise ApiError(400, BAD_ID[kind])
        with self.lock:
            records = self._records[kind]
            found = [records[int(p)] for p in dict.fromkeys(parts) if int(p) in records]
            if not found:
                raise ApiError(400, NOT_FOUND[kind])
            return [self._view(kind, r) for r in found]

    # ------------------------------------------------------------------ control
    def get(self, kind: str, record_id: int) -> JsonDict:
        with self.lock:
            return self._view(kind, self._records[kind][record_id])

    def update(self, kind: str, record_id: int, fields: JsonDict) -> None:
        """Set fields by their API names; values are not checked (tests corrupt them)."""
        with self.lock:
            record = self._records[kind][record_id]
            self._check(kind, fields)
            if fields.get("id", record_id) != record_id:
                raise ValueError(f"cannot change the id of {kind} {record_id}")
            record.update(copy.deepcopy(fields))

    def remove(self, kind: str, record_id: int) -> None:
        with self.lock:
            del self._records[kind][record_id]

    def add_customer(self, fields: JsonDict) -> int:
        if not isinstance(fields.get("fullname"), str):
            raise ValueError("a new customer needs a fullname (the spec's POST rule)")
        base = dict.fromkeys(CUSTOMER_FIELDS)
        base.update(social=[], media=[], companyid=475)
        return self._add("customers", base, fields)

    def add_order(self, customer_id: int, fields: JsonDict) -> int:
        with self.lock:
            customer = self._records["customers"][customer_id]
            new_id = self._next_id("orders", fields)
            reference = "".join(self._rng.choice(wpop.REFERENCE_CHARS) for _ in range(6))
            line_id = 90000 + new_id
            base = wpop.make_order(self._rng, new_id, line_id, customer, reference)
            return self._add("orders", base, fields)

    def add_invoice(self, customer_id: int, fields: JsonDict) -> int:
        with self.lock:
            customer = self._records["customers"][customer_id]
            new_id = self._next_id("invoices", fields)
            base = wpop.make_invoice(self._rng, new_id, new_id, customer, None)
            return self._add("invoices", base, fields)

    def add_payment(
        self,
        customer_id: int,
        amount: int | float,
        *,
        order_id: int | None,
        issue_date: str,
        currency: str,
        series: str,
        comments: str | None,
    ) -> int:
        """A payment (the spec's POST /api/payments): on the order when it has one."""
        with self.lock:
            if customer_id not in self._records["customers"]:
                raise KeyError(customer_id)
            transaction = 1 + max(map(_transaction, self._payment_views()), default=5000)
            if order_id is not None:
                order = self._records["orders"][order_id]
                if _first_id(order.get("customer")) != customer_id:
                    raise ValueError(f"order {order_id} is not customer {customer_id}'s")
                paid = {"id": transaction, "issue_date": issue_date, "amount": amount}
                order.setdefault("payments", []).append({**paid, "comments": comments})
                return transaction
            self._payments.append(
                wpop.payment(
                    transaction,
                    customer_id,
                    amount,
                    issue_date=issue_date,
                    currency=currency,
                    series=series,
                    comments=comments,
                )
            )
            return transaction

    def _add(self, kind: str, base: JsonDict, fields: JsonDict) -> int:
        with self.lock:
            self._check(kind, fields)
            record = {**base, **copy.deepcopy(fields), "id": self._next_id(kind, fields)}
            self._records[kind][record["id"]] = record
            return int(record["id"])

    def _next_id(self, kind: str, fields: JsonDict) -> int:
        records = self._records[kind]
        wanted = fields.get("id")
        if wanted is None:
            return max(records, default=0) + 1
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            raise ValueError("id must be a positive int")
        if wanted in records:
            raise ValueError(f"{kind} {wanted} already exists")
        return wanted

    def _check(self, kind: str, fields: JsonDict) -> None:
        unknown = sorted(set(fields) - set(self._fields[kind]))
        if unknown:
            raise ValueError(f"unknown {kind} field(s): {', '.join(unknown)}")


def _transaction(payment: JsonDict) -> int:
    number = payment.get("transaction_num,")
    return number if isinstance(number, int) else 0


def _id(record: JsonDict) -> int:
    return int(record["id"])
