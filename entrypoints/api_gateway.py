"""API Gateway REST proxy events (payload 1.0) in and out.

Parsing is strict and happens before anything is written: a request that
can never succeed is answered 4xx here, with nothing stored or sent.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import attrs

from domain.submission import HEADER_TOKEN, InvalidSubmission, Submission

PROBLEM_JSON = "application/problem+json"
SUBMISSION_FIELDS = {"type", "payload"}


class BadRequest(Exception):
    """A 4xx answer decided while reading the request."""

    def __init__(self, status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}


# Whom `make run`'s server vouches for when a request names no one
# (X-Local-Caller unset). It stands in for an authorizer; this handler
# never names a caller itself, so an event nothing vouches for is refused.
LOCAL_CALLER = "local"


def local_authorizer(caller: str = LOCAL_CALLER) -> dict[str, Any]:
    """What the local server adds to a request's context for ``caller``: a
    Lambda authorizer's principal, as API Gateway passes one on."""
    return {"authorizer": {"principalId": caller}}


class CallerScope(enum.StrEnum):
    """How finely the sessions of one assumed role are told apart (CALLER_SCOPE)."""

    # One caller per role; per session for IAM Identity Center's permission
    # set roles (AWSReservedSSO_*), whose sessions are people: everyone with
    # a permission set signs as its one role, under their own user name.
    AUTO = "auto"
    # One caller per role, Identity Center's too (a team sharing its jobs).
    ROLE = "role"
    # One caller per role session, for every role: only as separate as the
    # role's trust policy keeps the session names its assumers choose.
    SESSION = "session"


IDENTITY_CENTER_ROLE = "AWSReservedSSO_"


# The API's resources, as API Gateway names them in ``resource``.
JOBS = "/jobs"
JOB = "/jobs/{job_id}"
JOB_CANCEL = "/jobs/{job_id}/cancel"
JOB_RETRY = "/jobs/{job_id}/retry"
_OF_A_JOB = {JOB, JOB_CANCEL, JOB_RETRY}
_ACTIONS = {None: JOB, "cancel": JOB_CANCEL, "retry": JOB_RETRY}
# For events that name no resource of this API (the local server's
# requests before it matched one, a test harness): the path, with one
# trailing slash allowed as API Gateway allows it.
_PATH = re.compile(r"/jobs(?:/(?P<job_id>[^/]+)(?:/(?P<action>cancel|retry))?)?/?")
_SUFFIX = re.compile(r"/jobs(?:/[^/]+(?:/(?:cancel|retry))?)?/?$")


