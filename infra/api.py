"""The REST API in front of the API function: IAM authorization,
validation, throttling, access logs."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from entrypoints.openapi import JOB_REQUEST
from infra.gateway_responses import add_gateway_problems

THROTTLE_RATE = 100  # requests per second, steady
THROTTLE_BURST = 200


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
    ) -> None:
        super().__init__(scope, id)
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
            default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM),
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
        integration = apigateway.LambdaIntegration(function)
        jobs = self.rest_api.root.add_resource("jobs")
        jobs.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": job_model},
        )
        jobs.add_resource("{job_id}").add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={"method.request.path.job_id": True},
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
