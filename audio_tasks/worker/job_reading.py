"""The worker's SQS channel reading the work queue's raw bodies through ``audio_tasks.inbound``.

kombu turns every SQS body into a message payload in ``Channel._message_to_python``
(private, kombu 5.7: tests/test_upstream_fences.py pins it) and trusts what it finds.
Reproduced against the emulator, one message each ended a worker with "Unrecoverable
error": a 200 KB body of ``[[[…`` (RecursionError in kombu's JSON parse), a task name or id
that is a list or an object (``unhashable type``), headers or properties that are not
objects, a ``timelimit`` that is a string, a body that is not base64, a content type that is
a list, and a routing key naming another queue (kombu acks through the queue the *body*
names: ``UndefinedQueueException``). Here, on the work queue (transport option
``job_queue``):

- a job, in any shape ``inbound.read`` accepts (Celery envelope, plain JSON, S3 event), is
  handed to Celery as an envelope built here from what was read: the task name, task id,
  retry count and arguments; every other header of a sender's envelope is dropped. A
  well-formed call of another task is handed over the same way: Celery runs it if the
  worker registers that task (the benchmarks' app does) and otherwise gives it to the
  consumer's ``on_unknown_task``;
- anything else is handed on as an empty message without headers, which Celery gives to
  the consumer's ``on_unknown_message`` (``audio_tasks.worker.consumer`` reads the body
  again, logs it and dead-letters it, or acks an S3 test event);
- ``delivery_info`` always names the queue the message came from.

On other queues (the monitoring transport's event, control and reply queues) kombu's own
reading runs, but only on a body that is a well-formed kombu envelope; any other body
becomes the same empty message.
"""

from __future__ import annotations

import json
from functools import cached_property

from kombu.transport import SQS as sqs

from audio_tasks import inbound, logs
from audio_tasks.aws.sqs_messages import read
from audio_tasks.message import TASK_NAME

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class JobReadingChannel(sqs.Channel):
    """An SQS channel whose work queue yields only well-formed jobs (see the module doc)."""

    @cached_property
    def job_queue(self) -> str | None:
        # Read once: a channel closed by a reset can still be handed the answer of a receive it
        # had started, and by then it has no transport options to read.
        return self.transport_options.get("job_queue")

    def _message_to_python(self, message, queue_name, q_url):
        if queue_name != self.job_queue and inbound.is_kombu_envelope(message.get("Body")):
            return super()._message_to_python(message, queue_name, q_url)
        payload = _payload(read(message) if queue_name == self.job_queue else None)
        if queue_name in self._noack_queues:
            self._delete_message(queue_name, message)
        payload["properties"].update(
            delivery_tag=message["ReceiptHandle"],
            delivery_info={"exchange": "", "routing_key": queue_name, "sqs_message": message, "sqs_queue": q_url})
        return payload


def _payload(reading: inbound.Reading | None) -> dict:
    """What Celery is handed: a task's envelope, or an empty message without headers (not a task)."""
    match reading:
        case inbound.Job():
            return celery_envelope(TASK_NAME, reading.task_id, reading.retries, *reading.arguments.call(),
                                   origin=f"sqs:{reading.shape}")
        case inbound.OtherTask():
            return celery_envelope(reading.task, reading.task_id, reading.retries, reading.args, reading.kwargs)
    return {"body": "", "properties": {}}


def celery_envelope(task: str, task_id: str, retries: int, args: list, kwargs: dict, origin: str = "sqs") -> dict:
    """A Celery (protocol 2) envelope of this call, as ``apply_async`` would make it, with nothing else in it."""
    headers = {"lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None, "expires": None,
               "group": None, "group_index": None, "retries": retries, "timelimit": [None, None],
               "root_id": task_id, "parent_id": None, "argsrepr": logs.cut(repr(args), 1024),
               "kwargsrepr": logs.cut(repr(kwargs), 1024), "origin": origin, "ignore_result": True,
               "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {}}
    return {"body": json.dumps([args, kwargs, _EMBED]), "content-encoding": "utf-8",
            "content-type": "application/json", "headers": headers,
            "properties": {"correlation_id": task_id, "reply_to": "", "delivery_mode": 2, "priority": 0}}
