"""Bad input from Workways: a clear error naming the page or record, the rest synced."""

from __future__ import annotations

import pytest

from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from tests.checks import assert_converged, hubspot_by_key
from tests.conftest import Wired

PAGE_SIZE, BAD_PAGE = 20, 3  # 120 users: 6 pages


@pytest.fixture
def paged(wired: Wired) -> Wired:
    wired.run(WORKWAYS_ORGANIZATIONS)
    wired.workways.page_size = PAGE_SIZE
    return wired


def users_on_page(wired: Wired, page: int) -> list[str]:
    ids = sorted(u["_id"] for u in wired.boxes.workways.users())
    return ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("malformed-json", "not JSON"),
        ("html-200", "text/html"),
        ("items-not-list", "items"),
    ],
)
def test_unreadable_page_is_named_and_skipped(paged: Wired, kind: str, named: str) -> None:
    paged.boxes.workways.corrupt_page("user-info", BAD_PAGE, kind)
    result = paged.run(WORKWAYS_USERS)
    assert result.status == "finished_with_failures"
    (failure,) = paged.store.failures.rows()
    assert failure.source_id == f"page-{BAD_PAGE}" and failure.stage == "source"
    assert "Workways GET /api/user-info page 3" in failure.last_error
    assert named in failure.last_error
    in_hubspot = set(hubspot_by_key(paged.boxes, "contacts", "workways_user_id"))
    skipped = set(users_on_page(paged, BAD_PAGE))
    assert in_hubspot == {u["_id"] for u in paged.boxes.workways.users()} - skipped
    assert paged.store.load(WORKWAYS_USERS.name, skipped) == {}
    assert result.counts["archived"] == sum(  # nothing flagged for vanishing: pass incomplete
        u["isUserArchived"] for u in paged.boxes.workways.users() if u["_id"] not in skipped
    )
    paged.run(WORKWAYS_USERS)  # the page reads fine again
    assert_converged(paged.boxes, paged.store)


@pytest.mark.parametrize("kind", ["missing-id", "wrong-type"])
def test_malformed_record_fails_alone(paged: Wired, kind: str) -> None:
    paged.boxes.workways.corrupt_page("user-info", BAD_PAGE, kind)
    broken = users_on_page(paged, BAD_PAGE)[PAGE_SIZE // 2]
    result = paged.run(WORKWAYS_USERS)
    assert result.counts["failed"] == 1
    (failure,) = paged.store.failures.rows()
    assert failure.stage == "source"
    expected_key = f"page-{BAD_PAGE}" if kind == "missing-id" else broken
    assert failure.source_id == expected_key
    in_hubspot = set(hubspot_by_key(paged.boxes, "contacts", "workways_user_id"))
    assert in_hubspot == {u["_id"] for u in paged.boxes.workways.users()} - {broken}
    assert paged.store.load(WORKWAYS_USERS.name, [broken]) == {}
    for user in paged.boxes.workways.users():  # the bad value is not in the message
        assert user["email"].strip().lower() not in failure.last_error.lower()
    paged.run(WORKWAYS_USERS)
    assert_converged(paged.boxes, paged.store)


def test_retcode_error_with_status_200_is_retried(
    paged: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    """``retcode: -1`` "Internal server error" under a 200 is a server error: retried."""
    paged.boxes.workways.corrupt_page("user-info", BAD_PAGE, "retcode-error-200")
    result = paged.run(WORKWAYS_USERS)
    assert result.status == "succeeded"
    assert "Workways GET /api/user-info page 3" in caplog.text
    assert "Internal server error" in caplog.text
    assert_converged(paged.boxes, paged.store)
