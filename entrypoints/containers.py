"""The composition root: the one place that knows every concrete class.

Three groups, each a container: ``AwsPorts`` (the ports as AWS and the
Lambda runtime provide them), ``UseCases`` (the domain's use cases, each a
factory over a ports dependency) and ``Container`` (what the three Lambda
handlers run). Tests, the simulation and the chaos run override the ports
once, as a group, and get use cases wired by this same code.

Built once per cold start. Creating boto3 clients makes no AWS call; the
endpoint, region and credentials come from boto3's own environment
settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SQS``, ``AWS_DEFAULT_REGION``...),
so the same code runs on AWS, on an emulator and behind a proxy.
"""

from __future__ import annotations

import functools
import logging
import os
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
from botocore.config import Config
from dependency_injector import containers, providers

from adapters.dynamodb_repository import DynamoDbJobRepository
from adapters.emf_metrics import EmfMetrics
from adapters.eventbridge_bus import EventBridgeBus
from adapters.json_logging import configure as configure_logging
from adapters.runtime import SystemClock, SystemSleeper, UuidIds
from adapters.secret_key import SECRETS_CONFIG, JobIdKeys, read_secret_string
from adapters.sqs_publisher import SqsJobPublisher, sqs_config
from adapters.sqs_visibility import SqsVisibility
from domain.announce import Announcer, log_event_attempt
from domain.answers import RetryAfter
from domain.cancel import CancelJob
from domain.enqueue import EnqueueJob, EnqueueSettings, SendAttemptLog
from domain.job import Retention
from domain.reconcile import ReconcileSettings, ReconcileStuckJobs
from domain.retry import Retrier, RetryPolicy
from domain.store_retrier import StoreRetrier, log_store_attempt
from domain.work import ProcessJobMessage, WorkSettings
from entrypoints.batch_worker import SqsBatchWorker
from entrypoints.config import Settings, checked_job_id_key, load_handlers
from entrypoints.cursors import Cursors
from entrypoints.jobs_api import JobsApi
from entrypoints.scheduled_reconciler import ScheduledReconciler
from ports.events import EventPutFailed
from ports.handlers import Handlers
from ports.publisher import SendFailed
from ports.repository import StoreFailed

log = logging.getLogger("jobs.api")


def _dynamodb_config(settings: Settings) -> Config:
    # Off for the same reason as SQS: a write botocore repeats after a read
    # timeout is invisible to the code that must recognise its own write.
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.dynamodb_connect_timeout_s,
        read_timeout=settings.dynamodb_read_timeout_s,
    )


def _send_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.send_max_attempts,
        base_delay_s=settings.send_base_delay_ms / 1000,
        max_delay_s=settings.send_max_delay_ms / 1000,
        attempt_timeout_s=settings.sqs_connect_timeout_s + settings.sqs_read_timeout_s,
    )


def _store_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.store_max_attempts,
        base_delay_s=settings.store_base_delay_ms / 1000,
        max_delay_s=settings.store_max_delay_ms / 1000,
        attempt_timeout_s=settings.dynamodb_connect_timeout_s + settings.dynamodb_read_timeout_s,
    )


def _job_id_keys(settings: Settings, secrets: Callable[[], Any]) -> JobIdKeys:
    """JOB_ID_KEY, or the keys the secret JOB_ID_KEY_SECRET holds: one call,
    made when the API's use cases are first built, and kept for the
    environment's life."""
    if settings.job_id_key_secret is None:
        return JobIdKeys(settings.job_id_key)
    source = f"the secret {settings.job_id_key_secret} (JOB_ID_KEY_SECRET)"
    keys = JobIdKeys.parse(read_secret_string(secrets(), settings.job_id_key_secret), source)
    for key in (keys.current, keys.other):
        if key is not None:
            checked_job_id_key(key, source)
    # Which phase this environment is in, so that a rotation can be followed in the logs.
    log.info("job-id key read", extra={"secret": settings.job_id_key_secret, "rotation_phase": keys.phase})
    return keys


