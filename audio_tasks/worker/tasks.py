"""The Celery task shell: message in, ``SampleJob`` run, ack/retry/dead-letter out.

Decisions come from ``audio_tasks.worker.retry_policy``; this module only applies them
(in a pool process): run the job, retry a transient failure through an SQS-delayed new
message, and once attempts are exhausted publish the job to the dead-letter queue and
record the sample FAILED with the last error. A sample that ends FAILED raises
``JobFailed`` (its code and message), so Celery events and Flower show the task as
FAILURE; ``JobRequest`` acks it all the same. The main process's side of a message —
argument checks, lost workers, the hard time limit, revokes — is ``JobRequest``'s.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from kombu import Queue

from audio_tasks.celery import app
from audio_tasks.errors import JobFailed, TransientError
from audio_tasks.logs import job_context
from audio_tasks.message import TASK_NAME, JobArguments
from audio_tasks.vocabulary import Status
from audio_tasks.worker.context import current
from audio_tasks.worker.extensions import REQUEST
from audio_tasks.worker.retry_policy import RetryPolicy

log = logging.getLogger(__name__)


@app.task(bind=True, name=TASK_NAME, Request=REQUEST, throws=(JobFailed,))
def process_sample(self, sample_id: str, bucket: str, key: str, options: dict | None = None) -> Status:
    """Process the sample whose input is s3://bucket/key; returns COMPLETED or raises JobFailed.

    ``options``: the job's own audio choices, e.g. {"preset": "streaming"} (``audio_tasks.message``).
    """
    with job_context(str(sample_id), self.request.id):
        try:
            status = current().job.run(JobArguments(sample_id, bucket, key, options))
        except TransientError as error:
            _retry_or_dead_letter(self, sample_id, error)  # raises Retry, or JobFailed once exhausted
        if status == Status.FAILED:  # failed now, or already (a redelivery): the record has the reason
            error = current().job.records.get(sample_id)["error"]
            raise JobFailed(error["code"], error["message"])
        return status


def _retry_or_dead_letter(task, sample_id: str, error: TransientError) -> NoReturn:
    context, attempt = current(), task.request.retries + 1
    delay = RetryPolicy.from_settings(context.settings).next_delay(attempt)
    if delay is not None:
        log.warning("attempt %d of %d failed: %s; retrying in %d s", attempt, context.settings.max_attempts,
                    error.message, delay, extra={"event": "retry", "error": error.as_dict(), "attempt": attempt})
        context.job.records.requeue(sample_id)
        # A new message hidden by SQS DelaySeconds; countdown=0 keeps Celery from holding an ETA.
        raise task.retry(exc=error, countdown=0, delay_seconds=delay, max_retries=None)
    final = {"code": error.code, "message": f"{error.message} (gave up after {attempt} attempts)"}
    log.error("gave up: %s; the job goes to the dead-letter queue", final["message"],
              extra={"event": "dead_lettered", "error": final, "attempt": attempt})
    dlq_name = context.settings.dlq_name
    task.apply_async(args=task.request.args, kwargs=task.request.kwargs, task_id=task.request.id,
                     queue=Queue(dlq_name, routing_key=dlq_name))  # published there, never consumed here
    context.job.records.fail(sample_id, final)
    raise JobFailed(final["code"], final["message"])
