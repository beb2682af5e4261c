"""The work queue and its dead-letter queue: URLs, the redrive policy, a received message's visibility."""

from __future__ import annotations

import json
import logging

from audio_tasks import aws
from audio_tasks.settings import Settings

log = logging.getLogger(__name__)


def work_queue_url(settings: Settings, sqs=None) -> str:
    """``SQS_QUEUE_URL``, or (local mode) the URL of the queue named ``SQS_QUEUE_NAME``."""
    if settings.queue_url:
        return settings.queue_url
    return (sqs or aws.client("sqs", settings)).get_queue_url(QueueName=settings.queue_name)["QueueUrl"]


def dead_letter_queue_url(settings: Settings, sqs=None) -> str:
    """``SQS_DLQ_URL``, or (local mode) the URL of the queue named ``<queue>-dlq``."""
    if settings.dlq_url:
        return settings.dlq_url
    return (sqs or aws.client("sqs", settings)).get_queue_url(QueueName=settings.dlq_name)["QueueUrl"]


def read_max_receive_count(settings: Settings, sqs) -> int | None:
    """The work queue's ``maxReceiveCount``, or None if it has no redrive policy (no DLQ)."""
    attributes = sqs.get_queue_attributes(QueueUrl=work_queue_url(settings, sqs),
                                          AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attributes.get("RedrivePolicy")
    return int(json.loads(policy)["maxReceiveCount"]) if policy else None


def set_visibility(sqs, message, seconds: int) -> bool:
    """ChangeMessageVisibility on a received kombu ``message``; False (logged) if it failed."""
    info = message.delivery_info
    receipt = (info.get("sqs_message") or {}).get("ReceiptHandle")
    if not (receipt and info.get("sqs_queue")):
        return False
    try:
        sqs.change_message_visibility(QueueUrl=info["sqs_queue"], ReceiptHandle=receipt, VisibilityTimeout=seconds)
    except Exception as exc:  # an expired receipt handle, a network error: SQS decides later
        log.warning("could not set the visibility of message %s to %d s: %s",
                    (info.get("sqs_message") or {}).get("MessageId"), seconds, exc)
        return False
    return True


def release(sqs, message) -> bool:
    """Make a received message visible again at once (counts as a receive for the DLQ)."""
    return set_visibility(sqs, message, 0)


def receive_count(message) -> int:
    """How many times SQS has delivered this kombu ``message`` (0 if unknown)."""
    attributes = (message.delivery_info.get("sqs_message") or {}).get("Attributes") or {}
    return int(attributes.get("ApproximateReceiveCount", 0))
