"""Who a request is from, and the job ids their keys name."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import pytest

from adapters.runtime import UuidIds
from entrypoints.api_gateway import CallerScope, caller_of

ROLE = "arn:aws:sts::123456789012:assumed-role/orders-api"
ROLE_SESSION = f"{ROLE}/i-0abc"
SECRET = "s" * 32


@pytest.mark.parametrize(
    ("context", "caller"),
    [
        ({"identity": {"userArn": ROLE_SESSION}}, ROLE),
        ({"identity": {"userArn": "arn:aws:iam::123456789012:user/ci"}}, "arn:aws:iam::123456789012:user/ci"),
        ({"identity": {"userArn": "arn:aws:iam::123456789012:root"}}, "arn:aws:iam::123456789012:root"),
        ({"identity": {"userArn": None, "sourceIp": "192.0.2.1"}}, None),
        ({}, None),
        ({"authorizer": {"principalId": "user|42"}, "identity": {"userArn": ROLE_SESSION}}, "authorizer:user|42"),
        ({"authorizer": {"claims": {"sub": "7d8f-11", "iss": "https://cognito"}}}, "cognito:7d8f-11"),
        ({"authorizer": None, "identity": None}, None),
        # As API Gateway fills it for an IAM-authorized method (Powertools' sample event).
        ({"authorizer": {"claims": None, "scopes": None}, "identity": {"userArn": ROLE_SESSION}}, ROLE),
        (
            {"identity": {"cognitoIdentityId": "us-east-1:6f1c", "userArn": f"{ROLE}/CognitoIdentityCredentials"}},
            "cognito-identity:us-east-1:6f1c",
        ),
        ({"authorizer": {"principalId": ""}, "identity": {"userArn": ROLE_SESSION}}, None),
        ({"authorizer": {"principalId": None}}, None),
        ({"authorizer": {"claims": {"iss": "https://cognito"}}}, None),
    ],
    ids=[
        "assumed role",
        "iam user",
        "root",
        "unsigned",
        "no context",
        "lambda authorizer",
        "cognito",
        "nulls",
        "iam with empty authorizer",
        "identity pool",
        "authorizer naming no one",
        "authorizer naming null",
        "claims without a subject",
    ],
)
def test_the_caller_is_what_api_gateway_vouches_for(context: dict[str, Any], caller: str | None) -> None:
    assert caller_of(context) == caller


def test_a_keyed_id_is_the_same_for_the_same_caller_and_key_only() -> None:
    ids = UuidIds(SECRET)
    mine = ids.job_id_for_key("alice", "order-1")

    assert ids.job_id_for_key("alice", "order-1") == mine
    assert len({mine, ids.job_id_for_key("bob", "order-1"), ids.job_id_for_key("alice", "order-2")}) == 3
    # The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    assert ids.job_id_for_key("ab", "c") != ids.job_id_for_key("a", "bc")


def test_a_keyed_id_cannot_be_computed_without_the_deployments_secret() -> None:
    mine = UuidIds(SECRET).job_id_for_key("alice", "order-1")

    assert UuidIds("t" * 32).job_id_for_key("alice", "order-1") != mine
    assert mine not in {str(uuid.uuid5(uuid.NAMESPACE_URL, "order-1")), str(uuid.uuid5(uuid.NAMESPACE_DNS, "order-1"))}
    assert uuid.UUID(mine).version == 8 and uuid.UUID(mine).variant == uuid.RFC_4122


def test_a_keyed_id_is_the_documented_hmac_so_no_change_re_keys_stored_jobs() -> None:
    """Pinned: a change to the derivation would give every key of every
    deployment a new job id, and a retry across it a second job. The
    expectation is built from the design's words (HMAC-SHA256 of
    ``len(caller):caller`` then the key; its first 16 bytes with RFC 9562's
    version 8 and variant bits), not from the code."""

    def by_the_design(caller: str, key: str) -> str:
        digest = hmac.new(SECRET.encode(), f"{len(caller)}:{caller}{key}".encode(), hashlib.sha256).digest()
        raw = bytearray(digest[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80
        raw[8] = (raw[8] & 0x3F) | 0x80
        return str(uuid.UUID(bytes=bytes(raw)))

    ids = UuidIds(SECRET)
    # Enough pairs that every bit the layout sets or clears starts both ways in some digest.
    for n in range(64):
        caller = f"arn:aws:iam::123456789012:role/orders-{n}"
        assert ids.job_id_for_key(caller, f"order-{n}") == by_the_design(caller, f"order-{n}")
    assert ids.job_id_for_key("alice", "order-1") == "4055105f-f8d1-8f5a-813f-5a7d572220bb"


SSO_ROLE = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUser_0a1b2c3d4e5f6789"


def identity_center(user: str) -> dict[str, Any]:
    """``requestContext.identity`` of a request signed with IAM Identity
    Center credentials: the permission set's role, the user's name as the session."""
    return {
        "identity": {
            "accountId": "123456789012",
            "caller": f"AROAEXAMPLESSO:{user}",
            "user": f"AROAEXAMPLESSO:{user}",
            "userArn": f"{SSO_ROLE}/{user}",
            "accessKey": "ASIAEXAMPLE",
            "sourceIp": "192.0.2.1",
            "cognitoIdentityId": None,
        }
    }


@pytest.mark.parametrize(
    ("scope", "alice", "service"),
    [
        (CallerScope.AUTO, f"{SSO_ROLE}/alice@example.com", ROLE),
        (CallerScope.ROLE, SSO_ROLE, ROLE),
        (CallerScope.SESSION, f"{SSO_ROLE}/alice@example.com", ROLE_SESSION),
    ],
)
def test_the_sessions_of_a_role_are_callers_as_the_scope_says(scope: CallerScope, alice: str, service: str) -> None:
    """By default the people of an Identity Center permission set are each
    a caller, and the sessions of a service's role are one."""
    assert caller_of(identity_center("alice@example.com"), scope) == alice
    assert caller_of({"identity": {"userArn": ROLE_SESSION}}, scope) == service
    bob = caller_of(identity_center("bob@example.com"), scope)
    assert (bob == alice) is (scope is CallerScope.ROLE)


def test_job_enqueue_and_claim_ids_are_random_uuids_never_repeated() -> None:
    ids = UuidIds(SECRET)
    made = [make() for make in (ids.new_job_id, ids.new_enqueue_id, ids.new_claim_id) for _ in range(50)]

    assert len(set(made)) == len(made)
    assert all(uuid.UUID(value).version == 4 for value in made)
