"""Callers and their data: each caller sees, replays and keys only its own
jobs, and a job past its retention is gone. The same cases run through the
API handler on the fakes and on moto server, with API Gateway events that
carry the IAM identity SigV4 established."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest
from dependency_injector import providers

from chaos.faults import AwsError, FaultInjector
from domain.failures import FailureKind
from entrypoints.api_gateway import CallerScope, local_authorizer
from entrypoints.containers import Container
from entrypoints.lambda_context import LocalContext
from tests.events import JSON, body_of, event, submit
from tests.fakes import FakeClock, OnFakes, send_failure
from tests.integration.conftest import Aws, settings_for

ALICE = "alice-app"
BOB = "bob-app"
THROTTLED = AwsError(400, "RequestThrottled", "RequestThrottled")
# Both backends' default send attempts: this many failures make one 503.
SEND_ATTEMPTS = 4


@attrs.define
class Service:
    """The API handler on one backend, a clock the test moves, and a way to
    make the next sends fail."""

    api: Callable[[dict[str, Any], LocalContext], dict[str, Any]]
    clock: FakeClock
    fail_sends: Callable[[int], None]
    jobs_written: Callable[[], int]

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.api(request, LocalContext(30_000))


@pytest.fixture(params=["fakes", "moto"])
def service(request: pytest.FixtureRequest) -> Service:
    clock = FakeClock(FakeClock().current + timedelta(days=300))
    if request.param == "fakes":
        fakes = OnFakes(clock=clock)
        api = fakes.api(clock=clock)
        return Service(
            api,
            clock,
            lambda n: fakes.queue.fail(*[send_failure(FailureKind.THROTTLED)] * n),
            lambda: fakes.jobs.calls["create"] + fakes.jobs.calls["save"],
        )
    aws: Aws = request.getfixturevalue("aws")
    faults: FaultInjector = request.getfixturevalue("faults")
    container = Container()
    container.settings.override(providers.Object(settings_for(aws, send_base_delay_ms=0, send_max_delay_ms=0)))
    container.ports.clock.override(providers.Object(clock))
    container.ports.sleeper.override(providers.Object(clock))
    faults.attach(container.ports.sqs_client())
    faults.attach(container.ports.dynamodb_client())
    return Service(
        container.jobs_api(),
        clock,
        lambda n: faults.add("SendMessage", *[THROTTLED] * n),
        lambda: faults.calls.get("PutItem", 0),
    )


def read(service: Service, job_id: str, caller: str | None) -> dict[str, Any]:
    return service(event("GET", f"/jobs/{job_id}", caller=caller))


def keyed(key: str, caller: str | None, size: int = 3) -> dict[str, Any]:
    return submit({"size": size}, headers={"Idempotency-Key": key}, caller=caller)


def without_ids(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in ("job_id", "correlation_id")}


def test_a_caller_reads_its_own_job_and_another_gets_the_404_of_a_missing_one(service: Service) -> None:
    job_id = body_of(service(submit(caller=ALICE)))["job_id"]

    mine, theirs = read(service, job_id, ALICE), read(service, job_id, BOB)
    missing = read(service, "00000000-0000-4000-8000-000000000000", BOB)

    assert mine["statusCode"] == 200 and body_of(mine)["job_id"] == job_id
    assert theirs["statusCode"] == missing["statusCode"] == 404
    assert theirs["headers"].keys() == missing["headers"].keys()
    assert without_ids(body_of(theirs)) == without_ids(body_of(missing))


def test_the_same_key_from_two_callers_makes_two_independent_jobs(service: Service) -> None:
    alice = service(keyed("order-1", ALICE, size=1))
    bob = service(keyed("order-1", BOB, size=2))  # another body: no 422, it is not Alice's key

    assert alice["statusCode"] == bob["statusCode"] == 202
    assert body_of(alice)["job_id"] != body_of(bob)["job_id"]
    assert read(service, body_of(bob)["job_id"], ALICE)["statusCode"] == 404


def test_a_key_squatted_by_another_caller_is_still_free_for_its_owner(service: Service) -> None:
    service(keyed("order-7", BOB, size=9))

    first = service(keyed("order-7", ALICE))
    again = service(keyed("order-7", ALICE))

    assert first["statusCode"] == again["statusCode"] == 202
    assert body_of(again)["job_id"] == body_of(first)["job_id"]


def test_a_replay_is_per_caller_and_a_role_is_one_caller_across_sessions(service: Service) -> None:
    first = service(keyed("k", ALICE))
    other_session = event(
        "POST", "/jobs", '{"type": "resize", "payload": {"size": 3}}', {**JSON, "Idempotency-Key": "k"}
    )
    other_session["requestContext"]["identity"] = {
        **event("GET", "/", caller=ALICE)["requestContext"]["identity"],
        "userArn": f"arn:aws:sts::123456789012:assumed-role/{ALICE}/another-session",
    }

    again = service(other_session)

    assert body_of(again)["job_id"] == body_of(first)["job_id"]
    assert service(keyed("k", BOB))["statusCode"] == 202
    assert body_of(service(keyed("k", BOB)))["job_id"] != body_of(first)["job_id"]


def test_the_local_caller_header_is_not_trusted_by_the_handler(service: Service) -> None:
    """The header names a caller only to `make run`'s server, which turns it
    into an authorizer principal; in an event it is an ordinary header."""
    as_alice = local_authorizer("alice")
    mine = submit(caller=None)
    mine["requestContext"].update(as_alice)
    job_id = body_of(service(mine))["job_id"]
    spoofed = event("GET", f"/jobs/{job_id}", headers={"X-Local-Caller": "alice"}, caller=BOB)
    vouched = event("GET", f"/jobs/{job_id}", caller=None)
    vouched["requestContext"].update(as_alice)

    assert service(vouched)["statusCode"] == 200
    assert service(spoofed)["statusCode"] == 404
    # A job submitted with the header is the signer's, whatever it names.
    bobs = body_of(service(submit(headers={"X-Local-Caller": "alice"}, caller=BOB)))["job_id"]
    assert service(event("GET", f"/jobs/{bobs}", caller=BOB))["statusCode"] == 200
    assert service(event("GET", f"/jobs/{bobs}", headers={"X-Local-Caller": "bob"}, caller=None))["statusCode"] == 403


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_request_nothing_authenticated_is_refused_and_writes_nothing(service: Service, method: str) -> None:
    """Behind the stack's API it cannot happen (every method requires IAM
    authorization); a misconfigured method must not pool anonymous callers."""
    request = submit(caller=None) if method == "POST" else event("GET", "/jobs/some-job", caller=None)

    answer = service(request)

    assert answer["statusCode"] == 403
    assert body_of(answer)["type"] == "/problems/no-caller"
    assert service.jobs_written() == 0


def test_an_authorizer_that_names_no_one_is_refused_not_made_a_shared_caller(service: Service) -> None:
    request = submit()
    request["requestContext"]["authorizer"] = {"principalId": ""}

    answer = service(request)

    assert answer["statusCode"] == 403 and body_of(answer)["type"] == "/problems/no-caller"


def test_a_settled_job_past_its_retention_is_gone_and_its_key_starts_a_new_job(service: Service) -> None:
    service.fail_sends(SEND_ATTEMPTS)
    refused = service(keyed("nightly", ALICE))
    assert refused["statusCode"] == 503  # the job is PENDING: settled, so it will expire
    job_id = body_of(refused)["job_id"]

    service.clock.advance(timedelta(days=29).total_seconds())
    assert read(service, job_id, ALICE)["statusCode"] == 200
    service.clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert read(service, job_id, ALICE)["statusCode"] == 404

    again = service(keyed("nightly", ALICE))
    assert again["statusCode"] == 202
    view = body_of(read(service, job_id, ALICE))
    assert view["attempts"] == 1 and "last_error" not in view  # a new job, not the old one resumed


def test_a_job_in_flight_never_expires(service: Service) -> None:
    job_id = body_of(service(keyed("long", ALICE)))["job_id"]  # QUEUED until a worker takes it

    service.clock.advance(timedelta(days=400).total_seconds())

    assert body_of(read(service, job_id, ALICE))["status"] == "QUEUED"
    assert service(keyed("long", ALICE))["statusCode"] == 202
    assert body_of(service(keyed("long", ALICE)))["job_id"] == job_id


def test_with_caller_scope_session_each_session_of_a_role_is_a_caller(aws: Aws) -> None:
    container = Container()
    container.settings.override(providers.Object(settings_for(aws, caller_scope=CallerScope.SESSION)))
    api = container.jobs_api()
    job_id = body_of(api(keyed("k", ALICE), LocalContext(30_000)))["job_id"]
    other_session = event("GET", f"/jobs/{job_id}", caller=ALICE)
    other_session["requestContext"]["identity"]["userArn"] += "-other"

    assert api(event("GET", f"/jobs/{job_id}", caller=ALICE), LocalContext(30_000))["statusCode"] == 200
    assert api(other_session, LocalContext(30_000))["statusCode"] == 404
