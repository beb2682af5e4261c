"""Messages that cannot become a job are rejected, logged and dead-lettered — never run.

Celery's consumer acks an undecodable message (it is lost) and rejects the other bad
ones, which kombu leaves on a queue with a redrive policy until its visibility timeout
expires (15 min per receive in production). ``Consumer`` (``worker_consumer`` in
celeryconfig) logs every such message once per receive with its SQS message id and
receive count, and makes it visible again at once, so SQS dead-letters it after
``maxReceiveCount`` receives within seconds. Covered: malformed JSON, a refused content
type (pickle), an unknown task name, and arguments that do not fit the task
(``InvalidTaskError`` raised by ``audio_tasks.worker.request.JobRequest``).

It also takes the worker's event heartbeat interval from ``EVENT_HEARTBEAT_SECONDS`` when
``--heartbeat-interval`` is not given (Celery's default is 2 s: five times the events).
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer as CeleryConsumer

from audio_tasks.aws.queues import release
from audio_tasks.aws.sqs_messages import describe
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
        _reject(message, ErrorCode.UNKNOWN_MESSAGE, None)

    def on_unknown_task(self, body, message, exc):
        _reject(message, ErrorCode.UNKNOWN_TASK, exc)

    def on_invalid_task(self, body, message, exc):
        _reject(message, ErrorCode.INVALID_MESSAGE, exc)


def _reject(message, code: ErrorCode, exc: BaseException | None) -> None:
    sqs_message = message.delivery_info.get("sqs_message") or {}
    info = describe(sqs_message)
    reason = info["problem"] or (f"{type(exc).__name__}: {exc}" if exc else "not a task message")
    error = {"code": code, "message": reason, "message_id": info["message_id"],
             "receive_count": info["receive_count"]}
    with job_context(info["sample_id"], info["task_id"]):
        log.error("rejected message %s (receive %d): %s; it is not executed and goes to the DLQ "
                  "after maxReceiveCount receives", info["message_id"], info["receive_count"], reason,
                  extra={"event": "message_rejected", "error": error})
    release(current().sqs, message)  # if this fails, SQS redelivers it one visibility timeout later
    message.reject_log_error(log, (Exception,))