def _type_check(settings: Settings, handlers: Callable[[], Handlers]) -> Callable[[str], bool] | None:
    """What the API asks of a type at intake: only where the deployment
    refuses unknown types does it load the handlers at all."""
    return handlers().knows if settings.reject_unknown_types else None


class AwsPorts(containers.DeclarativeContainer):
    """Every port, as AWS and the Lambda runtime provide it. A test's,
    the simulation's or the chaos run's group replaces this one whole."""

    settings = providers.Dependency(instance_of=Settings)

    session = providers.Singleton(boto3.session.Session)
    sqs_client = providers.Singleton(
        lambda session, settings: session.client(
            "sqs",
            config=sqs_config(
                connect_timeout_s=settings.sqs_connect_timeout_s, read_timeout_s=settings.sqs_read_timeout_s
            ),
        ),
        session,
        settings,
    )
    dynamodb_client = providers.Singleton(
        lambda session, settings: session.client("dynamodb", config=_dynamodb_config(settings)),
        session,
        settings,
    )
    # PutEvents follows the store's timeouts (and, in UseCases, its retries).
    events_client = providers.Singleton(
        lambda session, settings: session.client("events", config=_dynamodb_config(settings)),
        session,
        settings,
    )

    secrets_client = providers.Singleton(
        lambda session: session.client("secretsmanager", config=SECRETS_CONFIG), session
    )

    clock = providers.Singleton(SystemClock)
    sleeper = providers.Singleton(SystemSleeper)
    job_id_keys = providers.Singleton(_job_id_keys, settings, secrets_client.provider)
    ids = providers.Singleton(
        lambda keys: UuidIds(keys.current, keys.other),
        job_id_keys,
    )
    rng = providers.Singleton(random.Random)
    metrics = providers.Singleton(EmfMetrics, service="job-intake")
    jobs = providers.Singleton(
        DynamoDbJobRepository,
        client=dynamodb_client,
        table_name=settings.provided.table_name,
        clock=clock,
        retention=providers.Factory(Retention, settings.provided.job_retention),
    )
    publisher = providers.Singleton(SqsJobPublisher, client=sqs_client, queue_url=settings.provided.queue_url)
    visibility = providers.Singleton(SqsVisibility, client=sqs_client, queue_url=settings.provided.queue_url)
    bus = providers.Singleton(EventBridgeBus, client=events_client, bus_name=settings.provided.event_bus_name)
    # The deployment's handlers, by job type (JOB_HANDLERS): user code,
    # imported only by the functions that build what needs it.
    handlers = providers.Singleton(load_handlers, settings.provided.job_handlers)


