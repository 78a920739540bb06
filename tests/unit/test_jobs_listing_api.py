"""GET /jobs, POST /jobs/{id}/cancel and POST /jobs/{id}/retry through the
API handler, on fakes: what each answers, and the cursor's seal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from entrypoints.cursors import Cursors
from entrypoints.jobs_api import JobsApi
from entrypoints.lambda_context import LocalContext
from tests.events import body_of, event, submit
from tests.fakes import OnFakes
from tests.faults import Fault


@pytest.fixture
def fakes() -> OnFakes:
    return OnFakes()


@pytest.fixture
def api(fakes: OnFakes) -> JobsApi:
    return fakes.api()


def call(api: JobsApi, request: dict[str, Any]) -> dict[str, Any]:
    return api(request, LocalContext(30_000))


def post_jobs(api: JobsApi, fakes: OnFakes, n: int, caller: str) -> list[str]:
    ids = []
    for i in range(n):
        fakes.clock.advance(1)
        ids.append(body_of(call(api, submit({"i": i}, caller=caller)))["job_id"])
    return ids


def listing(api: JobsApi, caller: str, **query: str) -> dict[str, Any]:
    return call(api, event("GET", "/jobs", caller=caller, query=query or None))


def test_each_caller_lists_only_its_own_jobs_newest_first_page_by_page(api: JobsApi, fakes: OnFakes) -> None:
    alice = post_jobs(api, fakes, 5, "alice")
    post_jobs(api, fakes, 2, "bob")

    seen: list[str] = []
    query = {"limit": "2"}
    while True:
        response = listing(api, "alice", **query)
        assert response["statusCode"] == 200
        page = body_of(response)
        seen += [job["job_id"] for job in page["jobs"]]
        assert all(set(job) >= {"job_id", "status", "type", "created_at"} for job in page["jobs"])
        if "next" not in page:
            break
        link = urlsplit(page["next"])
        assert link.path == "/jobs"
        query = {name: values[0] for name, values in parse_qs(link.query).items()}

    assert seen == list(reversed(alice))


def test_the_status_filter_lists_only_that_status(api: JobsApi, fakes: OnFakes) -> None:
    ids = post_jobs(api, fakes, 3, "alice")
    assert call(api, event("POST", f"/jobs/{ids[1]}/cancel", caller="alice"))["statusCode"] == 200

    page = body_of(listing(api, "alice", status="CANCELLED"))

    assert [job["job_id"] for job in page["jobs"]] == [ids[1]] and page["jobs"][0]["status"] == "CANCELLED"


def cursor_of(api: JobsApi, fakes: OnFakes, caller: str, **query: str) -> str:
    post_jobs(api, fakes, 3, caller)
    link: str = body_of(listing(api, caller, limit="1", **query))["next"]
    return parse_qs(urlsplit(link).query)["cursor"][0]


@pytest.mark.parametrize("case", ["another caller", "another filter", "changed", "made up", "another key"])
def test_a_cursor_opens_only_for_the_caller_and_filter_it_was_made_for(api: JobsApi, fakes: OnFakes, case: str) -> None:
    cursor = cursor_of(api, fakes, "alice")
    caller, query = "alice", {"cursor": cursor}
    if case == "another caller":
        post_jobs(api, fakes, 2, "mallory")
        caller = "mallory"
    elif case == "another filter":
        query["status"] = "QUEUED"
    elif case == "changed":
        query["cursor"] = ("A" if cursor[0] != "A" else "B") + cursor[1:]
    elif case == "made up":
        query["cursor"] = "eyJqb2IiOiJ4In0"
    else:
        elsewhere = Cursors(["another deployment's key"])
        from datetime import UTC, datetime

        query["cursor"] = elsewhere.seal((datetime(2026, 1, 1, tzinfo=UTC), "job"), "alice", None)

    response = listing(api, caller, **query)

    assert response["statusCode"] == 400 and body_of(response)["type"] == "/problems/invalid-cursor"


def test_a_cursor_sealed_with_either_key_of_a_rotation_opens(fakes: OnFakes) -> None:
    old = fakes.api(cursors=Cursors(["old key"]))
    cursor = cursor_of(old, fakes, "alice")
    rotated = fakes.api(cursors=Cursors(["new key", "old key"]))

    assert listing(rotated, "alice", limit="1", cursor=cursor)["statusCode"] == 200
    assert listing(fakes.api(cursors=Cursors(["new key"])), "alice", cursor=cursor)["statusCode"] == 400


@pytest.mark.parametrize(
    "query",
    [
        {"status": "DONE"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "\uff12"},
        {"limit": "x"},
        {"limit": "9" * 5000},
        {"page": "2"},
    ],
)
def test_a_bad_query_is_400(api: JobsApi, query: dict[str, str]) -> None:
    response = listing(api, "alice", **query)
    assert response["statusCode"] == 400 and body_of(response)["type"] == "/problems/invalid-query"


def test_a_store_that_fails_the_list_is_503_with_retry_after(api: JobsApi, fakes: OnFakes) -> None:
    fakes.jobs.fail("list_owned", Fault.THROTTLED)

    response = listing(api, "alice")

    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"


def test_cancel_answers_the_job_and_a_second_cancel_answers_it_again(api: JobsApi, fakes: OnFakes) -> None:
    (job_id,) = post_jobs(api, fakes, 1, "alice")

    first = call(api, event("POST", f"/jobs/{job_id}/cancel", caller="alice"))
    again = call(api, event("POST", f"/jobs/{job_id}/cancel", caller="alice"))

    assert first["statusCode"] == again["statusCode"] == 200
    assert body_of(first)["status"] == "CANCELLED" and body_of(again) == body_of(first)
    assert call(api, event("POST", f"/jobs/{job_id}/cancel", caller="bob"))["statusCode"] == 404


def test_retry_of_a_cancelled_job_is_202_and_of_a_queued_one_409_naming_its_status(
    api: JobsApi, fakes: OnFakes
) -> None:
    cancelled, queued = post_jobs(api, fakes, 2, "alice")
    call(api, event("POST", f"/jobs/{cancelled}/cancel", caller="alice"))

    rerun = call(api, event("POST", f"/jobs/{cancelled}/retry", caller="alice"))
    refused = call(api, event("POST", f"/jobs/{queued}/retry", caller="alice"))

    assert rerun["statusCode"] == 202 and body_of(rerun) == {
        "job_id": cancelled,
        "status": "QUEUED",
        "correlation_id": "apigw-request-1",
    }
    assert rerun["headers"]["Location"] == f"/jobs/{cancelled}"
    assert refused["statusCode"] == 409
    assert body_of(refused)["job_status"] == "QUEUED" and body_of(refused)["type"] == "/problems/job-state-conflict"


def test_an_overlong_id_is_not_found_for_cancel_and_retry_without_a_store_call(api: JobsApi, fakes: OnFakes) -> None:
    long_id = "x" * 300
    for action in ("cancel", "retry"):
        assert call(api, event("POST", f"/jobs/{long_id}/{action}", caller="alice"))["statusCode"] == 404
    assert fakes.jobs.calls["get"] == 0
