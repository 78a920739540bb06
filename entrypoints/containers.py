"""The composition root: the one place that knows every concrete class.

Built once per cold start. Creating boto3 clients makes no AWS call; the
endpoint, region and credentials come from boto3's own environment
settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SQS``, ``AWS_DEFAULT_REGION``...),
so the same code runs on AWS, on an emulator and behind a proxy.
"""

from __future__ import annotations

import functools
import os
import random
from datetime import timedelta

import boto3
from botocore.config import Config
from dependency_injector import containers, providers

from adapters.dynamodb_repository import DynamoDbJobRepository
from adapters.emf_metrics import EmfMetrics
from adapters.job_steps import NoStep
from adapters.json_logging import configure as configure_logging
from adapters.runtime import SystemClock, SystemSleeper, UuidIds
from adapters.sqs_publisher import SqsJobPublisher, sqs_config
from domain.enqueue import EnqueueJob, EnqueueSettings
from domain.job import Retention
from domain.reconcile import ReconcileSettings, ReconcileStuckJobs
from domain.retry import Retrier, RetryPolicy
from domain.store_retries import StoreRetries
from domain.work import ProcessJobMessage, WorkSettings
from entrypoints.batch_worker import SqsBatchWorker
from entrypoints.config import Settings
from entrypoints.jobs_api import JobsApi
from entrypoints.scheduled_reconciler import ScheduledReconciler


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


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings.from_env, os.environ)

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

    clock = providers.Singleton(SystemClock)
    sleeper = providers.Singleton(SystemSleeper)
    ids = providers.Singleton(UuidIds, secret=settings.provided.job_id_key)
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
    # The use cases' settings, each a provider of its own: tests on fakes
    # override these, not the wiring below.
    store_policy = providers.Callable(_store_policy, settings)
    send_policy = providers.Callable(_send_policy, settings)
    enqueue_settings = providers.Callable(
        lambda settings: EnqueueSettings(
            deadline_margin=settings.deadline_margin, retry_after_s=settings.retry_after_s
        ),
        settings,
    )
    reconcile_settings = providers.Callable(
        lambda settings: ReconcileSettings(
            grace=timedelta(seconds=settings.reconcile_grace_seconds),
            message_retention=timedelta(seconds=settings.message_retention_seconds),
            batch_limit=settings.reconcile_batch_size,
            margin=settings.deadline_margin,
        ),
        settings,
    )
    work_settings = providers.Callable(
        lambda settings: WorkSettings(max_claims=settings.worker_max_claims, margin=settings.deadline_margin),
        settings,
    )

    store_retries = providers.Singleton(StoreRetries, policy=store_policy, clock=clock, sleeper=sleeper, rng=rng)
    send_retrier = providers.Singleton(Retrier, policy=send_policy, clock=clock, sleeper=sleeper, rng=rng)
    enqueue_job = providers.Singleton(
        EnqueueJob,
        jobs=jobs,
        publisher=publisher,
        retries=store_retries,
        sends=send_retrier,
        clock=clock,
        ids=ids,
        metrics=metrics,
        settings=enqueue_settings,
    )

    reconcile_stuck_jobs = providers.Singleton(
        ReconcileStuckJobs,
        jobs=jobs,
        retries=store_retries,
        clock=clock,
        metrics=metrics,
        settings=reconcile_settings,
    )

    # The worker's processing step: override this provider to plug one in.
    job_step = providers.Singleton(NoStep)
    process_job_message = providers.Singleton(
        ProcessJobMessage,
        jobs=jobs,
        retries=store_retries,
        clock=clock,
        ids=ids,
        step=job_step,
        metrics=metrics,
        settings=work_settings,
    )

    # What the three Lambda handlers run.
    jobs_api = providers.Singleton(
        JobsApi,
        enqueue_job=enqueue_job,
        jobs=jobs,
        clock=clock,
        max_body_bytes=settings.provided.max_body_bytes,
        metrics=metrics,
    )
    batch_worker = providers.Singleton(SqsBatchWorker, process=process_job_message, clock=clock, metrics=metrics)
    scheduled_reconciler = providers.Singleton(
        ScheduledReconciler, reconcile=reconcile_stuck_jobs, clock=clock, metrics=metrics
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
