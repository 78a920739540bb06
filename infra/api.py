"""The REST API in front of the API function: IAM authorization,
validation, throttling, access logs."""

from __future__ import annotations

from typing import Any

import attrs
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from entrypoints.openapi import JOB_REQUEST
from infra.gateway_responses import add_gateway_problems
from infra.limits import THROTTLE_BURST, THROTTLE_RATE, ClientApp, ClientLimits


@attrs.frozen
class Invokers:
    """Who may call the API at all, whatever IAM policies grant
    ``execute-api:Invoke``: the API's resource policy. Within one account
    API Gateway allows a call that either the caller's policy or the
    resource policy allows, so the policy also denies everyone else.

    Neither given: the principals of the stack's own account only.
    """

    # IAM role or user ARNs (arn:aws:iam::<account>:role/<name>), or account ids.
    principals: tuple[str, ...] = ()
    # An AWS Organizations id (o-...): any principal of that organization.
    organization: str | None = None

    def statements(self, account: str) -> list[iam.PolicyStatement]:
        allowed, allow_if, deny_unless = self._terms(account)
        return [
            iam.PolicyStatement(
                actions=[INVOKE], resources=[ANY_METHOD], principals=allowed, conditions=allow_if or None
            ),
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=[INVOKE],
                resources=[ANY_METHOD],
                principals=[iam.AnyPrincipal()],
                conditions=deny_unless,
            ),
        ]

    def _terms(self, account: str) -> tuple[list[iam.IPrincipal], dict[str, Any], dict[str, Any]]:
        """Whom the policy allows, on what condition, and the condition on
        which it denies everyone else."""
        if self.organization:
            return (
                [iam.AnyPrincipal()],
                {"StringEquals": {"aws:PrincipalOrgID": self.organization}},
                {"StringNotEquals": {"aws:PrincipalOrgID": self.organization}},
            )
        if not self.principals:
            return [iam.AccountPrincipal(account)], {}, {"StringNotEquals": {"aws:PrincipalAccount": account}}
        arns = [p for p in self.principals if p.startswith("arn:")]
        accounts = [p for p in self.principals if not p.startswith("arn:")]
        allowed: list[iam.IPrincipal] = [iam.ArnPrincipal(arn) for arn in arns]
        allowed += [iam.AccountPrincipal(a) for a in accounts]
        # Denied unless its ARN or its account is listed: both conditions of
        # one statement must hold for the deny to apply.
        deny_unless: dict[str, Any] = {}
        if arns:
            deny_unless["ArnNotLike"] = {"aws:PrincipalArn": arns}
        if accounts:
            deny_unless["StringNotEquals"] = {"aws:PrincipalAccount": accounts}
        return allowed, {}, deny_unless


INVOKE = "execute-api:Invoke"
ANY_METHOD = "execute-api:/*"


class JobsRestApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: lambda_.IFunction,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        tracing: bool = False,
        invokers: Invokers | None = None,
        client_apps: tuple[ClientApp, ...] = (),
        keys_required: bool = True,
    ) -> None:
        super().__init__(scope, id)
        invokers = invokers or Invokers()
        access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            # Named after the stack: API Gateway's metrics are keyed by the
            # API's name, and two APIs of one name would add up in one alarm.
            rest_api_name=Stack.of(self).stack_name,
            description="Job intake",
            # Regional: no CloudFront in front, whose own errors would be
            # HTML that no gateway response can turn into a problem.
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Every method: a caller signs with SigV4, and the job it makes is
            # its own (see entrypoints.api_gateway.caller_of).
            default_method_options=apigateway.MethodOptions(
                # Optional keys let a deployment hand the keys out before
                # requiring them: a request without one escapes every plan.
                authorization_type=apigateway.AuthorizationType.IAM,
                api_key_required=bool(client_apps) and keys_required,
            ),
            policy=iam.PolicyDocument(statements=invokers.statements(Stack.of(self).account)),
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal_policy,
            deploy_options=apigateway.StageOptions(
                stage_name="v1",
                tracing_enabled=tracing,
                throttling_rate_limit=THROTTLE_RATE,
                throttling_burst_limit=THROTTLE_BURST,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        add_gateway_problems(self.rest_api)
        self.client_limits = ClientLimits(self, "ClientLimits", rest_api=self.rest_api, apps=client_apps)
        # The request schema of the OpenAPI document, so that API Gateway
        # turns away the plainly wrong before a Lambda runs, so that API Gateway turns away
        # the plainly wrong before a Lambda runs; the handler stays the
        # authority (it also runs locally, without API Gateway).
        job_model = self.rest_api.add_model(
            "Job", content_type="application/json", schema=json_schema(JOB_REQUEST, DRAFT4)
        )
        validator = self.rest_api.add_request_validator(
            "Validate", validate_request_body=True, validate_request_parameters=True
        )
        # No permission for the console's test invocations: they skip IAM
        # authorization, and so the caller checks.
        integration = apigateway.LambdaIntegration(function, allow_test_invoke=False)
        jobs = self.rest_api.root.add_resource("jobs")
        jobs.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": job_model},
        )
        jobs.add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={
                "method.request.querystring.status": False,
                "method.request.querystring.limit": False,
                "method.request.querystring.cursor": False,
            },
        )
        job = jobs.add_resource("{job_id}")
        by_id = {"method.request.path.job_id": True}
        job.add_method("GET", integration, request_validator=validator, request_parameters=by_id)
        # The owner's actions on a job: POST, as neither is idempotent in
        # what it answers (cancel, then re-run, then cancel again).
        for action in ("cancel", "retry"):
            job.add_resource(action).add_method(
                "POST", integration, request_validator=validator, request_parameters=by_id
            )


DRAFT4 = apigateway.JsonSchemaVersion.DRAFT4
# The OpenAPI keywords the request schema uses, as the CDK names them.
_KEYWORDS = {
    "type": "type",
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "required": "required",
    "additionalProperties": "additional_properties",
    "description": "description",
}


def json_schema(schema: dict[str, Any], version: apigateway.JsonSchemaVersion | None = None) -> apigateway.JsonSchema:
    """An OpenAPI schema object as a REST API model's schema."""
    unknown = set(schema) - set(_KEYWORDS) - {"properties"}
    if unknown:
        raise ValueError(f"no model keyword for {sorted(unknown)}")
    options: dict[str, Any] = {_KEYWORDS[k]: v for k, v in schema.items() if k in _KEYWORDS}
    if "type" in options:
        options["type"] = apigateway.JsonSchemaType[options["type"].upper()]
    if "properties" in schema:
        options["properties"] = {name: json_schema(value) for name, value in schema["properties"].items()}
    return apigateway.JsonSchema(schema=version, **options) if version else apigateway.JsonSchema(**options)
