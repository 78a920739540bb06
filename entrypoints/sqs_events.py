"""Messages as the SQS event source hands them to a Lambda function."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def queue_arn(queue_url: str, region: str) -> str:
    """The ARN of the queue at ``queue_url`` (``.../<account>/<name>``)."""
    account, name = urlsplit(queue_url).path.strip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def sqs_event(messages: list[dict[str, Any]], queue_url: str, region: str = "us-east-1") -> dict[str, Any]:
    """Messages from ``receive_message`` as a Lambda function gets them."""
    arn = queue_arn(queue_url, region)
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1")},
                "messageAttributes": {
                    k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
