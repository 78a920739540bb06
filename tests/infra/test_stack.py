"""The synthesized template: what the stack holds, who may do what, and the
timing relations the retry budget depends on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from adapters.dynamodb_items import OWNER_INDEX
from adapters.dynamodb_schema import create_table_request
from entrypoints.config import Settings
from entrypoints.openapi import JOB_REQUEST
from infra.app import build
from infra.functions import API_CONCURRENCY, API_TIMEOUT, RECONCILER_TIMEOUT, TUNING, WORKER_TIMEOUT
from infra.limits import THROTTLE_RATE
from infra.messaging import MAX_RECEIVE_COUNT
from infra.monitoring import OLDEST_MESSAGE_AGE, SERVICE_METRICS
from infra.schedule import EVERY
from infra.stack import JobIntakeStack

API_GATEWAY_INTEGRATION_LIMIT_S = 29
GATEWAY_RESPONSE = "AWS::ApiGateway::GatewayResponse"


def resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def function_named(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, v) for k, v in resources(template, "AWS::Lambda::Function").items() if v["Properties"]["Handler"] == handler
    ]
    return logical_id, function["Properties"]


def statements_of(template: Template, handler: str) -> list[dict[str, Any]]:
    role = function_named(template, handler)[1]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource logical id or ARN shape) pairs."""
    pairs = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for resource in statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]:
            for action in actions:
                pairs.add((action, describe(resource)))
    return pairs


def describe(resource: Any) -> str:
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    if isinstance(resource, dict) and "Fn::Join" in resource:
        return "".join(describe(part) if isinstance(part, dict) else part for part in resource["Fn::Join"][1])
    return str(resource)


def test_the_environment_is_the_fake_account_by_default(stack: JobIntakeStack) -> None:
    assert (stack.account, stack.region) == ("123456789012", "us-east-1")


def test_the_account_and_region_can_be_chosen() -> None:
    stack = build(App(context={"aws:cdk:bundling-stacks": [], "account": "210987654321", "region": "eu-west-1"}))
    assert (stack.account, stack.region) == ("210987654321", "eu-west-1")


def test_it_holds_every_resource_of_the_service(template: Template) -> None:
    for kind, count in {
        "AWS::DynamoDB::Table": 1,
        "AWS::SQS::Queue": 2,
        "AWS::Lambda::Function": 3,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::ApiGateway::RestApi": 1,
        "AWS::ApiGateway::RequestValidator": 1,
        "AWS::ApiGateway::Model": 1,
        "AWS::Events::Rule": 1,
        "AWS::Events::EventBus": 1,
        "AWS::CloudWatch::Alarm": 14,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::ApiGateway::GatewayResponse": 21,
        "AWS::SecretsManager::Secret": 1,
        "AWS::Logs::LogGroup": 4,
    }.items():
        template.resource_count_is(kind, count)


def test_the_table_is_on_demand_recoverable_encrypted_with_the_reconcilers_and_the_owners_index(
    template: Template,
) -> None:
    expected = create_table_request("x")
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": expected["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            # As the local table declares them: the owners' index projects
            # what a list shows, never the payload or the result.
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"],
                }
                for index in expected["GlobalSecondaryIndexes"]
            ],
        },
    )
    [owners] = [i for i in expected["GlobalSecondaryIndexes"] if i["IndexName"] == OWNER_INDEX]
    assert not {"payload", "result"} & set(owners["Projection"]["NonKeyAttributes"])


