"""The Workadu sandbox, over real HTTP: shapes, auth, Accept, filters, sort, paging, control."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from syncworker_sandbox.server import ServerThread
from syncworker_sandbox.workadu import SANDBOX_WORKADU_KEY, RequestRecord, WorkaduSandbox
from syncworker_sandbox.workadu_population import make_customers
from syncworker_sandbox.workadu_store import collate

from syncworker.config import Secret
from syncworker.errors import (
    PaginationLoopError,
    SourceAuthError,
    SourceNotFoundError,
    SourceServerError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.sources.workadu.client import ACCEPT_V2, WorkaduClient
from syncworker.sources.workadu.models import ORDER_STATUSES

CUSTOMER_KEYS = {
    "id", "fullname", "email", "mobile", "country", "city", "address", "postal_code",
    "vat_number", "birthdate", "gender", "title", "social", "comments", "companyid", "media",
}  # fmt: skip
ORDER_KEYS = {
    "id", "reference", "company_id", "status", "customer", "total_cost", "orders", "currency",
    "payments",
}  # fmt: skip
LINE_KEYS = {
    "id", "reference", "service_id", "start", "end", "comment", "status", "total_cost",
    "recource", "extras",
}  # fmt: skip
INVOICE_KEYS = {
    "id", "invoice_number", "series", "user", "customer", "issue_date", "due_date",
    "discount_amount", "vat_amount", "total_amount", "currency", "currency_rate", "lines",
    "status", "tag",
}  # fmt: skip
AUTH_FAILED = (
    "Failed to authenticate because of bad credentials or an invalid authorization header."
)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class WA:
    sandbox: WorkaduSandbox
    url: str
    http: httpx.Client  # authenticated, v2 Accept

    def get(self, path: str, params: Any = None) -> httpx.Response:
        return self.http.get(path, params=params)

    def data(self, path: str, params: Any = None) -> Any:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def error(self, path: str, params: Any = None, status: int = 400) -> str:
        response = self.get(path, params)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["status_code"] == status and set(body) == {"message", "status_code"}
        return str(body["message"])

    def client(self, **kw: Any) -> WorkaduClient:
        kw.setdefault("retry", RetryPolicy(sleep=lambda s: None))
        return WorkaduClient(self.url, Secret(self.sandbox.api_key), **kw)


def _serve(sandbox: WorkaduSandbox) -> Iterator[WA]:
    headers = {"Authorization": basic(sandbox.api_key), "Accept": ACCEPT_V2}
    with (
        ServerThread(sandbox.app) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as http,
    ):
        yield WA(sandbox, server.url, http)


@pytest.fixture
def wa() -> Iterator[WA]:
    yield from _serve(WorkaduSandbox(customers=40, orders=60, invoices=40, seed=7))


@pytest.fixture(scope="module")
def shared() -> Iterator[WA]:
    """Read-only tests share one sandbox."""
    yield from _serve(WorkaduSandbox(seed=3))


# --------------------------------------------------------------------------- population


def test_population_is_deterministic() -> None:
    one, two = WorkaduSandbox(seed=5), WorkaduSandbox(seed=5)
    assert one.customers() == two.customers() and one.orders() == two.orders()
    assert one.invoices() == two.invoices()
    assert WorkaduSandbox(seed=6).customers() != one.customers()
    sizes = WorkaduSandbox(customers=10, orders=7, invoices=3)
    assert (len(sizes.customers()), len(sizes.orders()), len(sizes.invoices())) == (10, 7, 3)


def test_population_has_the_awkward_cases() -> None:
    sandbox = WorkaduSandbox()
    people = sandbox.customers()
    names = " ".join(c["fullname"] for c in people)
    assert any("\u0370" <= ch <= "\u03ff" for ch in names)  # Greek script
    assert "'" in names and any(ch in names for ch in "éèëïöá")
    assert any(c["email"] is None and c["mobile"] for c in people)
    assert any(c["mobile"] is None and c["email"] for c in people)
    assert not any(c["email"] is None and c["mobile"] is None for c in people)
    assert any(isinstance(c["mobile"], int) for c in people)
    assert any(isinstance(c["postal_code"], int) for c in people)
    assert any(c["email"] and c["email"] != c["email"].lower() for c in people)
    assert any(c["birthdate"] is None for c in people)
    emails = [c["email"].lower() for c in people if c["email"]]
    assert len(emails) == len(set(emails))
    ids = [c["id"] for c in people]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    orders = sandbox.orders()
    statuses = {o["status"] for o in orders}
    assert statuses <= set(ORDER_STATUSES) and len(statuses) >= 5
    paid = {
        bool(o["payments"]) and sum(p["amount"] for p in o["payments"]) >= o["total_cost"]
        for o in orders
    }
    assert paid == {True, False}
    assert {o["customer"]["id"] for o in orders} <= set(ids)

    invoices = sandbox.invoices()
    references = {"#" + o["reference"]: o for o in orders}
    tied = [i for i in invoices if i["tag"] in references]
    assert tied and any(i["tag"] is None for i in invoices)
    assert all(i["total_amount"] == references[i["tag"]]["total_cost"] for i in tied)
    assert all(i["customer"][0]["id"] == references[i["tag"]]["customer"]["id"] for i in tied)
    assert {i["status"] for i in invoices} == {"VALID", "DRAFT", "CANCELLED"}


def test_shared_people_are_the_first_customers() -> None:
    shared = [("Jean Dupont", "Jean.Dupont@Acme.com"), ("Siobhán O'Brien", "siobhan@example.ie")]
    people = make_customers(5, 1, shared)
    assert [(c["fullname"], c["email"]) for c in people[:2]] == shared
    assert len(make_customers(1, 1, shared)) == 2  # never fewer than the shared people
    sandbox = WorkaduSandbox(customers=3, shared_people=shared)
    assert sandbox.customers()[0]["email"] == "Jean.Dupont@Acme.com"


# ------------------------------------------------------------------------------- shapes


def test_list_shapes_without_paging_are_the_spec_s(shared: WA) -> None:
    for path, keys, count in (
        ("/api/customers", CUSTOMER_KEYS, 100),
        ("/api/orders/", ORDER_KEYS, 200),
        ("/api/invoices", INVOICE_KEYS, 150),
    ):
        response = shared.get(path)
        assert response.status_code == 200 and set(response.json()) == {"data"}
        data = response.json()["data"]
        assert len(data) == count and all(set(r) == keys for r in data)
    order = shared.data("/api/orders")[0]
    assert set(order["orders"]) == {"order"} and set(order["orders"]["order"]) == LINE_KEYS
    assert set(order["customer"]) == {"id", "fullname", "email"}
    assert isinstance(order["orders"]["order"]["service_id"], str)


def test_by_id_shapes(shared: WA) -> None:
    first, second = (c["id"] for c in shared.sandbox.customers()[:2])
    assert shared.data(f"/api/customers/{first}")["id"] == first  # an object
    both = shared.data(f"/api/customers/{first},{second}")
    assert [c["id"] for c in both] == [first, second]
    order_id = shared.sandbox.orders()[0]["id"]
    assert [o["id"] for o in shared.data(f"/api/orders/{order_id}")] == [order_id]  # a list
    invoice_id = shared.sandbox.invoices()[0]["id"]
    assert shared.data(f"/api/invoices/{invoice_id}")["id"] == invoice_id
    assert [c["id"] for c in shared.data(f"/api/customers/{first},1")] == [first]


def test_by_id_errors_use_the_spec_s_messages(shared: WA) -> None:
    assert shared.error("/api/customers/1") == "No customers could be found."
    assert shared.error("/api/orders/1") == "No orders could be found."
    assert shared.error("/api/invoices/1") == "The invoice is not valid or exist"
    assert shared.error("/api/customers/abc") == "Please provide a customer_id!"
    assert shared.error("/api/orders/1,x") == "You must provide the order ID(s)"
    assert shared.error("/api/invoices/-3") == "You didn't specify a correct invoice ID."
    assert shared.error("/api/nothing", status=404) == "404 Not Found"


# --------------------------------------------------------------------------- auth, Accept


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic("wrong-key"),
        basic(SANDBOX_WORKADU_KEY, "password"),
        f"Bearer {SANDBOX_WORKADU_KEY}",
        "Basic not-base64!",
        "Basic " + base64.b64encode(SANDBOX_WORKADU_KEY.encode()).decode(),  # no colon
    ],
)
def test_auth_failures_are_401(shared: WA, header: str | None) -> None:
    headers = {"Accept": ACCEPT_V2} | ({} if header is None else {"Authorization": header})
    response = httpx.get(f"{shared.url}/api/customers", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": AUTH_FAILED, "status_code": 401}
    assert response.headers["www-authenticate"].startswith("Basic")


def test_client_with_a_wrong_key_gets_an_auth_error(shared: WA) -> None:
    client = WorkaduClient(shared.url, Secret("wk_wrong_key_123456"))
    with pytest.raises(SourceAuthError, match="HTTP 401: Failed to authenticate") as info:
        client.get_customer(3301)
    assert "wk_wrong_key_123456" not in str(info.value) and client.calls == 1


def test_accept_header(shared: WA) -> None:
    auth = {"Authorization": basic(SANDBOX_WORKADU_KEY)}
    for accept in (None, "application/json", "*/*"):
        headers = auth | ({} if accept is None else {"Accept": accept})
        response = httpx.get(f"{shared.url}/api/customers", headers=headers)
        assert response.status_code == 400, accept
        assert "strict matching process" in response.json()["message"]
    v1 = httpx.get(
        f"{shared.url}/api/customers", headers=auth | {"Accept": "application/vnd.rengine.v1+json"}
    )
    assert v1.status_code == 400 and "v2 only" in v1.json()["message"]
    listed = auth | {"Accept": f"text/html, {ACCEPT_V2};q=0.9"}
    assert httpx.get(f"{shared.url}/api/customers", headers=listed).status_code == 200
    # Accept is checked before auth, as dingo/api does.
    assert httpx.get(f"{shared.url}/api/customers").status_code == 400


def test_lenient_accept_serves_v2_by_default() -> None:
    sandbox = WorkaduSandbox(customers=3, orders=1, invoices=1, strict_accept=False)
    with ServerThread(sandbox.app) as server:
        auth = {"Authorization": basic(SANDBOX_WORKADU_KEY)}
        response = httpx.get(f"{server.url}/api/customers", headers=auth)
        assert response.status_code == 200 and len(response.json()["data"]) == 3
        assert sandbox.request_log[0].accept == "*/*"  # httpx's default


# ---------------------------------------------------------------------- filters and sort


def test_customer_filters(shared: WA) -> None:
    people = shared.sandbox.customers()
    target = next(c for c in people if c["email"] and c["email"] != c["email"].lower())
    found = shared.data("/api/customers", {"filter[email]": target["email"].lower()})
    assert [c["id"] for c in found] == [target["id"]]  # case-insensitive, as MySQL
    greeks = shared.data("/api/customers", {"filter[Country]": "GR"})
    assert greeks and {c["country"] for c in greeks} == {"Greece"}
    assert greeks == shared.data("/api/customers", {"filter[country]": "greece"})
    both = shared.data("/api/customers", {"filter[Country]": "GR", "filter[company_id]": "476"})
    assert both and {c["companyid"] for c in both} == {476} and len(both) < len(greeks)
    accented = next(c for c in people if "é" in c["fullname"])
    plain = accented["fullname"].replace("é", "e").upper()
    assert accented["id"] in {
        c["id"] for c in shared.data("/api/customers", {"filter[fullname]": plain})
    }
    assert shared.data("/api/customers", {"filter[email]": "nobody@example.com"}) == []


def test_order_filters_and_operators(shared: WA) -> None:
    orders = shared.sandbox.orders()
    rich = shared.data("/api/orders", {"filter[total_cost][>=]": "500"})
    assert rich and all(o["total_cost"] >= 500 for o in rich)
    assert len(rich) == sum(o["total_cost"] >= 500 for o in orders)
    between = shared.data("/api/orders", {"filter[total_cost][<>]": "50,100"})
    assert between and all(50 <= o["total_cost"] <= 100 for o in between)
    outside = shared.data("/api/orders", {"filter[total_cost][!<>]": "50,100"})
    assert len(between) + len(outside) == len(orders)
    strict_lt = shared.data("/api/orders", {"filter[total_cost][<*]": "55"})
    assert all(o["total_cost"] < 55 for o in strict_lt)
    customer_id = orders[0]["customer"]["id"]
    mine = shared.data("/api/orders", {"filter[customer_id]": str(customer_id)})
    assert mine and {o["customer"]["id"] for o in mine} == {customer_id}
    cancelled = shared.data("/api/orders", {"filter[status]": "CANCELLED"})
    assert {o["status"] for o in cancelled} == {"CANCELLED"}
    paid = shared.data("/api/orders", {"filter[booking_status]": "PAID"})
    assert paid and all(sum(p["amount"] for p in o["payments"]) >= o["total_cost"] for o in paid)
    unpaid = shared.data("/api/orders", {"filter[booking_status]": "not_paid"})
    assert unpaid and all(o["payments"] == [] for o in unpaid)
    march = shared.data(
        "/api/orders",
        {"filter[start_date][>=]": "2025-03-01", "filter[start_date][<=]": "2025-03-31"},
    )
    assert march and all(o["orders"]["order"]["start"]["date"].startswith("2025-03") for o in march)
    reference = orders[5]["reference"]
    assert [
        o["reference"]
        for o in shared.data("/api/orders", {"filter[booking_reference]": reference.lower()})
    ] == [reference]


def test_invoice_parameters(shared: WA) -> None:
    invoices = shared.sandbox.invoices()
    customer_id = invoices[0]["customer"][0]["id"]
    plain = shared.data("/api/invoices", {"customer_id": str(customer_id)})
    assert plain == shared.data("/api/invoices", {"filter[customer_id]": str(customer_id)})
    assert plain and {i["customer"][0]["id"] for i in plain} == {customer_id}
    valid = shared.data("/api/invoices", {"status": "valid"})
    assert valid and {i["status"] for i in valid} == {"VALID"}
    window = shared.data(
        "/api/invoices", {"issue_date_from": "2025-02-01", "issue_date_to": "2025-02-28"}
    )
    assert window and all("2025-02-01" <= i["issue_date"] <= "2025-02-28" for i in window)
    receipts = shared.data("/api/invoices", {"series_id": "2101"})
    assert receipts and {i["series"] for i in receipts} == {"RECEIPT"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter[nope]": "1"}, "The filter nope is not supported."),
        ({"filter[total_cost][=>]": "1"}, "The filter operator => is not supported."),
        ({"filter[total_cost]": "cheap"}, "The filter total_cost needs a number."),
        ({"filter[total_cost][<>]": "10"}, "The filter total_cost needs two values, low,high."),
        ({"filter[]": "1"}, "The filter parameter filter[] is malformed."),
        ({"filter[a][b][c]": "1"}, "The filter parameter filter[a][b][c] is malformed."),
        ({"sort": "colour"}, "The sort key colour is not supported."),
        ({"sort": "id,-total_cost"}, "Only one sort key is supported."),
        ({"page": "0"}, "The page parameter must be a positive integer."),
        ({"per_page": "ten"}, "The per_page parameter must be a positive integer."),
    ],
)
def test_bad_parameters_are_400(shared: WA, params: dict[str, str], message: str) -> None:
    assert shared.error("/api/orders", params) == message


def test_sorting(shared: WA) -> None:
    ids = [o["id"] for o in shared.data("/api/orders")]
    assert ids == sorted(ids)  # the stored order
    ascending = shared.data("/api/orders", {"sort": "total_cost"})
    costs = [o["total_cost"] for o in ascending]
    assert costs == sorted(costs)
    descending = shared.data("/api/orders", {"sort": "-total_cost"})
    assert [o["total_cost"] for o in descending] == sorted(costs, reverse=True)
    ties = [o["id"] for o in ascending if o["total_cost"] == costs[0]]
    assert ties == sorted(ties)  # ties keep id order
    names = [c["fullname"] for c in shared.data("/api/customers", {"sort": "-fullname"})]
    assert len(names) == 100 and names == sorted(names, key=collate, reverse=True)
    births = [c["birthdate"] for c in shared.data("/api/customers", {"sort": "birthdate"})]
    nulls = births.count(None)
    assert nulls and births[:nulls] == [None] * nulls  # NULLs first, as MySQL
    assert births[nulls:] == sorted(births[nulls:])


# ------------------------------------------------------------------------------- paging


def test_paging_with_fractal_metadata(shared: WA) -> None:
    response = shared.get("/api/customers", {"page": "2", "per_page": "30"})
    body = response.json()
    assert set(body) == {"data", "meta"} and len(body["data"]) == 30
    meta = body["meta"]["pagination"]
    assert {k: meta[k] for k in ("total", "count", "per_page", "current_page", "total_pages")} == {
        "total": 100, "count": 30, "per_page": 30, "current_page": 2, "total_pages": 4,
    }  # fmt: skip
    assert "page=1" in meta["links"]["previous"] and "page=3" in meta["links"]["next"]
    one = shared.get("/api/customers", {"per_page": "100"}).json()["meta"]["pagination"]
    assert one["links"] == [] and one["total_pages"] == 1  # PHP's empty array
    capped = shared.get("/api/customers", {"page": "1", "per_page": "1000"}).json()
    assert capped["meta"]["pagination"]["per_page"] == 100
    default = shared.get("/api/customers", {"page": "1"}).json()["meta"]["pagination"]
    assert default["per_page"] == 15
    past = shared.get("/api/customers", {"page": "99", "per_page": "30"}).json()
    assert past["data"] == [] and past["meta"]["pagination"]["current_page"] == 99
    pages = [
        shared.data("/api/customers", {"page": str(n), "per_page": "30"}) for n in (1, 2, 3, 4)
    ]
    assert [c["id"] for page in pages for c in page] == [
        c["id"] for c in shared.sandbox.customers()
    ]
    nothing = shared.get("/api/orders", {"filter[status]": "NONE", "page": "1"}).json()
    assert nothing["data"] == [] and nothing["meta"]["pagination"]["total_pages"] == 1


def test_client_walks_the_sandbox(shared: WA) -> None:
    client = shared.client(page_size=17)
    pages = list(client.iter_customer_pages())
    assert len(pages) == 6 and client.calls == 6 and all(p.paginated for p in pages)
    assert [c.id for p in pages for c in p.items] == [c["id"] for c in shared.sandbox.customers()]
    assert all(not p.rejected for p in pages)
    assert len(list(client.iter_orders())) == 200 and len(list(client.iter_invoices())) == 150
    expensive = list(client.iter_orders(filters={"total_cost": (">*", 300)}, sort="-total_cost"))
    assert expensive and [o.total_cost for o in expensive] == sorted(
        (o["total_cost"] for o in shared.sandbox.orders() if o["total_cost"] > 300), reverse=True
    )
    order = shared.sandbox.orders()[3]
    order["orders"]["order"]["reference"] = str(order["orders"]["order"]["reference"])
    assert client.get_order(order["id"]).model_dump(by_alias=True) == order
    invoice = shared.sandbox.invoices()[3]
    assert client.get_invoice(invoice["id"]).model_dump(by_alias=True) == invoice
    assert list(client.iter_customers(filters={"email": "nobody@example.com"})) == []
    with pytest.raises(SourceNotFoundError, match=r"No customers could be found\."):
        client.get_customer(1)


def test_unpaginated_sandbox_is_one_page() -> None:
    sandbox = WorkaduSandbox(customers=30, orders=5, invoices=5, paginate=False)
    with ServerThread(sandbox.app) as server:
        client = WorkaduClient(server.url, Secret(SANDBOX_WORKADU_KEY), page_size=7)
        pages = list(client.iter_customer_pages())
        assert len(pages) == 1 and not pages[0].paginated and len(pages[0].items) == 30
        assert sandbox.request_log[0].query == {"page": "1", "per_page": "7"}


# ------------------------------------------------------------------------ control surface


def test_control_surface(wa: WA) -> None:
    sandbox = wa.sandbox
    order = sandbox.orders()[0]
    customer_id = order["customer"]["id"]
    sandbox.update_customer(customer_id, fullname="Zoë L'Hermite", email="Zoe@Example.fr")
    assert wa.data(f"/api/customers/{customer_id}")["fullname"] == "Zoë L'Hermite"
    served = wa.data(f"/api/orders/{order['id']}")[0]["customer"]
    assert served == {"id": customer_id, "fullname": "Zoë L'Hermite", "email": "Zoe@Example.fr"}
    sandbox.update_order(order["id"], status="CANCELLED", total_cost=12.5)
    assert sandbox.get_order(order["id"])["status"] == "CANCELLED"
    with pytest.raises(ValueError, match="unknown customers field"):
        sandbox.update_customer(customer_id, first_name="x")
    with pytest.raises(ValueError, match="cannot change the id"):
        sandbox.update_customer(customer_id, id=1)
    with pytest.raises(KeyError):
        sandbox.update_order(1, status="PAID")

    new_id = sandbox.add_customer(fullname="Ναταλία Δ'Αγγέλου", email=None, mobile="+30 6900000000")
    assert new_id == max(c["id"] for c in sandbox.customers())
    assert wa.data(f"/api/customers/{new_id}")["companyid"] == 475
    order_id = sandbox.add_order(new_id, status="PRE_ASSIGNED")
    added = wa.data("/api/orders", {"filter[customer_id]": str(new_id)})
    assert [(o["id"], o["status"]) for o in added] == [(order_id, "PRE_ASSIGNED")]
    invoice_id = sandbox.add_invoice(new_id, status="DRAFT", invoice_number=None)
    assert wa.data("/api/invoices", {"customer_id": str(new_id)})[0]["id"] == invoice_id
    with pytest.raises(ValueError, match="fullname"):
        sandbox.add_customer(email="x@example.com")

    sandbox.remove_customer(new_id)
    assert wa.error(f"/api/customers/{new_id}") == "No customers could be found."
    kept = wa.data(f"/api/orders/{order_id}")[0]["customer"]  # last known customer data
    assert kept["fullname"] == "Ναταλία Δ'Αγγέλου"
    sandbox.remove_order(order_id)
    sandbox.remove_invoice(invoice_id)
    assert wa.error(f"/api/invoices/{invoice_id}") == "The invoice is not valid or exist"
    copy = sandbox.customers()
    copy[0]["fullname"] = "changed"
    assert sandbox.customers()[0]["fullname"] != "changed"  # copies, not the store


def test_corrupted_record_is_rejected_by_the_client(wa: WA) -> None:
    people = wa.sandbox.customers()
    wa.sandbox.update_customer(people[3]["id"], email=4242)
    wa.sandbox.update_customer(people[5]["id"], fullname=None)
    pages = list(wa.client(page_size=100).iter_customer_pages())
    assert sum(len(p.items) for p in pages) == len(people) - 2
    rejected = [e for p in pages for e in p.rejected]
    assert [e.record_id for e in rejected] == [str(people[3]["id"]), str(people[5]["id"])]
    assert "email" in str(rejected[0]) and "4242" not in str(rejected[0])


def test_request_log(wa: WA) -> None:
    wa.sandbox.clear_log()
    wa.get("/api/customers", {"filter[email]": "a@b.c", "page": "1"})
    wa.get("/api/orders/1")
    httpx.get(f"{wa.url}/api/invoices")
    log = wa.sandbox.request_log
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/api/customers", 200),
        ("GET", "/api/orders/1", 400),
        ("GET", "/api/invoices", 400),
    ]
    assert isinstance(log[0], RequestRecord) and log[0].query == {
        "filter[email]": "a@b.c",
        "page": "1",
    }
    assert log[0].accept == ACCEPT_V2 and log[2].accept is not None and log[2].accept != ACCEPT_V2
    assert wa.sandbox.count() == 3 and wa.sandbox.count("get", "/api/orders/1") == 1


def test_faults_and_client_retries(wa: WA) -> None:
    wa.sandbox.set_fault(fail_next=2, status=500)
    assert wa.error("/api/customers", status=500) == "Server Error"
    response = wa.get("/api/customers")
    assert response.status_code == 500
    assert wa.get("/api/customers").status_code == 200

    wa.sandbox.set_fault(fail_next=2, status=503)
    client = wa.client()
    assert len(list(client.iter_orders())) == 60 and client.calls == 3  # two 503s, retried

    wa.sandbox.set_fault(fail_next=5, status=502)
    client = wa.client(retry=RetryPolicy(max_attempts=3, sleep=lambda s: None))
    with pytest.raises(SourceServerError, match="HTTP 502"):
        client.get_customer(wa.sandbox.customers()[0]["id"])
    assert client.calls == 3
    wa.sandbox.set_fault()
    assert wa.get("/api/customers").status_code == 200

    with pytest.raises(ValueError):
        wa.sandbox.set_fault(status=200)
    with pytest.raises(ValueError):
        wa.sandbox.set_fault(error_rate=2)


def test_error_rate_is_seeded(wa: WA) -> None:
    outcomes = []
    for _ in range(2):
        wa.sandbox.set_fault(error_rate=0.5, seed=9)
        outcomes.append([wa.get("/api/invoices").status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1] and {200, 500} == set(outcomes[0])


def test_timeout_fault_becomes_a_client_timeout(wa: WA) -> None:
    wa.sandbox.set_fault(fail_next=1, timeout_seconds=2.0)
    client = wa.client(timeout=0.2, retry=RetryPolicy.no_retry())
    with pytest.raises(SourceTimeoutError):
        client.get_customer(wa.sandbox.customers()[0]["id"])
    assert wa.get("/api/customers").status_code == 200  # the plan is spent


def test_a_list_cut_at_the_page_size_without_metadata_is_walked_to_its_end() -> None:
    """Issue 19: a list coming back exactly at the page size asked for, with no
    pagination metadata, is followed by the next page instead of being taken whole."""
    sandbox = WorkaduSandbox(customers=30, orders=5, invoices=5, page_meta=False)
    ids = [c["id"] for c in sandbox.customers()]
    with ServerThread(sandbox.app) as server:
        client = WorkaduClient(server.url, Secret(SANDBOX_WORKADU_KEY), page_size=10)
        pages = list(client.iter_customer_pages())
        # 30 = 10 + 10 + 10: the third full page is followed by an empty fourth.
        assert [(p.page, len(p.items), p.paginated) for p in pages] == [
            (1, 10, False), (2, 10, False), (3, 10, False), (4, 0, False),
        ]  # fmt: skip
        assert [c.id for p in pages for c in p.items] == ids
        assert [r.query["page"] for r in sandbox.request_log] == ["1", "2", "3", "4"]
        sandbox.clear_log()
        client = WorkaduClient(server.url, Secret(SANDBOX_WORKADU_KEY), page_size=12)
        assert [c.id for c in client.iter_customers()] == ids  # 12 + 12 + 6: three calls
        assert [r.query["page"] for r in sandbox.request_log] == ["1", "2", "3"]
        sandbox.clear_log()
        client = WorkaduClient(server.url, Secret(SANDBOX_WORKADU_KEY), page_size=31)
        assert [c.id for c in client.iter_customers()] == ids  # short at once: one call
        assert len(sandbox.request_log) == 1


def test_a_server_ignoring_page_but_not_per_page_is_an_error_not_a_short_list() -> None:
    served = WorkaduSandbox(customers=30, orders=5, invoices=5).customers()

    def first_page_only(request: httpx.Request) -> httpx.Response:
        per_page = int(request.url.params["per_page"])
        return httpx.Response(200, json={"data": served[:per_page]})

    client = WorkaduClient(
        "http://127.0.0.1:9",
        Secret(SANDBOX_WORKADU_KEY),
        page_size=10,
        transport=httpx.MockTransport(first_page_only),
    )
    with pytest.raises(PaginationLoopError, match=r"page 2.*cannot be read whole"):
        list(client.iter_customers())
    assert client.calls == 3  # page 1, page 2 (the same), page 1 with 11 (11 records)


def test_a_whole_list_exactly_at_the_page_size_is_read_once_more_then_trusted() -> None:
    """A server ignoring both page and per_page, with a list exactly page-size long:
    page 2 repeats page 1, and page 1 asked with one more per page is the same, so
    the list is whole (no error, no record twice)."""
    sandbox = WorkaduSandbox(customers=30, orders=5, invoices=5, paginate=False)
    with ServerThread(sandbox.app) as server:
        client = WorkaduClient(server.url, Secret(SANDBOX_WORKADU_KEY), page_size=30)
        ids = [c.id for c in client.iter_customers()]
        assert ids == [c["id"] for c in sandbox.customers()]
        assert [(r.query["page"], r.query["per_page"]) for r in sandbox.request_log] == [
            ("1", "30"), ("2", "30"), ("1", "31"),
        ]  # fmt: skip


def test_payments_list_in_the_spec_s_shape_with_its_parameters(wa: WA) -> None:
    payments = wa.data("/api/payments")
    assert payments == wa.sandbox.payments() and len(payments) > 0
    spec_keys = {"issue_date", "customer_id", "series", "transaction_num,", "amount", "currency"}
    assert all(set(p) == spec_keys | {"comments", "order_id"} for p in payments)
    assert any(p["order_id"] is None for p in payments)  # general and invoice payments
    assert any(p["order_id"] is not None for p in payments)  # the orders' payments
    who = payments[0]["customer_id"]
    mine = wa.data("/api/payments", {"customer_id": str(who)})
    assert mine and all(p["customer_id"] == who for p in mine)
    assert mine == [p for p in payments if p["customer_id"] == who]
    cash = wa.data("/api/payments", {"series_id": "122"})
    assert cash and {p["series"] for p in cash} == {"Cash"}
    late = wa.data("/api/payments", {"issue_date_from": "2025-03-01"})
    assert late and all(p["issue_date"] >= "2025-03-01" for p in late)
    assert wa.error("/api/payments/1", status=404) == "404 Not Found"  # no payment ids

    order = next(o for o in wa.sandbox.orders() if o["payments"])
    owner = order["customer"]["id"]
    number = wa.sandbox.add_payment(owner, 12.5, order_id=order["id"])
    assert wa.sandbox.get_order(order["id"])["payments"][-1]["amount"] == 12.5
    client = wa.client(page_size=7)
    listed = list(client.iter_payments(customer_id=owner))
    assert [(p.transaction_num, p.amount, p.order_id) for p in listed] == [
        (str(p["transaction_num,"]), p["amount"], p["order_id"]) for p in wa.sandbox.payments(owner)
    ]
    assert (str(number), 12.5, order["id"]) in [
        (p.transaction_num, p.amount, p.order_id) for p in listed
    ]
    assert sum(len(p.items) for p in client.iter_payment_pages()) == len(payments) + 1
