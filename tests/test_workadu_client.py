"""Tests of the Workadu client and models.

Requests are answered by plain functions through ``httpx.MockTransport``; the
client itself is never mocked. Nothing really sleeps: the retry policy gets an
injected ``sleep`` that records the delays it was asked for.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from syncworker.config import Secret
from syncworker.errors import (
    PaginationLoopError,
    RecordValidationError,
    SourceAuthError,
    SourceConnectionError,
    SourceDataError,
    SourceError,
    SourceInvalidParameterError,
    SourceNotFoundError,
    SourceServerError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.sources.streams import SourcePage, as_record
from syncworker.sources.workadu.client import ACCEPT_V2, WorkaduClient
from syncworker.sources.workadu.models import Customer, Invoice, Order, Page

# The spec's example key has "$" and "/"-free bcrypt-like text; this one is the same kind.
API_KEY = "$2y$10$Ag6LxUSJsdfsdfrhFNQlQuDxiMAIaHr3BDuY8gLC32f5C681NCOge"
BASE_URL = "https://app.workadu.test"

# --------------------------------------------------------------------------------------
# The spec's example bodies, verbatim (workadu-api-v2.txt).

ORDER_CREATED = r"""
{
  "data": {
    "id": 1831,
    "reference": "4GELNA",
    "company_id": 475,
    "status": "PRE_ASSIGNED",
    "customer": {
      "id": 911,
      "fullname": "David Oregon",
      "email": "info@davidoregon.com"
    },
    "total_cost": 55,
    "orders": {
      "order": {
        "id": 6274,
        "reference": 627401,
        "service_id": "33273",
        "start": {
          "coordinates": "(39.074208, 21.824312)",
          "location_name": "Main Desk",
          "date": "2018-07-11",
          "time": "08:09"
        },
        "end": {
          "coordinates": "(39.074208, 21.824312)",
          "location_name": "Main Desk",
          "date": "2018-07-11",
          "time": "08:09"
        },
        "comment": "``",
        "status": "PRE_ASSIGNED",
        "total_cost": 55,
        "recource": {
          "number": "Peg-1",
          "type": "``",
          "color": "``"
        },
        "extras": [
          {
            "id": 2593,
            "name": "baby seat",
            "description": "Baby seat description",
            "media": "``",
            "params": {
              "rangeMax": 2,
              "rangeMin": 1,
              "price": 5,
              "fixedPrice": 3,
              "parent": "null (null,nullable)"
            }
          }
        ]
      }
    },
    "currency": "$",
    "payments": [
      {
        "id": 1810,
        "issue_date": "2018-07-05",
        "amount": 55,
        "comments": "Payment for Booking #4GELNA"
      }
    ]
  }
}
"""

ORDERS_LIST = r"""
{
  "data": [
    {
      "id": 1831,
      "reference": "4GELNA",
      "company_id": 475,
      "status": "PRE_ASSIGNED",
      "customer": {
        "id": 911,
        "fullname": "David Oregon",
        "email": "info@davidoregon.com"
      },
      "total_cost": 55,
      "orders": {
        "order": {
          "id": 6274,
          "reference": 627401,
          "service_id": "33273",
          "start": {
            "coordinates": "(39.074208, 21.824312)",
            "location_name": "Main Desk",
            "date": "2018-07-11",
            "time": "08:09"
          },
          "end": {
            "coordinates": "(39.074208, 21.824312)",
            "location_name": "Main Desk",
            "date": "2018-07-11",
            "time": "08:09"
          },
          "comment": "``",
          "status": "PRE_ASSIGNED",
          "total_cost": 55,
          "recource": {
            "number": "Peg-1",
            "type": "``",
            "color": "``"
          },
          "extras": [
            {
              "id": 2593,
              "name": "baby seat",
              "description": "Baby seat description",
              "media": "``",
              "params": {
                "rangeMax": 2,
                "rangeMin": 1,
                "price": 5,
                "fixedPrice": 3,
                "parent": "null (null,nullable)"
              }
            }
          ]
        }
      },
      "currency": "$",
      "payments": [
        {
          "id": 1810,
          "issue_date": "2018-07-05",
          "amount": 55,
          "comments": "Payment for Booking #4GELNA"
        }
      ]
    }
  ]
}
"""

ORDER_SINGLE = r"""
{
  "data": [
    {
      "id": 1831,
      "reference": "4GELNA",
      "company_id": 475,
      "status": "PRE_ASSIGNED",
      "customer": {
        "id": 911,
        "fullname": "David Oregon",
        "email": "info@davidoregon.com"
      },
      "total_cost": 55,
      "orders": {
        "order": {
          "id": 6274,
          "reference": 627401,
          "service_id": "33273",
          "start": {
            "coordinates": "(39.074208, 21.824312)",
            "location_name": "Main Desk",
            "date": "2018-07-11",
            "time": "08:09"
          },
          "end": {
            "coordinates": "(39.074208, 21.824312)",
            "location_name": "Main Desk",
            "date": "2018-07-11",
            "time": "08:09"
          },
          "comment": "``",
          "status": "PRE_ASSIGNED",
          "total_cost": 55,
          "recource": {
            "number": "Peg-1",
            "type": "``",
            "color": "``"
          },
          "extras": [
            {
              "id": 2593,
              "name": "baby seat",
              "description": "Baby seat description",
              "media": "``",
              "params": {
                "rangeMax": 2,
                "rangeMin": 1,
                "price": 5,
                "fixedPrice": 3,
                "parent": "null (null,nullable)"
              }
            }
          ]
        }
      },
      "currency": "$",
      "payments": [
        {
          "id": 1810,
          "issue_date": "2018-07-05",
          "amount": 55,
          "comments": "Payment for Booking #4GELNA"
        }
      ]
    }
  ]
}
"""

CUSTOMER_CREATED = r"""
{
  "data": {
    "id": 3332,
    "fullname": "John Doe",
    "email": "johnydoe@doe.com",
    "mobile": 1112223334,
    "country": "Greece",
    "city": "Athens",
    "address": "Patisiwn 11",
    "postal_code": 13211,
    "vat_number": "112233",
    "birthdate": "1985-02-11",
    "gender": "M",
    "title": "Mr",
    "social": [
      {
        "social": "facebook.com",
        "alias": "johndoe"
      }
    ],
    "comments": "some comments",
    "companyid": 475,
    "media": [
      "http://stage.reservationengine.net/assets/images/aueb-475/1531817042-pic2.png"
    ]
  }
}
"""

CUSTOMERS_LIST = r"""
{
  "data": {
    "id": 3332,
    "fullname": "John Doe",
    "email": "johnydoe@doe.com",
    "mobile": 1112223334,
    "country": "Greece",
    "city": "Athens",
    "address": "Patisiwn 11",
    "postal_code": 13211,
    "vat_number": "112233",
    "birthdate": "1985-02-11",
    "gender": "M",
    "title": "Mr",
    "social": [
      {
        "social": "facebook.com",
        "alias": "johndoe"
      }
    ],
    "comments": "some comments",
    "companyid": 475,
    "media": [
      "http://stage.reservationengine.net/assets/images/aueb-475/1531817042-pic2.png"
    ]
  }
}
"""

CUSTOMER_SINGLE = r"""
{
  "data": {
    "id": 3332,
    "fullname": "John Doe",
    "email": "johnydoe@doe.com",
    "mobile": 1112223334,
    "country": "Greece",
    "city": "Athens",
    "address": "Patisiwn 11",
    "postal_code": 13211,
    "vat_number": "112233",
    "birthdate": "1985-02-11",
    "gender": "M",
    "title": "Mr",
    "social": [
      {
        "social": "facebook.com",
        "alias": "johndoe"
      }
    ],
    "comments": "some comments",
    "companyid": 475,
    "media": [
      "http://stage.reservationengine.net/assets/images/aueb-475/1531817042-pic2.png"
    ]
  }
}
"""

INVOICES_LIST = r"""
{
  "data": {
    "id": 123212,
    "invoice_number": "A-1233",
    "series": "INVOICE",
    "user": [
      {
        "id": 123212,
        "email": "hello@workadu.com"
      }
    ],
    "customer": [
      {
        "id": 911,
        "fullname": "David Oregon",
        "email": "info@davidoregon.com"
      }
    ],
    "issue_date": "2018-01-13",
    "due_date": "2018-02-13",
    "discount_amount": 4,
    "vat_amount": 2,
    "total_amount": 14,
    "currency": "EUR",
    "currency_rate": 1,
    "lines": [
      {
        "id": 911,
        "description": "For sale",
        "quantity": 1,
        "solo_amount": 10,
        "total_amount": 20,
        "discount_percent": 10,
        "vat_percent": 0,
        "final_amount": 18
      }
    ],
    "status": "VALID",
    "tag": "#ASS4J22"
  }
}
"""

INVOICE_SINGLE = r"""
{
  "data": {
    "id": 123212,
    "invoice_number": "A-1233",
    "series": "INVOICE",
    "user": [
      {
        "id": 123212,
        "email": "hello@workadu.com"
      }
    ],
    "customer": [
      {
        "id": 911,
        "fullname": "David Oregon",
        "email": "info@davidoregon.com"
      }
    ],
    "issue_date": "2018-01-13",
    "due_date": "2018-02-13",
    "discount_amount": 4,
    "vat_amount": 2,
    "total_amount": 14,
    "currency": "EUR",
    "currency_rate": 1,
    "lines": [
      {
        "id": 911,
        "description": "For sale",
        "quantity": 1,
        "solo_amount": 10,
        "total_amount": 20,
        "discount_percent": 10,
        "vat_percent": 0,
        "final_amount": 18
      }
    ],
    "status": "VALID",
    "tag": "#ASS4J22"
  }
}
"""

INVOICE_CREATED = r"""
{
  "data": {
    "id": 123212,
    "invoice_number": "A-1233",
    "series": "INVOICE",
    "user": [
      {
        "id": 123212,
        "email": "hello@workadu.com"
      }
    ],
    "customer": [
      {
        "id": 911,
        "fullname": "David Oregon",
        "email": "info@davidoregon.com"
      }
    ],
    "issue_date": "2018-01-13",
    "due_date": "2018-02-13",
    "discount_amount": 4,
    "vat_amount": 2,
    "total_amount": 14,
    "currency": "EUR",
    "currency_rate": 1,
    "lines": [
      {
        "id": 911,
        "description": "For sale",
        "quantity": 1,
        "solo_amount": 10,
        "total_amount": 20,
        "discount_percent": 10,
        "vat_percent": 0,
        "final_amount": 18
      }
    ],
    "status": "VALID",
    "tag": "#ASS4J22"
  }
}
"""

CUSTOMER_KEYS = {
    "id", "fullname", "email", "mobile", "country", "city", "address", "postal_code",
    "vat_number", "birthdate", "gender", "title", "social", "comments", "companyid", "media",
}  # fmt: skip

# --------------------------------------------------------------------------------------
# Harness: a plain function answers every request through httpx.MockTransport.

Handler = Callable[[httpx.Request], httpx.Response]
BASIC = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()


@dataclass
class Harness:
    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def route(self, request: httpx.Request) -> httpx.Response:
        # Every request: the key as Basic user name, empty password; v2 Accept; timeout.
        assert request.headers["Authorization"] == BASIC
        assert request.headers["Accept"] == ACCEPT_V2
        assert request.headers["Content-Type"] == "application/json"
        assert request.method == "GET"
        assert request.extensions["timeout"] == dict.fromkeys(
            ("connect", "read", "write", "pool"), 30.0
        )
        self.requests.append(request)
        return self.handler(request)

    def params(self, key: str) -> list[str | None]:
        return [r.url.params.get(key) for r in self.requests]


def make(handler: Handler, **kw: Any) -> tuple[WorkaduClient, Harness]:
    harness = Harness(handler)
    kw.setdefault("retry", RetryPolicy(sleep=harness.sleeps.append, random=lambda: 0.5))
    client = WorkaduClient(
        BASE_URL, Secret(API_KEY), transport=httpx.MockTransport(harness.route), **kw
    )
    return client, harness


def text(status: int, body: str, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body.encode(), headers={"content-type": content_type})


def always(response: httpx.Response | Callable[[], httpx.Response]) -> Handler:
    return lambda request: response() if callable(response) else response


def spec_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "status_code": status})


def customer(i: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": i,
        "fullname": f"Ελένη O'Brien {i}",
        "email": f"person{i}@example.com",
        "mobile": "+30 6912345678",
        "country": "Greece",
        "companyid": 475,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def fractal(data: list[Any], page: int, pages: int, total: int, per_page: int) -> dict[str, Any]:
    meta = {"total": total, "count": len(data), "per_page": per_page, "current_page": page}
    meta |= {"total_pages": pages, "links": []}
    return {"data": data, "meta": {"pagination": meta}}


def paged(records: list[dict[str, Any]], shape: str = "fractal") -> Handler:
    """Serve ``records`` page by page, the way a paginating server would."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        per_page = int(request.url.params["per_page"])
        chunk = records[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(records) // per_page))
        if shape == "fractal":
            return httpx.Response(200, json=fractal(chunk, page, pages, len(records), per_page))
        meta = {"current_page": page, "last_page": pages, "total": len(records)}
        meta["per_page"] = str(per_page) if shape == "laravel-bare" else per_page
        if shape == "laravel-bare":
            return httpx.Response(200, json={**meta, "data": chunk})
        return httpx.Response(200, json={"data": chunk, "meta": meta, "links": {}})

    return handler


# --------------------------------------------------------------------------------------
# The spec's examples parse.


def test_customer_examples_parse() -> None:
    for body in (CUSTOMERS_LIST, CUSTOMER_CREATED):
        client, harness = make(always(text(200, body)))
        pages = list(client.iter_customer_pages())
        assert len(pages) == 1 and client.calls == 1
        page = pages[0]
        assert isinstance(page, Page)
        assert (page.page, page.pages, page.total, page.paginated, page.rejected) == (
            1, 1, 1, False, [],
        )  # fmt: skip
        (person,) = page.items
        assert person.id == 3332 and person.fullname == "John Doe"
        assert person.mobile == "1112223334" and person.postal_code == "13211"
        assert person.vat_number == "112233" and person.birthdate == "1985-02-11"
        assert person.company_id == 475 and person.social and person.social[0].alias == "johndoe"
        dumped = person.model_dump(by_alias=True)
        assert set(dumped) == CUSTOMER_KEYS
        expected = json.loads(body)["data"]
        expected |= {"mobile": "1112223334", "postal_code": "13211"}  # read as text
        assert dumped == expected
        assert as_record(person) == dumped

    client, harness = make(always(text(200, CUSTOMER_SINGLE)))
    assert client.get_customer(3332).fullname == "John Doe"
    assert client.get_customer("3332").email == "johnydoe@doe.com"
    assert [r.url.path for r in harness.requests] == ["/api/customers/3332"] * 2
    assert harness.requests[0].url.query == b""


def test_order_examples_parse() -> None:
    for body in (ORDERS_LIST, ORDER_CREATED):
        client, _ = make(always(text(200, body)))
        (order,) = client.iter_orders()
        assert isinstance(order, Order)
        assert (order.id, order.reference, order.status) == (1831, "4GELNA", "PRE_ASSIGNED")
        assert order.customer_id == 911 and order.customer.fullname == "David Oregon"
        assert order.total_cost == 55 and order.currency == "$" and order.company_id == 475
        assert order.service_id == "33273"
        assert (order.start_date, order.end_date) == ("2018-07-11", "2018-07-11")
        assert order.paid_amount == 55 and order.balance == 0
        (line,) = order.lines
        assert line.reference == "627401" and line.resource and line.resource.number == "Peg-1"
        assert line.extras and line.extras[0].params == {
            "rangeMax": 2, "rangeMin": 1, "price": 5, "fixedPrice": 3,
            "parent": "null (null,nullable)",
        }  # fmt: skip
        dumped = order.model_dump(by_alias=True)
        assert "recource" in dumped["orders"]["order"]  # the spec's spelling survives
        expected = json.loads(body)["data"]
        expected = expected[0] if isinstance(expected, list) else expected
        expected["orders"]["order"]["reference"] = "627401"
        assert dumped == expected

    client, harness = make(always(text(200, ORDER_SINGLE)))
    assert client.get_order(1831).reference == "4GELNA"  # a list of one, as the spec shows
    assert harness.requests[0].url.path == "/api/orders/1831"


def test_invoice_examples_parse() -> None:
    for body in (INVOICES_LIST, INVOICE_SINGLE, INVOICE_CREATED):
        client, _ = make(always(text(200, body)))
        (invoice,) = client.iter_invoices()
        assert isinstance(invoice, Invoice)
        assert invoice.id == 123212 and invoice.invoice_number == "A-1233"
        assert invoice.customer_id == 911 and invoice.customers[0].email == "info@davidoregon.com"
        assert (invoice.total_amount, invoice.vat_amount, invoice.discount_amount) == (14, 2, 4)
        assert (invoice.issue_date, invoice.due_date) == ("2018-01-13", "2018-02-13")
        assert invoice.status == "VALID" and invoice.tag == "#ASS4J22"
        assert invoice.lines and invoice.lines[0].final_amount == 18
        assert invoice.model_dump(by_alias=True) == json.loads(body)["data"]
    client, harness = make(always(text(200, INVOICE_SINGLE)))
    assert client.get_invoice(123212).series == "INVOICE"
    assert harness.requests[0].url.path == "/api/invoices/123212"


def test_pages_satisfy_the_engine_protocol() -> None:
    client, _ = make(always(text(200, ORDERS_LIST)))
    page: SourcePage = next(client.iter_order_pages())
    assert (page.page, page.pages, page.total, len(page.items), list(page.rejected)) == (
        1, 1, 1, 1, [],
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Requests: auth, headers, filters, sorting.


def test_key_is_not_a_default_header_and_not_in_repr() -> None:
    client, harness = make(always(text(200, CUSTOMERS_LIST)))
    assert "authorization" not in client._http.headers
    assert API_KEY not in repr(client) and "calls=0" in repr(client)
    list(client.iter_customers())
    assert harness.requests[0].headers["Authorization"] == BASIC
    decoded = base64.b64decode(BASIC.split()[1]).decode()
    assert decoded == f"{API_KEY}:"  # user name = key, empty password (curl -u $APIkey:)


def test_filters_and_sort_are_encoded_as_the_spec_says() -> None:
    client, harness = make(always(text(200, ORDERS_LIST)), page_size=50)
    filters = {
        "customer_id": 911,
        "status": "CANCELLED",
        "total_cost": (">=", 20.5),
        "start_date": ("<>", "2018-07-01,2018-07-31"),
        "end_time": ("<*", "18:00"),
    }
    list(client.iter_orders(filters=filters, sort="-total_cost"))
    assert harness.requests[0].url.params.multi_items() == [
        ("filter[customer_id]", "911"),
        ("filter[status]", "CANCELLED"),
        ("filter[total_cost][>=]", "20.5"),
        ("filter[start_date][<>]", "2018-07-01,2018-07-31"),
        ("filter[end_time][<*]", "18:00"),
        ("sort", "-total_cost"),
        ("page", "1"),
        ("per_page", "50"),
    ]
    raw = harness.requests[0].url.query.decode()
    assert "filter%5Bcustomer_id%5D=911" in raw and "filter%5Btotal_cost%5D%5B%3E%3D%5D=20.5" in raw


def test_customer_filters_and_invoice_parameters() -> None:
    client, harness = make(always(text(200, INVOICES_LIST)))
    list(
        client.iter_customers(filters={"email": "jdoe@gmail.com", "Country": "UK"}, sort="fullname")
    )
    list(
        client.iter_invoices(
            customer_id=12443, series_id="1233", status="valid",
            issue_date_from="2018-01-13", issue_date_to="2018-01-22",
            filters={"tag": ("!=", "#X")},
        )
    )  # fmt: skip
    first, second = (r.url.params.multi_items() for r in harness.requests)
    assert first[:3] == [
        ("filter[email]", "jdoe@gmail.com"), ("filter[Country]", "UK"), ("sort", "fullname"),
    ]  # fmt: skip
    assert second[:6] == [
        ("filter[tag][!=]", "#X"), ("customer_id", "12443"), ("series_id", "1233"),
        ("status", "valid"), ("issue_date_from", "2018-01-13"), ("issue_date_to", "2018-01-22"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.iter_orders(filters={"total_cost": ("=>", 1)}), ValueError),
        (lambda c: c.iter_orders(filters={"total_cost": (">=",)}), ValueError),
        (lambda c: c.iter_orders(filters={"bad key": "x"}), ValueError),
        (lambda c: c.iter_orders(filters={"filter[x]": "x"}), ValueError),
        (lambda c: c.iter_orders(filters={"paid": True}), TypeError),
        (lambda c: c.iter_orders(filters={"total_cost": float("nan")}), TypeError),
        (lambda c: c.iter_customers(sort="fullname,-id"), ValueError),
        (lambda c: c.iter_customers(sort="--id"), ValueError),
        (lambda c: c.iter_invoices(customer_id="12a"), ValueError),
        (lambda c: c.iter_invoices(issue_date_from="13/01/2018"), ValueError),
        (lambda c: c.iter_invoices(status=""), ValueError),
        (lambda c: c.get_customer(0), ValueError),
        (lambda c: c.get_customer(" 12"), ValueError),
        (lambda c: c.get_order(True), TypeError),
        (lambda c: c.get_invoice(1.0), TypeError),
    ],
)
def test_bad_arguments_fail_before_any_request(
    call: Callable[[WorkaduClient], object], error: type[Exception]
) -> None:
    client, _ = make(always(text(200, CUSTOMERS_LIST)))
    with pytest.raises(error):
        call(client)
    assert client.calls == 0


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        WorkaduClient(BASE_URL, Secret(""))
    with pytest.raises(ValueError):
        WorkaduClient(BASE_URL, Secret("user:password"))
    with pytest.raises(ValueError):
        WorkaduClient(BASE_URL, Secret(API_KEY), page_size=0)
    with pytest.raises(TypeError):
        WorkaduClient(BASE_URL, Secret(API_KEY), page_size=True)
    with pytest.raises(ValueError):
        WorkaduClient(BASE_URL, Secret(API_KEY), timeout=0)


# --------------------------------------------------------------------------------------
# Pagination.


@pytest.mark.parametrize("shape", ["fractal", "laravel", "laravel-bare"])
def test_pagination_metadata_is_followed(shape: str) -> None:
    records = [customer(i) for i in range(1, 24)]
    client, harness = make(paged(records, shape), page_size=10)
    pages = list(client.iter_customer_pages())
    assert [(p.page, p.pages, p.total, p.per_page, p.paginated) for p in pages] == [
        (1, 3, 23, 10, True), (2, 3, 23, 10, True), (3, 3, 23, 10, True),
    ]  # fmt: skip
    assert [c.id for p in pages for c in p.items] == list(range(1, 24))
    assert harness.params("page") == ["1", "2", "3"] and client.calls == 3


def test_no_metadata_is_one_page_even_when_longer_than_page_size() -> None:
    records = [customer(i) for i in range(1, 8)]
    client, _ = make(always(httpx.Response(200, json={"data": records})), page_size=3)
    pages = list(client.iter_customer_pages())
    assert len(pages) == 1 and client.calls == 1
    assert (pages[0].page, pages[0].pages, pages[0].total, pages[0].per_page) == (1, 1, 7, None)
    assert len(pages[0].items) == 7


def test_no_metadata_and_a_full_page_then_nothing_found_is_the_end() -> None:
    records = [customer(i) for i in range(1, 4)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return httpx.Response(200, json={"data": records})
        return spec_error(400, "No customers could be found.")

    client, harness = make(handler, page_size=3)
    assert [c.id for c in client.iter_customers()] == [1, 2, 3]
    assert harness.params("page") == ["1", "2"]


def test_empty_list_and_php_object_lists() -> None:
    client, _ = make(always(httpx.Response(200, json={"data": []})))
    (page,) = client.iter_customer_pages()
    assert (page.items, page.total, page.pages) == ([], 0, 1)
    # A PHP array with gaps in its keys arrives as an object keyed by position.
    gappy = {"0": customer(1), "2": customer(2)}
    client, _ = make(always(httpx.Response(200, json={"data": gappy})))
    assert [c.id for c in client.iter_customers()] == [1, 2]


def test_nothing_found_on_a_list_is_an_empty_list() -> None:
    client, _ = make(always(spec_error(400, "No customers could be found.")))
    assert list(client.iter_customers(filters={"email": "x@example.com"})) == []
    assert client.calls == 1


def test_a_server_ignoring_page_is_caught() -> None:
    records = [customer(i) for i in range(1, 6)]
    client, _ = make(
        always(httpx.Response(200, json=fractal(records[:2], 1, 3, 5, 2))), page_size=2
    )
    with pytest.raises(PaginationLoopError, match=r"page 2.*answered with page 1"):
        list(client.iter_customers())


def test_metadata_then_none_is_caught() -> None:
    records = [customer(i) for i in range(1, 6)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return httpx.Response(200, json=fractal(records[:2], 1, 3, 5, 2))
        return httpx.Response(200, json={"data": records})

    client, _ = make(handler, page_size=2)
    with pytest.raises(PaginationLoopError):
        list(client.iter_customers())


def test_page_count_change_is_caught() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages = 3 if page == 1 else 4
        return httpx.Response(200, json=fractal([customer(page)], page, pages, pages, 1))

    client, _ = make(handler, page_size=1)
    with pytest.raises(PaginationLoopError, match="page count changed"):
        list(client.iter_customers())


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (fractal([customer(1)], 1, 1, 5, 1), "5 records"),
        (fractal([customer(1), customer(2)], 1, 2, 2, 1), "exceed per_page"),
        (fractal([customer(1)], 0, 1, 1, 1), "current_page"),
        (fractal([customer(1)], 1, 1, -1, 1), "total"),
        ({"data": [customer(1)], "meta": {"pagination": {"total": "x"}}}, "current_page"),
        ({"data": "nope"}, "neither a list nor an object"),
        ({"data": None}, "neither a list nor an object"),
    ],
)
def test_bad_envelopes_are_data_errors(body: dict[str, Any], match: str) -> None:
    client, _ = make(always(httpx.Response(200, json=body)))
    with pytest.raises(SourceDataError, match=match) as info:
        list(client.iter_customers())
    assert "Workadu GET /api/customers page 1" in str(info.value)


# --------------------------------------------------------------------------------------
# Errors.

SPEC_ERRORS = {
    (400, "No customers could be found."): SourceNotFoundError,
    (400, "No customer found!"): SourceNotFoundError,
    (400, "The invoice is not valid or exist"): SourceNotFoundError,
    (400, "No orders found to be canceled."): SourceNotFoundError,
    (400, "Please provide a customer_id!"): SourceInvalidParameterError,
    (400, "You must provide the order ID(s)"): SourceInvalidParameterError,
    (400, "You didn't specify a correct invoice ID."): SourceInvalidParameterError,
    (400, "The email you supplied is malformed!"): SourceInvalidParameterError,
    (
        401,
        "Failed to authenticate because of bad credentials or an invalid authorization header.",
    ): SourceAuthError,
    (403, "Forbidden"): SourceAuthError,
    (404, "404 Not Found"): SourceDataError,
    (406, "Not Acceptable"): SourceInvalidParameterError,
    (408, "Request Timeout"): SourceTimeoutError,
    (429, "Too Many Requests"): SourceServerError,
    (500, "Undefined index: distance"): SourceServerError,
    (503, "Service Unavailable"): SourceServerError,
}


@pytest.mark.parametrize(("status", "message"), list(SPEC_ERRORS))
def test_error_bodies_map_to_typed_errors(status: int, message: str) -> None:
    kind = SPEC_ERRORS[(status, message)]
    client, _ = make(always(spec_error(status, message)), retry=RetryPolicy.no_retry())
    with pytest.raises(kind) as info:
        client.get_customer(3332)
    assert type(info.value) is kind and info.value.status == status
    assert str(info.value).startswith(f"Workadu GET /api/customers/3332: HTTP {status}: {message}")


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (text(200, "<html><body>Login</body></html>", "text/html"), "is not JSON.*text/html"),
        (
            text(
                200,
                '{"data": [',
            ),
            "is not JSON",
        ),
        (text(200, "[1, 2]"), "is not a JSON object"),
        (text(200, '{"items": []}'), "has no 'data'"),
        (text(302, "", "text/html"), "unexpected status"),
    ],
)
def test_wrong_shapes_are_data_errors_naming_endpoint_and_page(
    response: httpx.Response, match: str
) -> None:
    client, _ = make(always(response))
    with pytest.raises(SourceDataError, match=match) as info:
        list(client.iter_order_pages())
    assert str(info.value).startswith("Workadu GET /api/orders page 1:")
    assert client.calls == 1  # not retried