def test_the_table_is_kept_unless_told_otherwise(template: Template) -> None:
    [table] = resources(template, "AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Retain"
    destroyable = Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], "removal_policy": "destroy"})))
    [table] = resources(destroyable, "AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Delete"


def test_queues_are_encrypted_and_the_jobs_queue_redrives_to_the_dead_letters(template: Template) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    [jobs] = [q["Properties"] for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    assert jobs["RedrivePolicy"]["maxReceiveCount"] == 5
    assert jobs["VisibilityTimeout"] >= 6 * WORKER_TIMEOUT.to_seconds()
    assert jobs["MaximumMessageSize"] == 1_048_576


def test_both_queues_keep_messages_as_long_as_the_reconciler_waits_for_them(template: Template) -> None:
    retention = {q["Properties"]["MessageRetentionPeriod"] for q in resources(template, "AWS::SQS::Queue").values()}
    assert retention == {int(TUNING["MESSAGE_RETENTION_SECONDS"])} == {14 * 24 * 3600}


def test_a_job_runs_out_of_claims_before_its_message_runs_out_of_receives() -> None:
    # Each claim is one receive; a message dead-lettered first would leave
    # its job PROCESSING until the reconciler's retention threshold.
    assert int(TUNING["JOB_MAX_ATTEMPTS"]) < MAX_RECEIVE_COUNT


def test_the_functions_run_the_three_handlers_on_a_current_python(template: Template) -> None:
    for handler, timeout in [
        ("entrypoints.api.handler", API_TIMEOUT),
        ("entrypoints.reconciler.handler", RECONCILER_TIMEOUT),
        ("entrypoints.worker.handler", WORKER_TIMEOUT),
    ]:
        _, function = function_named(template, handler)
        assert function["Runtime"] == "python3.14" and function["Architectures"] == ["arm64"]
        assert function["Timeout"] == timeout.to_seconds()
        variables = function["Environment"]["Variables"]
        assert {"TABLE_NAME", "QUEUE_URL", *TUNING} <= set(variables)
        assert {k: variables[k] for k in TUNING} == TUNING


def test_the_settings_given_to_the_functions_are_valid() -> None:
    Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", **TUNING})


def test_the_api_timeout_covers_the_whole_send_budget_and_fits_api_gateway() -> None:
    settings = Settings.from_env({"TABLE_NAME": "t", "QUEUE_URL": "q", **TUNING})
    attempt = settings.sqs_connect_timeout_s + settings.sqs_read_timeout_s
    store_write = settings.dynamodb_connect_timeout_s + settings.dynamodb_read_timeout_s
    delays = sum(
        min(settings.send_max_delay_ms, settings.send_base_delay_ms * 2 ** (n - 1)) / 1000
        for n in range(1, settings.send_max_attempts)
    )
    store_delays = sum(
        min(settings.store_max_delay_ms, settings.store_base_delay_ms * 2 ** (n - 1)) / 1000
        for n in range(1, settings.store_max_attempts)
    )
    budget = settings.store_max_attempts * store_write + store_delays + settings.send_max_attempts * attempt + delays
    needed = budget + settings.deadline_margin_ms / 1000
    assert needed <= API_TIMEOUT.to_seconds() < API_GATEWAY_INTEGRATION_LIMIT_S
    # The reconciler must never settle a job whose invocation may still run.
    assert settings.reconcile_grace_seconds > API_TIMEOUT.to_seconds()


def test_the_api_role_may_put_and_get_items_send_messages_and_read_its_key_nothing_more(template: Template) -> None:
    table = next(iter(resources(template, "AWS::DynamoDB::Table")))
    [bus] = resources(template, "AWS::Events::EventBus")
    queue = next(k for k, v in resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in v["Properties"])
    log_group = next(k for k in resources(template, "AWS::Logs::LogGroup") if "Api" in k and "Access" not in k)
    [secret] = resources(template, "AWS::SecretsManager::Secret")
    assert grants(statements_of(template, "entrypoints.api.handler")) == {
        ("dynamodb:PutItem", table),
        ("dynamodb:GetItem", table),
        ("dynamodb:ConditionCheckItem", table),
        # GET /jobs reads the owners' index, never the reconciler's.
        ("dynamodb:Query", f"{table}/index/owned-by-age"),
        ("sqs:SendMessage", queue),
        ("secretsmanager:GetSecretValue", secret),
        # A cancel's completion event.
        ("events:PutEvents", bus),
        ("logs:CreateLogStream", log_group),
        ("logs:PutLogEvents", log_group),
    }


def test_the_reconciler_may_query_only_its_index_and_put_items(template: Template) -> None:
    table = next(iter(resources(template, "AWS::DynamoDB::Table")))
    pairs = {p for p in grants(statements_of(template, "entrypoints.reconciler.handler")) if p[0].startswith("dyn")}
    assert pairs == {("dynamodb:PutItem", table), ("dynamodb:Query", f"{table}/index/watched-by-age")}


@pytest.mark.parametrize("handler", ["entrypoints.worker.handler", "entrypoints.reconciler.handler"])
def test_the_worker_and_the_reconciler_put_events_on_the_services_bus_only(template: Template, handler: str) -> None:
    [bus] = resources(template, "AWS::Events::EventBus")
    events = {p for p in grants(statements_of(template, handler)) if p[0].startswith("events:")}
    assert events == {("events:PutEvents", bus)}
    environment = function_named(template, handler)[1]["Environment"]["Variables"]
    assert environment["EVENT_BUS_NAME"] == resources(template, "AWS::Events::EventBus")[bus]["Properties"]["Name"]


def test_the_bus_is_exported_for_other_stacks_to_subscribe(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert outputs["EventBusArn"]["Export"] == {"Name": "JobIntake-EventBusArn"}
    assert outputs["EventBusName"]["Export"] == {"Name": "JobIntake-EventBusName"}


def test_no_statement_anywhere_has_a_wildcard_action(template: Template) -> None:
    documents = [p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::IAM::Policy").values()]
    documents += [
        policy["PolicyDocument"]
        for role in resources(template, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    actions = [
        action
        for document in documents
        for statement in document["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]
    assert actions and not [a for a in actions if "*" in a]


def test_the_worker_reports_batch_item_failures(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10}
    )


def test_the_reconciler_runs_on_a_schedule(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": f"rate({int(EVERY.to_minutes())} minutes)"}
    )


def test_the_api_validates_throttles_and_logs_access(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200})]
            ),
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        },
    )
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})
    methods = {m["Properties"]["HttpMethod"] for m in resources(template, "AWS::ApiGateway::Method").values()}
    assert methods == {"POST", "GET"}


