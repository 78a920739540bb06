"""API Gateway's own answers (an unsigned request, an unknown path, a body
the validator refuses, throttling, a timeout) as the same RFC 9457 problem
details the handler writes, so that a client reads one error format."""

from __future__ import annotations

import json

import attrs
from aws_cdk import aws_apigateway as apigateway

from entrypoints.api_gateway import PROBLEM_JSON

# Whole seconds a throttled or timed-out client waits before trying again.
RETRY_AFTER_S = 1


@attrs.frozen
class GatewayProblem:
    response_type: apigateway.ResponseType
    status: int
    slug: str
    title: str
    retryable: bool
    # Said instead of API Gateway's own message where that one misleads
    # (an unknown path is "Missing Authentication Token").
    detail: str | None = None

    @property
    def template(self) -> str:
        """The body, in API Gateway's mapping template language. Its own
        message is taken from ``messageString``, the one variable API
        Gateway quotes as a JSON string."""
        detail = json.dumps(self.detail) if self.detail else "$context.error.messageString"
        return (
            f'{{"type": "/problems/{self.slug}", "title": "{self.title}", "status": {self.status}, '
            f'"detail": {detail}, "correlation_id": "$context.requestId", '
            f'"retryable": {json.dumps(self.retryable)}}}'
        )

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": f"'{PROBLEM_JSON}'", "X-Correlation-Id": "context.requestId"}
        if self.retryable and self.status in (429, 502, 503, 504):
            headers["Retry-After"] = f"'{RETRY_AFTER_S}'"
        return headers


T = apigateway.ResponseType
# Every response type API Gateway has, with its own status. The two
# defaults apply only to types AWS adds later.
PROBLEMS = [
    # The validator's own findings are a bare string with quotes in it, and
    # a gateway response cannot escape it into JSON: a fixed detail instead.
    GatewayProblem(
        T.BAD_REQUEST_BODY,
        400,
        "invalid-job",
        "Bad request",
        False,
        "the body does not match the JobRequest schema (see the OpenAPI document)",
    ),
    GatewayProblem(T.BAD_REQUEST_PARAMETERS, 400, "bad-request", "Bad request", False),
    GatewayProblem(
        T.MISSING_AUTHENTICATION_TOKEN,
        403,
        "not-found-or-unsigned",
        "Forbidden",
        False,
        "no such resource or method, or the request is not signed (SigV4, service execute-api)",
    ),
    GatewayProblem(T.UNAUTHORIZED, 401, "unauthorized", "Unauthorized", False),
    GatewayProblem(T.ACCESS_DENIED, 403, "access-denied", "Forbidden", False),
    GatewayProblem(T.INVALID_SIGNATURE, 403, "invalid-signature", "Forbidden", False),
    GatewayProblem(T.EXPIRED_TOKEN, 403, "expired-token", "Forbidden", False),
    GatewayProblem(T.INVALID_API_KEY, 403, "invalid-api-key", "Forbidden", False),
    GatewayProblem(T.WAF_FILTERED, 403, "waf-filtered", "Forbidden", False),
    GatewayProblem(T.RESOURCE_NOT_FOUND, 404, "not-found", "Not found", False),
    GatewayProblem(T.REQUEST_TOO_LARGE, 413, "body-too-large", "Content too large", False),
    GatewayProblem(T.UNSUPPORTED_MEDIA_TYPE, 415, "unsupported-media-type", "Unsupported media type", False),
    GatewayProblem(T.THROTTLED, 429, "throttled", "Too many requests", True),
    GatewayProblem(T.QUOTA_EXCEEDED, 429, "quota-exceeded", "Too many requests", False),
    GatewayProblem(T.API_CONFIGURATION_ERROR, 500, "gateway-misconfigured", "Internal server error", False),
    GatewayProblem(T.AUTHORIZER_CONFIGURATION_ERROR, 500, "authorizer-misconfigured", "Internal server error", False),
    GatewayProblem(T.AUTHORIZER_FAILURE, 500, "authorizer-failed", "Internal server error", False),
    # The function failed or was throttled before it could answer: nothing
    # was told, and a retry with the same Idempotency-Key learns the outcome.
    GatewayProblem(
        T.INTEGRATION_FAILURE,
        502,
        "integration-failed",
        "Bad gateway",
        True,
        "the service did not answer; repeat the request with the same Idempotency-Key to learn the outcome",
    ),
    GatewayProblem(
        T.INTEGRATION_TIMEOUT,
        504,
        "integration-timeout",
        "Gateway timeout",
        True,
        "the service did not answer in time; repeat the request with the same Idempotency-Key to learn the outcome",
    ),
    GatewayProblem(T.DEFAULT_4_XX, 400, "bad-request", "Bad request", False),
    GatewayProblem(
        T.DEFAULT_5_XX,
        500,
        "gateway-error",
        "Internal server error",
        True,
        "the request failed at the gateway; repeat it with the same Idempotency-Key to learn the outcome",
    ),
]


def add_gateway_problems(rest_api: apigateway.RestApi) -> None:
    for problem in PROBLEMS:
        rest_api.add_gateway_response(
            problem.response_type.response_type,
            type=problem.response_type,
            status_code=str(problem.status),
            response_headers=problem.headers,
            templates={"application/json": problem.template},
        )
