"""The API's limits: the stage's throttle, shared by every caller, and each
client application's own, an API key per application and a usage plan per
key, on top of IAM.

IAM still says who the caller is and which jobs are its own; the key only
says whose budget a request spends. With client applications named, every
method requires a key (``x-api-key``), so no request escapes a plan: one
application in a loop meets its own throttle (429 ``throttled``, retryable)
and its own daily quota (429 ``quota-exceeded``), while the stage's
throttle is left for the others.
"""

from __future__ import annotations

import re

import attrs
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from constructs import Construct

THROTTLE_RATE = 100  # requests per second, steady, the whole stage
THROTTLE_BURST = 200
CLIENT_RATE = 20  # requests per second, steady: a fifth of the stage's
CLIENT_BURST = 40
CLIENT_DAILY_QUOTA = 200_000
# Lower-case letters and digits: the name is also part of an output's id.
_NAME = re.compile(r"[a-z][a-z0-9]{0,31}")


@attrs.frozen
class ClientApp:
    """One client application: its name (the key's and the plan's) and its limits."""

    name: str
    rate: int = CLIENT_RATE
    burst: int = CLIENT_BURST
    daily_quota: int = CLIENT_DAILY_QUOTA

    def __attrs_post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                "a client application's name is a lower-case letter and up to 31 lower-case letters or "
                f"digits, not {self.name!r}"
            )
        if not 1 <= self.rate <= THROTTLE_RATE or not 1 <= self.burst <= THROTTLE_BURST:
            # A plan above the stage's throttle would promise what the stage refuses.
            raise ValueError(
                f"client application {self.name}: rate must be 1 to {THROTTLE_RATE} and burst 1 to {THROTTLE_BURST}"
            )
        if self.burst < self.rate:
            raise ValueError(f"client application {self.name}: burst must be at least the rate")
        if self.daily_quota < 1:
            raise ValueError(f"client application {self.name}: the daily quota must be at least 1")

    @classmethod
    def parse(cls, text: str) -> ClientApp:
        """``name`` (the default limits) or ``name=rate/burst/daily-quota``."""
        name, _, limits = text.strip().partition("=")
        if not limits:
            return cls(name.strip())
        parts = limits.split("/")
        if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
            raise ValueError(f"client application limits are rate/burst/daily-quota in whole numbers, not {limits!r}")
        rate, burst, quota = (int(part) for part in parts)
        return cls(name.strip(), rate, burst, quota)


def parse_client_apps(text: str) -> tuple[ClientApp, ...]:
    """A comma-separated list of ``ClientApp.parse`` texts; names are unique."""
    apps = tuple(ClientApp.parse(item) for item in text.split(",") if item.strip())
    names = [app.name for app in apps]
    if len(set(names)) != len(names):
        raise ValueError(f"each client application is named once, not {', '.join(names)}")
    return apps


class ClientLimits(Construct):
    """A key and a usage plan for each client application, on the API's stage.
    The methods' ``api_key_required`` is the API's to set (see ``JobsRestApi``)."""

    def __init__(self, scope: Construct, id: str, *, rest_api: apigateway.RestApi, apps: tuple[ClientApp, ...]) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        # By name; a deployment outputs the ids, never the values.
        self.keys: dict[str, apigateway.IApiKey] = {}
        for app in apps:
            key = rest_api.add_api_key(f"Key-{app.name}", api_key_name=f"{stack.stack_name}-{app.name}")
            plan = rest_api.add_usage_plan(
                f"Plan-{app.name}",
                name=f"{stack.stack_name}-{app.name}",
                description=f"The limits of client application {app.name}",
                throttle=apigateway.ThrottleSettings(rate_limit=app.rate, burst_limit=app.burst),
                quota=apigateway.QuotaSettings(limit=app.daily_quota, period=apigateway.Period.DAY),
            )
            plan.add_api_stage(stage=rest_api.deployment_stage)
            plan.add_api_key(key)
            self.keys[app.name] = key
