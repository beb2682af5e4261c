"""Depths of the work queue and its DLQ, for Flower's queue page (its broker page has no SQS).

``queue_depths(settings)`` returns one dict per queue: ``visible`` (waiting), ``in_flight``
(received, not yet deleted), ``delayed`` (retries waiting out their delay) from SQS's
approximate counts, and ``oldest_age_s`` from CloudWatch's ApproximateAgeOfOldestMessage
(the only source that does not disturb messages; ``None`` when CloudWatch has no recent
datapoint, which is always the case on the emulator).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from audio_tasks import aws
from audio_tasks.settings import Settings

_COUNTS = {"visible": "ApproximateNumberOfMessages", "in_flight": "ApproximateNumberOfMessagesNotVisible",
           "delayed": "ApproximateNumberOfMessagesDelayed"}


def queue_depths(settings: Settings) -> list[dict]:
    sqs, cloudwatch = aws.client("sqs", settings), aws.client("cloudwatch", settings)
    urls = {settings.queue_name: settings.queue_url or sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"],
            settings.dlq_name: settings.dlq_url or sqs.get_queue_url(QueueName=settings.dlq_name)["QueueUrl"]}
    rows = []
    for name, url in urls.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_COUNTS.values()))["Attributes"]
        rows.append({"queue": name, "url": url, **{key: int(attributes[attr]) for key, attr in _COUNTS.items()},
                     "oldest_age_s": _oldest_age(cloudwatch, name)})
    return rows


def _oldest_age(cloudwatch, queue_name: str) -> float | None:
    now = datetime.now(timezone.utc)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=["Maximum"])["Datapoints"]
    return max(points, key=lambda p: p["Timestamp"])["Maximum"] if points else None
