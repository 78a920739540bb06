"""The CDK app: ``cdk synth`` / ``cdk deploy`` run ``python -m infra.app``.

Context (``-c name=value``) or environment chooses where it goes:
  account         default 123456789012 (moto's default account; use yours)
  region          default us-east-1
  removal_policy  retain (default) or destroy, for the table and log groups
  alarm_email     an address the alarm topic mails (none by default)
  tracing         false (default) or true: X-Ray active tracing on the
                  functions and the API stage (billed per trace recorded
                  and retrieved, beyond X-Ray's free tier)
  caller_scope    auto (default), role or session: how finely the sessions
                  of one assumed role are told apart as callers (CALLER_SCOPE)
  api_principals  who may call the API at all (its resource policy): IAM
                  role or user ARNs and account ids, comma-separated; the
                  roles must exist. Default: the stack's own account
  api_organization  an AWS Organizations id (o-...): any principal of it
                  may call the API (instead of api_principals)
  api_concurrency the API function's reserved concurrency (default 100),
                  or none to leave it unbounded
  job_id_key_secret  the complete ARN of an existing Secrets Manager secret
                  holding the job-id key, for a stack moved from elsewhere
                  (its keyed ids stay the same). Default: the stack makes one
  client_apps     the client applications, comma-separated, each with its
                  own API key and limits (a usage plan): name (20 rps,
                  burst 40, 200,000 requests a day) or name=rate/burst/quota.
                  Given, every request needs its application's key
                  (x-api-key). Default: none, no key needed
  client_keys     required (default) or optional: with optional, the keys
                  and plans exist but a request may come without a key
                  (and escape every plan), to hand the keys out first
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment, RemovalPolicy, Validations
from cdk_nag import AwsSolutionsChecks

from entrypoints.api_gateway import CallerScope
from infra.api import Invokers
from infra.functions import API_CONCURRENCY
from infra.limits import parse_client_apps
from infra.stack import JobIntakeStack
from infra.target import DEFAULT_ACCOUNT, DEFAULT_REGION, STACK_NAME


def build(app: App) -> JobIntakeStack:
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or DEFAULT_ACCOUNT
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    removal = app.node.try_get_context("removal_policy") or "retain"
    if removal not in ("retain", "destroy"):
        raise ValueError(f"removal_policy must be retain or destroy, not {removal!r}")
    tracing = str(app.node.try_get_context("tracing") or "false").lower()
    if tracing not in ("true", "false"):
        raise ValueError(f"tracing must be true or false, not {tracing!r}")
    scope = str(app.node.try_get_context("caller_scope") or CallerScope.AUTO)
    if scope not in set(CallerScope):
        raise ValueError(f"caller_scope must be one of {', '.join(CallerScope)}, not {scope!r}")
    principals = tuple(p.strip() for p in str(app.node.try_get_context("api_principals") or "").split(",") if p.strip())
    organization = str(app.node.try_get_context("api_organization") or "").strip() or None
    if principals and organization:
        raise ValueError("give api_principals or api_organization, not both")
    concurrency = str(app.node.try_get_context("api_concurrency") or API_CONCURRENCY).strip().lower()
    if concurrency != "none" and not (concurrency.isdigit() and int(concurrency) >= 1):
        raise ValueError(f"api_concurrency must be a whole number of at least 1, or none, not {concurrency!r}")
    client_apps = parse_client_apps(str(app.node.try_get_context("client_apps") or ""))
    keys = str(app.node.try_get_context("client_keys") or "required").strip().lower()
    if keys not in ("required", "optional"):
        raise ValueError(f"client_keys must be required or optional, not {keys!r}")
    key_arn = str(app.node.try_get_context("job_id_key_secret") or "").strip()
    if key_arn and not (key_arn.startswith("arn:") and ":secretsmanager:" in key_arn and ":secret:" in key_arn):
        raise ValueError(f"job_id_key_secret must be a secret's complete ARN, not {key_arn!r}")
    # The API's role is granted the read, not a key policy or another
    # account's resource policy: the secret must be the stack's own.
    if key_arn and key_arn.split(":")[3:5] != [str(region), str(account)]:
        raise ValueError(f"job_id_key_secret must be a secret of the stack's region and account ({region}, {account})")
    stack = JobIntakeStack(
        app,
        STACK_NAME,
        env=Environment(account=str(account), region=str(region)),
        removal_policy=RemovalPolicy.DESTROY if removal == "destroy" else RemovalPolicy.RETAIN,
        tracing=tracing == "true",
        alarm_email=app.node.try_get_context("alarm_email") or None,
        caller_scope=CallerScope(scope),
        invokers=Invokers(principals, organization),
        api_concurrency=None if concurrency == "none" else int(concurrency),
        client_apps=client_apps,
        client_keys_required=keys == "required",
        job_id_key_arn=key_arn or None,
        description="Job intake: DynamoDB + SQS with graceful send failures",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> None:
    app = App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