def test_error_sent_with_200_is_understood() -> None:
    client, _ = make(always(spec_error(200, "No customer found!")))
    with pytest.raises(SourceNotFoundError):
        client.get_customer(5)


def test_messages_never_carry_the_key_emails_or_phones() -> None:
    echo = (
        f"Bad key {API_KEY} ({BASIC.split()[1]}) for jdoe@gmail.com, mobile +44 69960022 "
        "or 1112223334, order 1831 of 2018-07-05"
    )
    client, _ = make(always(spec_error(400, echo)))
    with pytest.raises(SourceInvalidParameterError) as info:
        client.get_order(1831)
    message = str(info.value)
    for secret in (API_KEY, BASIC.split()[1], "jdoe@gmail.com", "69960022", "1112223334"):
        assert secret not in message
    assert "[api key]" in message and "[e-mail]" in message and "[phone]" in message
    assert "1831" in message and "2018-07-05" in message  # ids and dates survive


def test_transport_errors(caplog: pytest.LogCaptureFixture) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = make(timeout, retry=RetryPolicy(max_attempts=2, sleep=lambda s: None))
    with pytest.raises(SourceTimeoutError, match="no answer within 30 s"):
        client.get_customer(1)
    assert client.calls == 2
    client, _ = make(refused, retry=RetryPolicy.no_retry())
    with (
        caplog.at_level(logging.DEBUG, logger="syncworker.sources.http_client"),
        pytest.raises(SourceConnectionError, match="ConnectError"),
    ):
        list(client.iter_customers(filters={"email": "secret@example.com"}))
    assert "secret@example.com" not in caplog.text and API_KEY not in caplog.text
    assert "/api/customers page=1" in caplog.text


