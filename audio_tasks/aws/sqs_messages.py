"""Raw SQS messages of the work queue and its DLQ described for logs and DLQ tools — never executed.

``describe`` takes a message as boto3's ReceiveMessage returns it and says what it is —
a job in any shape ``audio_tasks.inbound`` reads, or what is wrong with it — without
raising, whatever the body: the messages it reads are often the malformed ones.
"""

from __future__ import annotations

from datetime import datetime, timezone

from audio_tasks import inbound
from audio_tasks.message import JOB_FIELDS, OPTIONAL_FIELDS, TASK_NAME
from audio_tasks.vocabulary import ErrorCode


def read(message: dict) -> inbound.Reading:
    """What the message's body is (``inbound.read``, with the message id as a plain job's task id)."""
    message_id = message.get("MessageId")
    return inbound.read(message.get("Body", ""), message_id if isinstance(message_id, str) else "")


def describe(message: dict, reading: inbound.Reading | None = None) -> dict:
    """{message_id, receive_count, sent_at, shape, task, task_id, sample_id, args, code, problem}.

    ``problem`` is None for a job (``shape``: celery, json or s3), otherwise one sentence,
    with an error ``code`` when the message is refused. ``reading``: ``read(message)``, if
    the caller has it already.
    """
    attributes = message.get("Attributes") or {}
    reading = reading or read(message)
    info = {"message_id": message.get("MessageId"), "receive_count": _int(attributes.get("ApproximateReceiveCount")),
            "sent_at": _time(attributes.get("SentTimestamp")), "shape": None, "task": None, "task_id": None,
            "sample_id": None, "args": None, "code": None, "problem": None}
    match reading:
        case inbound.Job(arguments=job):
            info.update(shape=reading.shape, task=TASK_NAME, task_id=reading.task_id, sample_id=job.sample_id,
                        args={name: getattr(job, name) for name in JOB_FIELDS + OPTIONAL_FIELDS})
        case inbound.OtherTask():
            info.update(task=reading.task, task_id=reading.task_id, code=ErrorCode.UNKNOWN_TASK,
                        problem=f"unknown task {reading.task!r}: this queue's jobs are {TASK_NAME}")
        case inbound.Refused():
            info.update(task=reading.task, task_id=reading.task_id, sample_id=reading.sample_id, code=reading.code,
                        problem=reading.reason)
        case inbound.S3TestEvent():
            info.update(shape="s3", problem="an s3:TestEvent (S3 checking the notification), not a job")
        case inbound.S3Records():
            info.update(shape="s3", problem=f"an S3 event with {len(reading.records)} records, not yet one "
                                            "message per record")
    return info


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _time(epoch_ms) -> str | None:
    try:
        return datetime.fromtimestamp(int(epoch_ms) / 1000, timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return None
