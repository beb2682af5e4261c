"""Remove the monitoring queues and SNS subscriptions of processes that did not exit cleanly.

A monitoring queue (events, pidbox, reply: ``<MONITORING_PREFIX>...``) carries a lease
tag its consumer renews while polling (``audio_tasks.monitoring.transport``). ``sweep``
deletes the queues whose lease ran out, then every SQS subscription on the monitoring SNS
topics whose queue no longer exists. Run by ``audio-tasks janitor`` and at Flower start;
safe beside live consumers (their leases are current).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from audio_tasks import aws
from audio_tasks.monitoring.transport import LEASE_S, LEASE_TAG
from audio_tasks.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sweep:
    queues_deleted: list[str]
    queues_kept: list[str]
    subscriptions_deleted: list[str]


def sweep(settings: Settings, now: float | None = None) -> Sweep:
    now = time.time() if now is None else now
    sqs, sns = aws.client("sqs", settings), aws.client("sns", settings)
    deleted, kept = [], []
    for url in _queue_urls(sqs, settings.monitoring_prefix):
        if _lease_end(sqs, url) < now:
            sqs.delete_queue(QueueUrl=url)
            deleted.append(url.rsplit("/", 1)[-1])
        else:
            kept.append(url.rsplit("/", 1)[-1])
    unsubscribed = []
    for topic_arn in _topic_arns(sns, settings.monitoring_prefix):
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for subscription in page["Subscriptions"]:
                queue = subscription["Endpoint"].rsplit(":", 1)[-1]
                if subscription["Protocol"] == "sqs" and not _queue_exists(sqs, queue):
                    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
                    unsubscribed.append(subscription["SubscriptionArn"])
    result = Sweep(deleted, kept, unsubscribed)
    log.info("janitor: deleted %d stale monitoring queues and %d subscriptions; %d queues are live",
             len(deleted), len(unsubscribed), len(kept))
    return result


def _queue_urls(sqs, prefix: str) -> list[str]:
    urls = []
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
        urls.extend(page.get("QueueUrls", []))
    return urls


def _topic_arns(sns, prefix: str) -> list[str]:
    arns = []
    for page in sns.get_paginator("list_topics").paginate():
        arns.extend(t["TopicArn"] for t in page["Topics"] if t["TopicArn"].rsplit(":", 1)[-1].startswith(prefix))
    return arns


def _queue_exists(sqs, name: str) -> bool:
    """Asked one by one: a queue created since the listing above is live, not stale."""
    try:
        sqs.get_queue_url(QueueName=name)
        return True
    except sqs.exceptions.QueueDoesNotExist:
        return False


def _lease_end(sqs, url: str) -> float:
    """The queue's lease tag, or (untagged: not made by us) its creation time plus a lease."""
    tag = sqs.list_queue_tags(QueueUrl=url).get("Tags", {}).get(LEASE_TAG)
    if tag is not None and tag.isdigit():
        return float(tag)
    created = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])["Attributes"]
    return float(created["CreatedTimestamp"]) + LEASE_S
