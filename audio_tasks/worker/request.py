"""``JobRequest``: a received ``process_sample`` message in the worker's main process.

Celery builds one per message before anything runs (``Task.Request``). This one:

- refuses a message whose arguments do not make a job (``InvalidTaskError``: the consumer
  logs it and dead-letters it, ``audio_tasks.worker.consumer``);
- acks a job that ended FAILED (``JobFailed``: Celery reports it as a failure, and with
  ``task_acks_on_failure = False`` would leave it for SQS to redeliver, as it should an
  unexpected exception);
- records a revoked or terminated job FAILED ``cancelled`` before Celery acks it, and a
  terminated one only once its pool process is gone (``audio_tasks.worker.cancellation``);
- records FAILED (``time_limit``) a job whose pool process the hard time limit killed;
- when the pool process running a job dies on the delivery that reaches ``maxReceiveCount``,
  records the sample FAILED (``worker_lost``) before SQS moves the message to the DLQ;
- owns its message's visibility: the heartbeat extends it (``extend_visibility``) until the
  graceful shutdown marks it released (``mark_released``), and never after — a release and
  an extension racing on two threads would otherwise hide a released job for a whole
  visibility timeout;
- leaves alone a job the graceful shutdown released (``released``): that message is visible
  again already and must be neither acked nor requeued.
"""

from __future__ import annotations

import logging
import threading

from billiard.exceptions import Terminated, WorkerLostError
from celery.exceptions import InvalidTaskError
from celery.worker.request import Request
from celery.worker.state import task_ready

from audio_tasks.aws.queues import receive_count, release, set_visibility
from audio_tasks.errors import JobFailed
from audio_tasks.logs import job_context, remember_job
from audio_tasks.message import InvalidArguments, JobArguments
from audio_tasks.vocabulary import ErrorCode
from audio_tasks.worker import cancellation
from audio_tasks.worker.context import current

log = logging.getLogger(__name__)


class JobRequest(Request):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.job = JobArguments.bind(self.args, self.kwargs)
        except InvalidArguments as exc:
            raise InvalidTaskError(str(exc)) from None
        self.sample_id = self.job.sample_id
        self.released = False
        self._visibility = threading.Lock()
        self.kill_signal = None  # the signal a terminate sent this job's pool process
        self.pool_process_gone = False  # that process has exited: the job can write nothing more
        remember_job(self.id, self.sample_id)

    def extend_visibility(self, sqs, seconds: int) -> bool:
        """Keep the message hidden ``seconds`` longer, unless it has been released."""
        with self._visibility:
            return not self.released and set_visibility(sqs, self.message, seconds)

    def mark_released(self) -> None:
        """The message is about to be made visible: from now on nothing extends it (waits for an
        extension under way to finish), and ``on_failure`` neither acks nor requeues it."""
        with self._visibility:
            self.released = True

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        if self.released:  # killed by the shutdown, which made the message visible itself
            task_ready(self)
            return None
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # unwrap ExceptionWithTraceback
        stopped_by_us = self._already_cancelled or self._already_revoked
        if isinstance(exc, JobFailed):
            self.acknowledge()  # its record is FAILED: Celery's failure handling below finds it acked
        elif isinstance(exc, Terminated):
            self.pool_process_gone = True  # Celery announces the revoke below, if it has not yet
        elif isinstance(exc, WorkerLostError) or (isinstance(exc, SystemExit) and not stopped_by_us):
            self._on_worker_lost(exc)
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def _announce_revoked(self, reason, terminated, signum, expired):
        """Celery's one place for a revoked job (private: tests/test_upstream_fences.py pins it).

        Celery calls it when a revoked job is about to run, and when it has just sent a running
        job's pool process the terminate signal — then again once that process is gone (in
        ``on_failure``), as it would for a kill it had not announced. The first of those two is
        deferred: the job could still write its record or artifacts.
        """
        if terminated and not self.pool_process_gone:
            self.kill_signal = self.kill_signal or signum
            return
        with job_context(self.sample_id, self.id):
            cancelled = cancellation.error(reason, self.kill_signal or signum, self.hostname)
            if not cancellation.record(self.sample_id, cancelled):
                self.acknowledged = release(current().sqs, self.message)  # released: Celery must not ack it
        return super()._announce_revoked(reason, terminated, signum, expired)

    def on_timeout(self, soft, timeout):
        if not soft:  # the pool process was killed mid-job: the soft limit did not stop it
            self._fail({"code": ErrorCode.TIME_LIMIT,
                        "message": f"the job ran past TASK_TIME_LIMIT={timeout} s and was killed"})
        return super().on_timeout(soft, timeout)

    def _on_worker_lost(self, exc: BaseException) -> None:
        count, limit = receive_count(self.message), current().max_receive_count
        with job_context(self.sample_id, self.id):
            if limit is None or count < limit:
                log.error("the pool process died running this job (delivery %d of %s): %s; SQS will "
                          "redeliver it", count, limit, exc, extra={"event": ErrorCode.WORKER_LOST})
                return
        self._fail({"code": ErrorCode.WORKER_LOST, "receive_count": count,
                    "message": f"the worker process died running this job on delivery {count} of {limit} "
                               f"({exc}); the message goes to the dead-letter queue"})

    def _fail(self, error: dict) -> None:
        """Record the sample FAILED from the main process; a failure to do so is logged, not raised."""
        with job_context(self.sample_id, self.id):
            log.error("%s", error["message"], extra={"event": error["code"], "error": error})
            try:
                current().job.records.fail(self.sample_id, error)
            except Exception:
                log.exception("could not record the sample FAILED")