@attrs.frozen
class HttpRequest:
    method: str
    path: str
    # One of the resources above, or None when the request is for no resource of this API.
    resource: str | None
    job_id: str | None
    query: dict[str, str]
    # What the client's URL has before the resource: the stage on the
    # execute-api endpoint ("/v1"), a custom domain's base path, or nothing.
    base: str
    headers: dict[str, str]  # names lower-cased
    body: bytes | None
    request_id: str | None
    caller: str | None

    @classmethod
    def from_event(cls, event: Any, scope: CallerScope = CallerScope.AUTO) -> HttpRequest:
        if not isinstance(event, dict) or not event.get("httpMethod") or not event.get("path"):
            raise BadRequest(400, "malformed-event", "Bad request", "the event is not an API Gateway request")
        raw_headers = event.get("headers") or {}
        headers = {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
        context = event.get("requestContext") or {}
        request_id = context.get("requestId") if isinstance(context, dict) else None
        resource, job_id = route_of(event)
        raw_query = event.get("queryStringParameters") or {}
        return cls(
            # Methods are case-sensitive: "get" is not GET (a 405).
            method=str(event.get("httpMethod") or ""),
            path=str(event.get("path") or ""),
            resource=resource,
            job_id=job_id,
            query={str(k): str(v) for k, v in raw_query.items()} if isinstance(raw_query, dict) else {},
            base=base_of(event),
            headers=headers,
            body=_body_bytes(event.get("body"), event.get("isBase64Encoded")),
            request_id=str(request_id) if request_id else None,
            caller=caller_of(context if isinstance(context, dict) else {}, scope),
        )

    def correlation_id(self) -> str:
        """The X-Correlation-Id given (printable ASCII, else 400), or API
        Gateway's request id, or a new one."""
        given = self.headers.get("x-correlation-id")
        if given is not None:
            if not HEADER_TOKEN.fullmatch(given):
                raise BadRequest(
                    400,
                    "invalid-correlation-id",
                    "Bad request",
                    "X-Correlation-Id must be 1 to 255 printable ASCII characters",
                )
            return given
        return self.request_id or str(uuid.uuid4())

    def submission(self, caller: str, correlation_id: str, max_bytes: int) -> Submission:
        """The job this request submits, or the 4xx that says why there is
        none: every check a submission meets, in one place, before anything
        is written."""
        document = self.json_object(max_bytes)
        unexpected = sorted(set(document) - SUBMISSION_FIELDS)
        if unexpected or "type" not in document or "payload" not in document:
            detail = f"unexpected fields: {', '.join(unexpected)}" if unexpected else "type and payload are required"
            raise BadRequest(400, "invalid-job", "Bad request", detail)
        if not isinstance(document["type"], str):
            raise BadRequest(400, "invalid-job", "Bad request", "type must be a string")
        try:
            submission = Submission(
                job_type=document["type"],
                payload=document["payload"],
                correlation_id=correlation_id,
                caller=caller,
                idempotency_key=self.headers.get("idempotency-key"),
            )
            submission.check_fits_in_a_message()
        except InvalidSubmission as exc:
            if exc.too_large:
                raise BadRequest(413, "body-too-large", "Content too large", exc.detail) from None
            raise BadRequest(400, "invalid-job", "Bad request", exc.detail) from None
        return submission

    def json_object(self, max_bytes: int) -> dict[str, Any]:
        """The body as a JSON object, or the 4xx that says why not."""
        media_type = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise BadRequest(
                415, "unsupported-media-type", "Unsupported media type", "the body must be application/json"
            )
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BadRequest(
                415,
                "unsupported-content-encoding",
                "Unsupported media type",
                f"Content-Encoding {encoding[:40]!r} is not supported; send the body uncompressed",
                {"Accept-Encoding": "identity"},
            )
        if not self.body:
            raise BadRequest(400, "missing-body", "Bad request", "the request has no body")
        if len(self.body) > max_bytes:
            raise BadRequest(
                413, "body-too-large", "Content too large", f"the body is {len(self.body)} bytes; at most {max_bytes}"
            )
        try:
            text = self.body.decode("utf-8")
            document = json.loads(text, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadRequest(
                400, "malformed-json", "Bad request", f"the body is not valid JSON: {_reason(exc)}"
            ) from None
        if not isinstance(document, dict):
            raise BadRequest(400, "invalid-job", "Bad request", "the body must be a JSON object")
        return document


def proxy_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    request_id: str,
    stage: str,
    base64_encoded: bool = False,
    vouched: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway hands this API's Lambda: for the local server,
    the tests and the chaos run. Bytes that are not UTF-8 text arrive
    base64-encoded, as API Gateway sends a binary body. ``vouched`` is
    what API Gateway adds to the request context once it has authenticated
    the caller (``identity``, ``authorizer``)."""
    if isinstance(body, bytes):
        raw = body
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body, base64_encoded = base64.b64encode(raw).decode(), True
    matched = _PATH.fullmatch(path)
    # API Gateway hands path parameters decoded.
    job_id = unquote(matched["job_id"]) if matched and matched["job_id"] else None
    return {
        # As API Gateway matches it; a path of no resource of this API never
        # reaches a Lambda there (API Gateway answers it), here it does.
        "resource": (_ACTIONS[matched["action"]] if job_id else JOBS) if matched else None,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers) if headers is not None else None,
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        # API Gateway hands query parameters decoded, None when there are none.
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"job_id": job_id} if job_id else None,
        "requestContext": {
            "requestId": request_id,
            "stage": stage,
            "httpMethod": method,
            "path": path,
            **(vouched or {}),
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def route_of(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The resource a request is for, and its job id.

    From what API Gateway matched (``resource``, ``pathParameters``): the
    stage, a custom domain's base path and a trailing slash are already
    gone from those, while ``path`` keeps the last two. The path is read
    only when the event names no resource of this API.
    """
    resource, parameters = event.get("resource"), event.get("pathParameters")
    if resource == JOBS:
        return JOBS, None
    if resource in _OF_A_JOB:
        job_id = parameters.get("job_id") if isinstance(parameters, dict) else None
        return (resource, job_id) if isinstance(job_id, str) and job_id else (None, None)
    match = _PATH.fullmatch(str(event.get("path") or ""))
    if match is None:
        return None, None
    return (_ACTIONS[match["action"]], match["job_id"]) if match["job_id"] else (JOBS, None)


def base_of(event: dict[str, Any]) -> str:
    """The client's path up to this API's resources, from the path as the
    client sent it (``requestContext.path``: stage or base path included)."""
    context = event.get("requestContext")
    sent = context.get("path") if isinstance(context, dict) else None
    match = _SUFFIX.search(str(sent or event.get("path") or ""))
    return match.string[: match.start()] if match else ""


def caller_of(context: dict[str, Any], scope: CallerScope = CallerScope.AUTO) -> str | None:
    """Who is asking, from what API Gateway vouches for, never from a header;
    None when nothing vouches for anyone.

    An authorizer in front (Lambda or Cognito user pool) names the caller;
    otherwise a Cognito identity pool's identity, otherwise the IAM
    principal that signed the request. An assumed role is one caller
    whatever its session name: each Lambda or task that assumes it signs
    with a new session. An event with none of these has no caller: behind
    the stack's API every method requires IAM authorization, so it can
    only come from a misconfigured API, and it is refused (403), never
    pooled with other anonymous requests.
    """
    authorizer = context.get("authorizer")
    if isinstance(authorizer, dict):
        if "principalId" in authorizer:
            principal = authorizer["principalId"]
            return f"authorizer:{principal}" if isinstance(principal, str) and principal else None
        claims = authorizer.get("claims")
        if isinstance(claims, dict):
            subject = claims.get("sub")
            return f"cognito:{subject}" if isinstance(subject, str) and subject else None
    identity = context.get("identity")
    if not isinstance(identity, dict):
        return None
    # Every user of an identity pool signs as the pool's one role: the
    # identity, not the role, is the caller.
    if identity.get("cognitoIdentityId"):
        return f"cognito-identity:{identity['cognitoIdentityId']}"
    arn = identity.get("userArn")
    return _principal(str(arn), scope) if arn else None


def _principal(arn: str, scope: CallerScope) -> str:
    # arn:aws:sts::123456789012:assumed-role/RoleName/SessionName -> the
    # role, or the whole ARN where each session is a caller of its own
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        per_session = scope is CallerScope.SESSION or (
            scope is CallerScope.AUTO and role.startswith(IDENTITY_CENTER_ROLE)
        )
        return arn if per_session else ":".join([*parts[:5], f"assumed-role/{role}"])
    return arn


def _body_bytes(body: Any, is_base64: Any) -> bytes | None:
    if body is None:
        return None
    if not isinstance(body, str):
        raise BadRequest(400, "malformed-event", "Bad request", "the body is not text")
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(400, "malformed-body", "Bad request", "the body is not valid base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(400, "malformed-json", "Bad request", "the body is not valid Unicode") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":")[0]


def json_response(status: int, document: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **headers},
        "body": json.dumps(document),
        "isBase64Encoded": False,
    }


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    correlation_id: str,
    retryable: bool,
    job_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem details answer."""
    document: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "correlation_id": correlation_id,
        "retryable": retryable,
    }
    if job_id is not None:
        document["job_id"] = job_id
    response = json_response(status, document, {"X-Correlation-Id": correlation_id, **(headers or {})})
    response["headers"]["Content-Type"] = PROBLEM_JSON
    return response