def test_every_api_method_requires_iam_authorization(template: Template) -> None:
    methods = resources(template, "AWS::ApiGateway::Method").values()
    assert methods and {m["Properties"]["AuthorizationType"] for m in methods} == {"AWS_IAM"}


def policy_of(template: Template) -> list[dict[str, Any]]:
    [api] = resources(template, "AWS::ApiGateway::RestApi").values()
    statements: list[dict[str, Any]] = api["Properties"]["Policy"]["Statement"]
    return statements


def test_only_the_stacks_own_account_may_call_the_api_by_default(template: Template) -> None:
    allow, deny = policy_of(template)
    assert (allow["Effect"], allow["Action"], allow["Resource"]) == ("Allow", "execute-api:Invoke", "execute-api:/*")
    assert "123456789012" in describe(allow["Principal"])
    assert (deny["Effect"], deny["Principal"], deny["Resource"]) == ("Deny", {"AWS": "*"}, "execute-api:/*")
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}


@pytest.mark.parametrize(
    ("context", "condition"),
    [
        (
            {"api_principals": "arn:aws:iam::123456789012:role/orders, 210987654321"},
            {
                "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/orders"]},
                "StringNotEquals": {"aws:PrincipalAccount": ["210987654321"]},
            },
        ),
        ({"api_organization": "o-a1b2c3d4e5"}, {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}),
    ],
    ids=["principals", "organization"],
)
def test_whoever_else_may_call_the_api_is_the_apps_choice_and_the_rest_are_denied(
    context: dict[str, str], condition: dict[str, Any]
) -> None:
    template = Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], **context})))
    allow, deny = policy_of(template)
    assert deny["Effect"] == "Deny" and deny["Condition"] == condition
    if "api_organization" in context:
        assert allow["Principal"] == {"AWS": "*"}
        assert allow["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    else:
        assert "role/orders" in describe(allow["Principal"]) and "210987654321" in describe(allow["Principal"])


def test_principals_and_an_organization_together_are_refused() -> None:
    with pytest.raises(ValueError, match="api_principals or api_organization, not both"):
        build(App(context={"aws:cdk:bundling-stacks": [], "api_principals": "1", "api_organization": "o-1"}))


def test_the_console_may_not_test_invoke_the_api_function_around_iam(template: Template) -> None:
    permissions = resources(template, "AWS::Lambda::Permission").values()
    sources = [describe(p["Properties"].get("SourceArn")) for p in permissions]
    api_sources = [source for source in sources if "execute-api" in source]
    # One per method, on the deployed stage only.
    assert len(api_sources) == 5 and all("DeploymentStagev1" in source for source in api_sources)
    assert not any("test-invoke-stage" in source for source in sources)


def test_settled_jobs_expire_through_the_tables_ttl(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}}
    )
    assert int(TUNING["JOB_RETENTION_DAYS"]) == Settings(table_name="t", queue_url="q").job_retention_days


