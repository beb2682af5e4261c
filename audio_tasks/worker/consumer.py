"""Messages that are not a job: S3's test event acked, S3 batches split, the rest dead-lettered.

The work queue's transport (``audio_tasks.worker.transport``) hands Celery every message
that is not a job as an empty message without headers, which Celery gives to
``on_unknown_message``. ``Consumer`` (``worker_consumer`` in celeryconfig) reads the raw
body again (``audio_tasks.aws.sqs_messages``) and

- acks an ``s3:TestEvent`` (S3 sends one when a notification is configured) with one log line;
- sends each record of a multi-record S3 event on as a message of its own, then acks it;
- rejects anything else: one log line per receive with its SQS message id, receive count,
  error code and reason, and the message made visible again at once, so SQS dead-letters it
  after ``maxReceiveCount`` receives within seconds (Celery would ack an undecodable message,
  losing it, and kombu would leave the others hidden for the visibility timeout, 15 min in
  production). Never executed: malformed JSON, a refused content type (pickle), an unknown
  task name, arguments that do not fit the task, hostile headers (see the transport).

Celery's other handlers (decode errors, unknown tasks, ``InvalidTaskError`` raised by
``audio_tasks.worker.request.JobRequest``) reject the same way; the transport leaves
them nothing to catch on the work queue, so they are a second line only.

It also takes the worker's event heartbeat interval from ``EVENT_HEARTBEAT_SECONDS`` when
``--heartbeat-interval`` is not given (Celery's default is 2 s: five times the events).
"""

from __future__ import annotations

import json
import logging

from celery.worker.consumer import Consumer as CeleryConsumer

from audio_tasks import inbound
from audio_tasks.aws.queues import release
from audio_tasks.aws.sqs_messages import describe, read
from audio_tasks.logs import job_context
from audio_tasks.vocabulary import ErrorCode
from audio_tasks.worker.context import current

log = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    """Celery's consumer, with the bad-message handlers replaced as described above."""

    def __init__(self, *args, worker_options=None, **kwargs):
        options = dict(worker_options or {})
        options["heartbeat_interval"] = options.get("heartbeat_interval") or current().settings.event_heartbeat_s
        super().__init__(*args, worker_options=options, **kwargs)

    def on_decode_error(self, message, exc):
        _reject(message, ErrorCode.UNDECODABLE_MESSAGE, exc)

    def on_unknown_message(self, body, message):
        sqs_message = _sqs_message(message)
        reading = read(sqs_message)
        if isinstance(reading, inbound.S3TestEvent):
            log.info("acknowledged message %s: an s3:TestEvent for bucket %s, sent when its notifications were "
                     "configured; not a job", sqs_message.get("MessageId"), reading.bucket,
                     extra={"event": "s3_test_event"})
            message.ack_log_error(log, (Exception,))
        elif isinstance(reading, inbound.S3Records):
            _split(message, sqs_message, reading.records)
        else:
            _reject(message, ErrorCode.UNKNOWN_MESSAGE, None, reading)

    def on_unknown_task(self, body, message, exc):
        _reject(message, ErrorCode.UNKNOWN_TASK, exc)

    def on_invalid_task(self, body, message, exc):
        _reject(message, ErrorCode.INVALID_MESSAGE, exc)


def _sqs_message(message) -> dict:
    return message.delivery_info.get("sqs_message") or {}


def _split(message, sqs_message: dict, records: tuple[dict, ...]) -> None:
    """Send each record on as an S3 event of its own, then ack; on a failure, release (all are resent)."""
    try:
        for record in records:
            current().sqs.send_message(QueueUrl=message.delivery_info["sqs_queue"],
                                       MessageBody=json.dumps({"Records": [record]}))
    except Exception as exc:  # SQS redelivers the whole event; records sent twice name the same samples
        log.warning("could not split message %s, an S3 event of %d records: %s; it will be received again",
                    sqs_message.get("MessageId"), len(records), exc, extra={"event": "s3_event_split_failed"})
        _release(message)
        return
    log.info("split message %s, an S3 event of %d records, into one message per record",
             sqs_message.get("MessageId"), len(records), extra={"event": "s3_event_split"})
    message.ack_log_error(log, (Exception,))


def _reject(message, code: ErrorCode, exc: BaseException | None, reading: inbound.Reading | None = None) -> None:
    info = describe(_sqs_message(message), reading)
    reason = info["problem"] or (f"{type(exc).__name__}: {exc}" if exc else "not a task message")
    error = {"code": info["code"] or code, "message": reason, "message_id": info["message_id"],
             "receive_count": info["receive_count"]}
    with job_context(info["sample_id"], info["task_id"]):
        log.error("rejected message %s (receive %d): %s; it is not executed and goes to the DLQ "
                  "after maxReceiveCount receives", info["message_id"], info["receive_count"], reason,
                  extra={"event": "message_rejected", "error": error})
    _release(message)


def _release(message) -> None:
    """Visible again at once (if this fails, SQS redelivers it one visibility timeout later); never deleted."""
    release(current().sqs, message)
    message.reject_log_error(log, (Exception,))