class UseCases(containers.DeclarativeContainer):
    """The domain's use cases over a group of ports. Each is a factory: a
    build makes new use cases and retriers, and shares the group's ports."""

    settings = providers.Dependency(instance_of=Settings)
    ports = providers.DependenciesContainer()

    # The use cases' settings, each a provider of its own: tests on fakes
    # override these, not the wiring below.
    store_policy = providers.Callable(_store_policy, settings)
    send_policy = providers.Callable(_send_policy, settings)
    enqueue_settings = providers.Callable(
        lambda settings: EnqueueSettings(
            deadline_margin=settings.deadline_margin,
            retry_after=RetryAfter(queue_s=settings.retry_after_s, store_s=settings.store_retry_after_s),
        ),
        settings,
    )
    reconcile_settings = providers.Callable(
        lambda settings: ReconcileSettings(
            grace=timedelta(seconds=settings.reconcile_grace_seconds),
            message_retention=timedelta(seconds=settings.message_retention_seconds),
            batch_limit=settings.reconcile_batch_size,
            margin=settings.deadline_margin,
            event_grace=timedelta(seconds=settings.reconcile_grace_seconds),
        ),
        settings,
    )
    work_settings = providers.Callable(
        lambda settings: WorkSettings(
            max_attempts=settings.job_max_attempts,
            margin=settings.deadline_margin,
            retry_base_delay=timedelta(seconds=settings.job_retry_base_delay_s),
            retry_max_delay=timedelta(seconds=settings.job_retry_max_delay_s),
            max_result_bytes=settings.max_result_bytes,
        ),
        settings,
    )

    # One retrier per port, each with its own policy and its named hook.
    store_retrier = providers.Factory(
        StoreRetrier,
        providers.Factory(
            Retrier,
            store_policy,
            ports.clock,
            ports.sleeper,
            ports.rng,
            retried=StoreFailed,
            hook=log_store_attempt,
        ),
    )
    send_retrier = providers.Factory(
        Retrier,
        send_policy,
        ports.clock,
        ports.sleeper,
        ports.rng,
        retried=SendFailed,
        hook=providers.Factory(SendAttemptLog, metrics=ports.metrics),
    )
    # The bus is retried as the store is: its policy and its timeouts.
    event_retrier = providers.Factory(
        Retrier,
        store_policy,
        ports.clock,
        ports.sleeper,
        ports.rng,
        retried=EventPutFailed,
        hook=log_event_attempt,
    )
    announcer = providers.Factory(
        Announcer,
        jobs=ports.jobs,
        bus=ports.bus,
        store_retrier=store_retrier,
        event_retrier=event_retrier,
        metrics=ports.metrics,
    )

    enqueue_job = providers.Factory(
        EnqueueJob,
        jobs=ports.jobs,
        publisher=ports.publisher,
        store_retrier=store_retrier,
        send_retrier=send_retrier,
        clock=ports.clock,
        ids=ports.ids,
        metrics=ports.metrics,
        settings=enqueue_settings,
    )
    cancel_job = providers.Factory(
        CancelJob,
        jobs=ports.jobs,
        store_retrier=store_retrier,
        announce=announcer,
        clock=ports.clock,
        metrics=ports.metrics,
        settings=enqueue_settings,
    )
    reconcile_stuck_jobs = providers.Factory(
        ReconcileStuckJobs,
        jobs=ports.jobs,
        store_retrier=store_retrier,
        announce=announcer,
        clock=ports.clock,
        metrics=ports.metrics,
        settings=reconcile_settings,
    )
    process_job_message = providers.Factory(
        ProcessJobMessage,
        jobs=ports.jobs,
        store_retrier=store_retrier,
        clock=ports.clock,
        ids=ports.ids,
        handlers=ports.handlers,
        announce=announcer,
        rng=ports.rng,
        metrics=ports.metrics,
        settings=work_settings,
    )


class Container(containers.DeclarativeContainer):
    """What the three Lambda handlers run, over the use cases and the ports."""

    settings = providers.Singleton(Settings.from_env, os.environ)
    ports = providers.Container(AwsPorts, settings=settings)
    use_cases = providers.Container(UseCases, settings=settings, ports=ports)

    jobs_api = providers.Singleton(
        JobsApi,
        enqueue_job=use_cases.enqueue_job,
        jobs=ports.jobs,
        clock=ports.clock,
        max_body_bytes=settings.provided.max_body_bytes,
        metrics=ports.metrics,
        known_type=providers.Callable(_type_check, settings, ports.handlers.provider),
        caller_scope=settings.provided.caller_scope,
        cancel_job=use_cases.cancel_job,
        # Sealed with the job-id key (read, like the ids', at the first request).
        cursors=providers.Factory(
            lambda keys: Cursors([key for key in (keys.current, keys.other) if key]), ports.job_id_keys
        ),
    )
    batch_worker = providers.Singleton(
        SqsBatchWorker,
        process=use_cases.process_job_message,
        postpone=ports.visibility.provided.postpone,
        clock=ports.clock,
        metrics=ports.metrics,
    )
    scheduled_reconciler = providers.Singleton(
        ScheduledReconciler, reconcile=use_cases.reconcile_stuck_jobs, clock=ports.clock, metrics=ports.metrics
    )


@functools.cache
def cold_start() -> Container:
    """The object graph, built once per Lambda execution environment.

    A missing or malformed setting raises here, on the first invocation,
    naming the variable.
    """
    container = Container()
    configure_logging(container.settings().log_level)
    return container