def test_only_the_api_gets_the_job_id_key_by_the_secrets_arn_never_its_value(template: Template) -> None:
    [secret] = resources(template, "AWS::SecretsManager::Secret")
    api_environment = function_named(template, "entrypoints.api.handler")[1]["Environment"]["Variables"]
    assert api_environment["JOB_ID_KEY_SECRET"] == {"Ref": secret}
    assert "JOB_ID_KEY" not in api_environment
    assert "resolve:secretsmanager" not in json.dumps(template.to_json())
    for handler in ("entrypoints.worker.handler", "entrypoints.reconciler.handler"):
        variables = function_named(template, handler)[1]["Environment"]["Variables"]
        assert not {"JOB_ID_KEY", "JOB_ID_KEY_SECRET"} & set(variables)
        assert not {action for action, _ in grants(statements_of(template, handler)) if action.startswith("secrets")}


@pytest.mark.parametrize(("context", "scope"), [({}, "auto"), ({"caller_scope": "session"}, "session")])
def test_the_caller_scope_is_the_apps_choice(context: dict[str, str], scope: str) -> None:
    stack = build(App(context={"aws:cdk:bundling-stacks": [], **context}))
    template = Template.from_stack(stack)
    assert function_named(template, "entrypoints.api.handler")[1]["Environment"]["Variables"]["CALLER_SCOPE"] == scope


def test_a_caller_scope_of_no_kind_is_refused_at_synth() -> None:
    with pytest.raises(ValueError, match="caller_scope must be one of auto, role, session, not 'user'"):
        build(App(context={"aws:cdk:bundling-stacks": [], "caller_scope": "user"}))


def test_concurrency_is_held_for_the_worker_and_the_reconciler(template: Template) -> None:
    worker = function_named(template, "entrypoints.worker.handler")[1]
    reconciler = function_named(template, "entrypoints.reconciler.handler")[1]
    assert reconciler["ReservedConcurrentExecutions"] == 1
    held = worker["ReservedConcurrentExecutions"]
    # The SQS source never runs more than is held: a backlog waits in the
    # queue instead of being throttled into receive counts.
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": held}})


@pytest.mark.parametrize(
    ("context", "held"), [({}, API_CONCURRENCY), ({"api_concurrency": "40"}, 40), ({"api_concurrency": "none"}, None)]
)
def test_the_apis_concurrency_is_bounded_unless_the_app_says_otherwise(
    context: dict[str, str], held: int | None
) -> None:
    """A brownout holds every request for its whole budget: unbounded, the
    stage's rate times API_TIMEOUT executions."""
    template = Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], **context})))
    assert function_named(template, "entrypoints.api.handler")[1].get("ReservedConcurrentExecutions") == held
    assert THROTTLE_RATE * API_TIMEOUT.to_seconds() > API_CONCURRENCY


def test_an_api_concurrency_of_no_number_is_refused_at_synth() -> None:
    with pytest.raises(ValueError, match="api_concurrency must be a whole number of at least 1, or none"):
        build(App(context={"aws:cdk:bundling-stacks": [], "api_concurrency": "0"}))


@pytest.mark.parametrize(
    "metric",
    [
        "ApproximateNumberOfMessagesVisible",
        "RollbackFailures",
        "PermanentFailures",
        "StuckDeliverySettled",
        "StuckCompletionSettled",
        "ClaimsExhausted",
        "JobsFailed",
        "5XXError",
    ],
)
def test_an_alarm_watches(template: Template, metric: str) -> None:
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": metric, "Threshold": 1})


def test_logs_are_kept_for_a_month(template: Template) -> None:
    assert {g["Properties"]["RetentionInDays"] for g in resources(template, "AWS::Logs::LogGroup").values()} == {30}


