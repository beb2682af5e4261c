"""The Celery task shell: message in, ``SampleJob`` run, ack/retry/dead-letter out.

Decisions come from ``audio_tasks.worker.retry_policy``; this module only applies them:

- ``JobRequest`` (the worker's main process) refuses a message whose arguments do not fit
  the task before anything runs, records FAILED (``time_limit``) a job killed by the hard
  time limit, and, when the pool process running a job dies on the delivery that reaches
  ``maxReceiveCount``, records the sample FAILED (``worker_lost``) before SQS moves the
  message to the dead-letter queue.
- ``process_sample`` (a pool process) runs the job, retries a transient failure through
  an SQS-delayed new message, and once attempts are exhausted publishes the job to the
  dead-letter queue and records the sample FAILED with the last error.
"""

from __future__ import annotations

import inspect
import logging
from functools import lru_cache

from billiard.exceptions import WorkerLostError
from celery.exceptions import InvalidTaskError
from celery.worker.request import Request
from celery.worker.state import task_ready
from kombu import Queue

from audio_tasks.aws import queues
from audio_tasks.celery import app
from audio_tasks.errors import PermanentError, TransientError
from audio_tasks.job.sample_job import SampleJob
from audio_tasks.logs import job_context, remember_job
from audio_tasks.worker.retry_policy import RetryPolicy
from audio_tasks.settings import Settings
from audio_tasks.aws.sqs_messages import TASK_NAME

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def sample_job() -> SampleJob:
    """One set of adapters per worker process (boto3 clients are reused across jobs)."""
    return SampleJob(Settings.from_env())


class JobRequest(Request):
    """A received ``process_sample`` message, in the worker's main process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample_id = _sample_id(self.args, self.kwargs)
        self.released = False  # set by audio_tasks.worker.shutdown once it has released the message
        remember_job(self.id, self.sample_id)

    @property
    def message(self):
        """The kombu message (its ``delivery_info`` holds the SQS receipt handle)."""
        return self._message

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        if self.released:  # killed by the shutdown, which made the message visible itself
            task_ready(self)
            return None
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # unwrap ExceptionWithTraceback
        stopped_by_us = self._already_cancelled or self._already_revoked
        if isinstance(exc, WorkerLostError) or (isinstance(exc, SystemExit) and not stopped_by_us):
            self._on_worker_lost(exc)
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft, timeout):
        if not soft:  # the pool process was killed mid-job: the soft limit did not stop it
            self._fail({"code": "time_limit", "message": f"the job ran past TASK_TIME_LIMIT={timeout} s and was killed"})
        return super().on_timeout(soft, timeout)

    def _on_worker_lost(self, exc: BaseException) -> None:
        count, limit = queues.receive_count(self._message), queues.max_receive_count(sample_job().settings)
        with job_context(self.sample_id, self.id):
            if limit is None or count < limit:
                log.error("the pool process died running this job (delivery %d of %s): %s; SQS will "
                          "redeliver it", count, limit, exc, extra={"event": "worker_lost"})
                return
        self._fail({"code": "worker_lost", "receive_count": count,
                    "message": f"the worker process died running this job on delivery {count} of {limit} "
                               f"({exc}); the message goes to the dead-letter queue"})

    def _fail(self, error: dict) -> None:
        """Record the sample FAILED from the main process; a failure to do so is logged, not raised."""
        with job_context(self.sample_id, self.id):
            log.error("%s", error["message"], extra={"event": error["code"], "error": error})
            try:
                sample_job().records.fail(self.sample_id, error)
            except Exception:
                log.exception("could not record the sample FAILED")


def _sample_id(args, kwargs) -> str:
    """The job's sample id; InvalidTaskError (rejected, dead-lettered) if the arguments are bad."""
    try:
        bound = inspect.signature(process_sample.run).bind(*(args or ()), **(kwargs or {}))
    except TypeError as exc:
        raise InvalidTaskError(f"arguments do not fit {TASK_NAME}(sample_id, bucket, key): {exc}") from None
    bad = [name for name, value in bound.arguments.items() if not isinstance(value, str) or not value.strip()]
    if bad:
        raise InvalidTaskError(f"{TASK_NAME}: {', '.join(bad)} must be non-empty strings")
    return bound.arguments["sample_id"]


@app.task(bind=True, name=TASK_NAME, Request=JobRequest)
def process_sample(self, sample_id: str, bucket: str, key: str) -> str:
    """Process the sample whose input is s3://bucket/key; returns its final status."""
    with job_context(str(sample_id), self.request.id):
        try:
            return sample_job().run(sample_id, bucket, key)
        except TransientError as error:
            return _retry_or_dead_letter(self, sample_id, error)
        except PermanentError as error:
            # No record to mark (unknown sample): log it, ack it.
            log.error("rejected: %s", error.message, extra={"error": error.as_dict()})
            return "REJECTED"


def _retry_or_dead_letter(task, sample_id: str, error: TransientError) -> str:
    job, attempt = sample_job(), task.request.retries + 1
    delay = RetryPolicy.from_settings(job.settings).next_delay(attempt)
    if delay is not None:
        log.warning("attempt %d of %d failed: %s; retrying in %d s", attempt, job.settings.max_attempts,
                    error.message, delay, extra={"event": "retry", "error": error.as_dict(), "attempt": attempt})
        job.records.requeue(sample_id)
        # A new message hidden by SQS DelaySeconds; countdown=0 keeps Celery from holding an ETA.
        raise task.retry(exc=error, countdown=0, delay_seconds=delay, max_retries=None)
    final = {"code": error.code, "message": f"{error.message} (gave up after {attempt} attempts)"}
    log.error("gave up: %s; the job goes to the dead-letter queue", final["message"],
              extra={"event": "dead_lettered", "error": final, "attempt": attempt})
    dead_letter_queue = Queue(job.settings.dlq_name, routing_key=job.settings.dlq_name)  # never consumed here
    task.apply_async(args=task.request.args, kwargs=task.request.kwargs, task_id=task.request.id,
                     queue=dead_letter_queue)
    job.records.fail(sample_id, final)
    return "FAILED"
