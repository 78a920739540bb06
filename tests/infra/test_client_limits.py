"""Each client application's own limits: an API key and a usage plan per
application, on top of IAM, and no method callable without a key once any
application is named."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app import build
from infra.limits import CLIENT_BURST, CLIENT_DAILY_QUOTA, CLIENT_RATE, ClientApp, parse_client_apps


def synth(**context: str) -> Template:
    return Template.from_stack(build(App(context={"aws:cdk:bundling-stacks": [], **context})))


def methods(template: Template) -> list[dict[str, Any]]:
    found = [m["Properties"] for m in template.find_resources("AWS::ApiGateway::Method").values()]
    assert found
    return found


@pytest.fixture(scope="module")
def limited() -> Template:
    return synth(client_apps="billing, reports=50/80/1000")


def test_without_client_applications_no_key_is_needed_and_no_plan_exists(template: Template) -> None:
    assert not any(m.get("ApiKeyRequired") for m in methods(template))
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)


def test_with_client_applications_every_method_needs_a_key(limited: Template) -> None:
    assert all(m["ApiKeyRequired"] is True and m["AuthorizationType"] == "AWS_IAM" for m in methods(limited))


def test_optional_keys_let_the_keys_be_handed_out_before_they_are_required() -> None:
    optional = synth(client_apps="billing", client_keys="optional")
    assert not any(m.get("ApiKeyRequired") for m in methods(optional))
    optional.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    optional.resource_count_is("AWS::ApiGateway::UsagePlan", 1)
    with pytest.raises(ValueError, match="client_keys must be required or optional"):
        synth(client_apps="billing", client_keys="sometimes")


def test_each_application_has_its_own_key_and_plan_with_its_limits_on_the_stage(limited: Template) -> None:
    plans = {
        p["Properties"]["UsagePlanName"]: p["Properties"]
        for p in limited.find_resources("AWS::ApiGateway::UsagePlan").values()
    }
    assert set(plans) == {"JobIntake-billing", "JobIntake-reports"}
    assert plans["JobIntake-billing"]["Throttle"] == {"RateLimit": CLIENT_RATE, "BurstLimit": CLIENT_BURST}
    assert plans["JobIntake-billing"]["Quota"] == {"Limit": CLIENT_DAILY_QUOTA, "Period": "DAY"}
    assert plans["JobIntake-reports"]["Throttle"] == {"RateLimit": 50, "BurstLimit": 80}
    assert plans["JobIntake-reports"]["Quota"] == {"Limit": 1000, "Period": "DAY"}
    for plan in plans.values():
        [stage] = plan["ApiStages"]
        assert stage["Stage"] == {"Ref": next(iter(limited.find_resources("AWS::ApiGateway::Stage")))}
    keys = limited.find_resources("AWS::ApiGateway::ApiKey")
    assert sorted(k["Properties"]["Name"] for k in keys.values()) == ["JobIntake-billing", "JobIntake-reports"]
    assert all(k["Properties"]["Enabled"] is True for k in keys.values())
    # Each key in exactly one plan, and each plan with exactly one key.
    links = [u["Properties"] for u in limited.find_resources("AWS::ApiGateway::UsagePlanKey").values()]
    assert sorted(link["KeyId"]["Ref"] for link in links) == sorted(keys)
    assert len({link["UsagePlanId"]["Ref"] for link in links}) == len(plans)


def test_the_key_ids_are_outputs_and_no_key_value_is(limited: Template) -> None:
    outputs = {k: v for k, v in limited.find_outputs("*").items() if k.startswith("ApiKeyId")}
    assert set(outputs) == {"ApiKeyIdBilling", "ApiKeyIdReports"}
    keys = limited.find_resources("AWS::ApiGateway::ApiKey")
    assert {o["Value"]["Ref"] for o in outputs.values()} == set(keys)
    assert all("Value" not in k["Properties"] for k in keys.values())


def test_a_plan_is_a_share_of_the_stage_not_above_it() -> None:
    stage = next(iter(synth().find_resources("AWS::ApiGateway::Stage").values()))["Properties"]
    [settings] = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > CLIENT_RATE and settings["ThrottlingBurstLimit"] > CLIENT_BURST
    with pytest.raises(ValueError, match="rate must be 1 to 100"):
        ClientApp("greedy", rate=settings["ThrottlingRateLimit"] + 1, burst=settings["ThrottlingBurstLimit"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Billing", "lower-case letter"),
        ("bill-ing", "lower-case letter"),
        ("1billing", "lower-case letter"),
        ("billing=10/20", "rate/burst/daily-quota"),
        ("billing=ten/20/30", "rate/burst/daily-quota"),
        ("billing=0/20/30", "rate must be"),
        ("billing=30/20/30", "burst must be at least the rate"),
        ("billing=10/20/0", "daily quota"),
        ("billing,billing=10/20/30", "named once"),
    ],
)
def test_a_client_application_that_cannot_be_deployed_is_refused_at_synth(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(App(context={"aws:cdk:bundling-stacks": [], "client_apps": text}))


def test_the_list_reads_names_limits_and_spaces() -> None:
    assert parse_client_apps(" web , batch=5/10/100 ,") == (ClientApp("web"), ClientApp("batch", 5, 10, 100))
    assert parse_client_apps("") == ()