def test_a_new_cdk_nag_finding_fails_the_synth() -> None:
    app = App(context={"aws:cdk:bundling-stacks": []})
    stack: Stack = build(app)
    sqs.Queue(stack, "QueueWithoutDeadLetters")  # AwsSolutions-SQS3 and SQS4
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3"):
        app.synth()


def test_every_acknowledgement_has_a_reason(stack: JobIntakeStack) -> None:
    app = stack.node.root
    assert isinstance(app, App)
    report = app.synth()
    assert report.get_stack_by_name("JobIntake").template
    acknowledgements = [
        entry.data
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if "acknowledg" in str(entry.type).lower()
    ]
    assert len(acknowledgements) == 4
    assert all(len(str(a)) > 80 for a in acknowledgements), acknowledgements  # a reason, not a shrug


def rendered(template: str, request_id: str = "req-1") -> Any:
    """A gateway response body as API Gateway fills it in."""
    filled = template.replace("$context.requestId", request_id)
    # As API Gateway substitutes them: messageString quoted, the others bare.
    filled = filled.replace("$context.error.messageString", '"Forbidden"')
    filled = filled.replace(
        "$context.error.validationErrorString", '[object has missing required properties (["payload"])]'
    )
    return json.loads(filled)


def test_every_answer_of_api_gateway_itself_is_a_problem(template: Template) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"] for r in resources(template, GATEWAY_RESPONSE).values()
    }
    expected = {
        "DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY", "MISSING_AUTHENTICATION_TOKEN", "UNAUTHORIZED",
        "ACCESS_DENIED", "INVALID_SIGNATURE", "EXPIRED_TOKEN", "THROTTLED", "REQUEST_TOO_LARGE",
        "INTEGRATION_TIMEOUT", "INTEGRATION_FAILURE", "RESOURCE_NOT_FOUND", "UNSUPPORTED_MEDIA_TYPE",
    }  # fmt: skip
    assert expected <= set(responses)
    for kind, response in responses.items():
        headers = response["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'", kind
        assert headers["gatewayresponse.header.X-Correlation-Id"] == "context.requestId", kind
        body = rendered(response["ResponseTemplates"]["application/json"])
        assert set(body) == {"type", "title", "status", "detail", "correlation_id", "retryable"}, kind
        assert body["status"] == int(response["StatusCode"]) and body["correlation_id"] == "req-1", kind
        assert body["type"].startswith("/problems/") and isinstance(body["retryable"], bool), kind
        if body["retryable"] and body["status"] in (429, 502, 503, 504):
            assert headers["gatewayresponse.header.Retry-After"] == "'1'", kind


@pytest.mark.parametrize(
    ("kind", "status", "retryable"),
    [
        ("THROTTLED", 429, True),
        ("INTEGRATION_TIMEOUT", 504, True),
        ("INTEGRATION_FAILURE", 502, True),
        ("BAD_REQUEST_BODY", 400, False),
        ("API_CONFIGURATION_ERROR", 500, False),
    ],
)
def test_throttling_and_timeouts_say_when_to_retry(template: Template, kind: str, status: int, retryable: bool) -> None:
    [response] = [
        r["Properties"]
        for r in resources(template, GATEWAY_RESPONSE).values()
        if r["Properties"]["ResponseType"] == kind
    ]
    body = rendered(response["ResponseTemplates"]["application/json"])
    assert (int(response["StatusCode"]), body["retryable"]) == (status, retryable)
    assert ("gatewayresponse.header.Retry-After" in response["ResponseParameters"]) is retryable


def test_the_request_model_is_the_openapi_documents_request_schema(template: Template) -> None:
    [model] = resources(template, "AWS::ApiGateway::Model").values()
    schema = {k: v for k, v in model["Properties"]["Schema"].items() if k != "$schema"}
    assert schema == JOB_REQUEST


def alarm_on(template: Template, metric: str) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
    ]


