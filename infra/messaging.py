"""The jobs queue and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5
# SQS's longest, for both queues: a message in the dead-letter queue keeps
# its first enqueue time, so a shorter DLQ retention would cut it short.
# The reconciler fails a job no worker took within this (MESSAGE_RETENTION_SECONDS).
MESSAGE_RETENTION = Duration.days(14)
# SQS's largest message: the domain checks each message against it.
MAX_MESSAGE_BYTES = 1_048_576


class JobQueues(Construct):
    def __init__(self, scope: Construct, id: str, *, worker_timeout: Duration) -> None:
        super().__init__(scope, id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=MESSAGE_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Jobs",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS's advice for Lambda consumers: at least six times the
            # function's timeout, so that retries within a batch fit.
            visibility_timeout=Duration.seconds(6 * worker_timeout.to_seconds()),
            max_message_size_bytes=MAX_MESSAGE_BYTES,
            retention_period=MESSAGE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
        )