# --------------------------------------------------------------------------------------
# Retries.


def test_retries_server_errors_then_succeeds() -> None:
    answers = iter(
        [spec_error(500, "Undefined index: distance"), text(502, "<html/>", "text/html")]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or text(200, CUSTOMER_SINGLE)

    client, harness = make(handler)
    assert client.get_customer(3332).id == 3332
    assert client.calls == 3 and harness.sleeps == [0.25, 0.5]  # full jitter at random=0.5
    assert len(harness.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(status: int) -> None:
    client, harness = make(always(spec_error(status, "No customer found!")))
    with pytest.raises(SourceError):
        client.get_customer(1)
    assert client.calls == 1 and harness.sleeps == []


def test_retries_give_up_after_max_attempts() -> None:
    client, harness = make(always(spec_error(503, "down")))
    with pytest.raises(SourceServerError):
        list(client.iter_invoices())
    assert client.calls == 4 and len(harness.sleeps) == 3


def test_a_retried_page_is_the_same_page() -> None:
    records = [customer(i) for i in range(1, 5)]
    serve = paged(records)
    failures = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "2" and next(failures, False):
            return spec_error(500, "Server Error")
        return serve(request)

    client, harness = make(handler, page_size=2)
    assert [c.id for c in client.iter_customers()] == [1, 2, 3, 4]
    assert harness.params("page") == ["1", "2", "2"]


# --------------------------------------------------------------------------------------
# Record validation.


def test_malformed_records_are_rejected_by_name_not_value() -> None:
    records = [
        customer(1),
        customer(2, email=4242, fullname=...),
        customer(3, mobile=["+30 6912345678"]),
        customer(4, birthdate="31/12/1990"),
        {"fullname": "No Id", "email": "noid@example.com"},
        customer(5, id=True),
        customer(6, companyid="475"),
        customer(7),
    ]
    client, _ = make(always(httpx.Response(200, json=fractal(records, 1, 1, 8, 10))))
    (page,) = client.iter_customer_pages()
    assert [c.id for c in page.items] == [1, 7]
    assert [e.record_id for e in page.rejected] == ["2", "3", "4", None, None, "6"]
    assert all(isinstance(e, RecordValidationError) and e.page == 1 for e in page.rejected)
    two, three, four, no_id, bool_id, six = (str(e) for e in page.rejected)
    assert "record 2 (#2)" in two and "email" in two and "fullname" in two
    assert "mobile" in three and "birthdate" in four and "YYYY-MM-DD" in four
    assert "#5 (no usable id)" in no_id and "#6 (no usable id)" in bool_id and "companyid" in six
    joined = " ".join(map(str, page.rejected))
    for value in ("4242", "6912345678", "31/12/1990", "noid@example.com"):
        assert value not in joined
    assert page.record_ids() == ["1", "7", "2", "3", "4", "6"]


def test_lenient_fields() -> None:
    record = customer(
        1, email="  ", mobile="", postal_code="N1 7GU", birthdate="0000-00-00", vat_number=None
    )
    client, _ = make(always(httpx.Response(200, json={"data": record})))
    person = client.get_customer(1)
    assert (person.email, person.mobile, person.birthdate) == (None, None, None)
    assert person.postal_code == "N1 7GU"
    assert "person" not in repr(Customer.model_validate(customer(9)))  # no e-mail in repr
    assert "6912345678" not in repr(Customer.model_validate(customer(9)))


def test_strict_types_on_orders_and_invoices() -> None:
    order = json.loads(ORDERS_LIST)["data"][0]
    bad_orders = [
        {**order, "id": 2, "total_cost": "55"},
        {**order, "id": 3, "customer": None},
        {**order, "id": 4, "status": 1},
        {**order, "id": 5, "payments": [{"id": 1, "amount": True}]},
        {**order, "id": 6},
    ]
    client, _ = make(always(httpx.Response(200, json={"data": bad_orders})))
    (page,) = client.iter_order_pages()
    assert [o.id for o in page.items] == [6]
    problems = [str(e) for e in page.rejected]
    assert "total_cost" in problems[0] and "customer" in problems[1]
    assert "status" in problems[2] and "payments.0.amount" in problems[3]

    invoice = json.loads(INVOICES_LIST)["data"]
    as_object = {**invoice, "id": 7, "customer": invoice["customer"][0], "invoice_number": None}
    client, _ = make(
        always(httpx.Response(200, json={"data": [as_object, {**invoice, "id": 8, "lines": {}}]}))
    )
    (page,) = client.iter_invoice_pages()
    assert [i.customer_id for i in page.items] == [911]
    assert page.rejected[0].record_id == "8" and "lines" in str(page.rejected[0])


def test_single_record_checks() -> None:
    bad = customer(5, fullname=None)
    client, _ = make(always(httpx.Response(200, json={"data": bad})))
    with pytest.raises(RecordValidationError, match="record 5 rejected: fullname") as info:
        client.get_customer(5)
    assert info.value.record_id == "5"
    client, _ = make(always(text(200, CUSTOMER_SINGLE)))
    with pytest.raises(SourceDataError, match="expected record 1, got 3332"):
        client.get_customer(1)
    client, _ = make(always(httpx.Response(200, json={"data": []})))
    with pytest.raises(SourceNotFoundError):
        client.get_order(1)
    # Several ids in one answer: the asked one is picked.
    client, _ = make(always(httpx.Response(200, json={"data": [customer(4), customer(5)]})))
    assert client.get_customer(5).id == 5