def test_an_alarm_fires_when_the_oldest_message_waits_too_long(template: Template) -> None:
    [alarm] = alarm_on(template, "ApproximateAgeOfOldestMessage")
    assert alarm["Threshold"] == OLDEST_MESSAGE_AGE.to_seconds() and alarm["Statistic"] == "Maximum"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_the_worker_and_the_reconciler_alarm_on_errors_and_throttles(template: Template, metric: str) -> None:
    watched = {describe(a["Dimensions"][0]["Value"]["Ref"]) for a in alarm_on(template, metric)}
    worker = function_named(template, "entrypoints.worker.handler")[0]
    reconciler = function_named(template, "entrypoints.reconciler.handler")[0]
    api = function_named(template, "entrypoints.api.handler")[0]
    assert {worker, reconciler} <= watched
    assert (api in watched) is (metric == "Throttles")


def test_the_api_is_named_after_the_stack_and_its_5xx_alarm_by_that_name(template: Template) -> None:
    [api] = resources(template, "AWS::ApiGateway::RestApi").values()
    [alarm] = alarm_on(template, "5XXError")
    assert api["Properties"]["Name"] == "JobIntake"
    assert {"Name": "ApiName", "Value": "JobIntake"} in alarm["Dimensions"]


def test_a_dashboard_shows_the_metrics_the_queue_and_every_alarm(template: Template) -> None:
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in [m for names in SERVICE_METRICS.values() for m in names] + ["ApproximateAgeOfOldestMessage"]:
        assert f'\\"{metric}\\"' in body, metric
    names = {a["Properties"]["AlarmName"] for a in resources(template, "AWS::CloudWatch::Alarm").values()}
    assert names and all(f":alarm:{name}" in body for name in names)


def test_tracing_is_off_unless_asked_for(template: Template) -> None:
    functions = resources(template, "AWS::Lambda::Function").values()
    assert all(f["Properties"].get("TracingConfig", {}).get("Mode") != "Active" for f in functions)
    [stage] = resources(template, "AWS::ApiGateway::Stage").values()
    assert not stage["Properties"].get("TracingEnabled", False)

    traced = Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], "tracing": "true"})))
    assert {f["Properties"]["TracingConfig"]["Mode"] for f in resources(traced, "AWS::Lambda::Function").values()} == {
        "Active"
    }
    traced.has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})


def test_the_api_is_regional_so_no_cloudfront_error_page_reaches_a_client(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})


def test_every_alarm_notifies_the_alarm_topic(template: Template) -> None:
    [topic] = resources(template, "AWS::SNS::Topic")
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    assert alarms and all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms)
    assert resources(template, "AWS::SNS::Subscription") == {}  # none unless asked for

    mailed = Template.from_stack(
        build(App(context={"aws:cdk:bundling-stacks": [], "alarm_email": "oncall@example.com"}))
    )
    mailed.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})


def test_a_rotation_finds_the_api_function_and_the_key_secret_in_the_outputs(template: Template) -> None:
    outputs = template.find_outputs("*")
    [secret] = resources(template, "AWS::SecretsManager::Secret")
    assert outputs["JobIdKeySecretArn"]["Value"] == {"Ref": secret}
    assert outputs["ApiFunctionName"]["Value"] == {"Ref": function_named(template, "entrypoints.api.handler")[0]}


def test_an_existing_secret_is_given_by_its_arn_and_read_by_the_api_alone() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:JobIntake-job-id-key-AbCdEf"
    template = Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], "job_id_key_secret": arn})))
    template.resource_count_is("AWS::SecretsManager::Secret", 0)
    api_environment = function_named(template, "entrypoints.api.handler")[1]["Environment"]["Variables"]
    assert api_environment["JOB_ID_KEY_SECRET"] == arn
    assert ("secretsmanager:GetSecretValue", arn) in grants(statements_of(template, "entrypoints.api.handler"))


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("JobIdKey", "complete ARN"),
        ("arn:aws:sqs:us-east-1:123456789012:jobs", "complete ARN"),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf", "the stack's region and account"),
        ("arn:aws:secretsmanager:us-east-1:210987654321:secret:k-AbCdEf", "the stack's region and account"),
    ],
)
def test_a_key_secret_that_is_no_secret_of_the_stack_is_refused_at_synth(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"job_id_key_secret must be .*{message}"):
        build(App(context={"aws:cdk:bundling-stacks": [], "job_id_key_secret": arn}))
