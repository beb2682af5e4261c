"""Graceful shutdown on SIGTERM (ECS stops a task with SIGTERM, then SIGKILL after at most 120 s).

Celery's warm shutdown lets running jobs finish, with no time limit, and only when the
connection finally closes does kombu make prefetched messages visible again — with a
visibility of ``SQS_WAIT_TIME_SECONDS`` (20 s), or never if SIGKILL comes first (then
they wait the whole visibility timeout). ``GracefulShutdown`` is a worker bootstep whose
``close`` runs when a shutdown begins, before Celery's consumer forgets its prefetched
messages:

- the worker stops consuming first: no long poll starts after this;
- prefetched, unstarted jobs are released at once (visibility 0): another worker can
  start them within a second or two;
- kombu is told not to restore anything at close (this step owns every release);
- the last long poll, still open on SQS for up to ``SQS_WAIT_TIME_SECONDS``, is settled:
  whatever it brings in — a prefetched job this worker just released, or a new one — is
  released again (kombu does that for a queue whose consumer is gone), and no poll is
  left open when the worker exits. Measured on the emulator without this: a job released
  2 s after SIGTERM was taken by the stopping worker's own 20 s poll and stayed in
  flight until its visibility timeout;
- running jobs get ``SHUTDOWN_BUDGET_SECONDS`` to finish (the heartbeat keeps them
  hidden meanwhile), or until the last poll is settled if that takes longer, so their
  release cannot be taken by it (a receive that would count towards maxReceiveCount).
  Any still running then is released: its pool process is killed, its message made
  visible at once and its record put back to QUEUED.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from celery import bootsteps
from celery.worker.state import active_requests, reserved_requests

from audio_tasks.aws.queues import release, work_queue_url
from audio_tasks.logs import job_context
from audio_tasks.vocabulary import Status
from audio_tasks.worker import curl_timer
from audio_tasks.worker.context import current

log = logging.getLogger(__name__)

_SETTLE_SLACK_S = 5  # beyond SQS_WAIT_TIME_SECONDS: the poll's answer crossing the network


class GracefulShutdown(bootsteps.StartStopStep):
    """See the module docstring. Ordered before the consumer, whose blocking start must come
    last, and after the pool, so it is closed before the pool waits for running jobs."""

    label = "graceful shutdown"
    requires = ("celery.worker.components:Pool",)

    def close(self, worker):
        context = current()
        running = active_requests.copy()
        waiting = reserved_requests.copy() - running
        _stop_consuming(worker)
        for request in running | waiting:
            request.message.channel.do_restore = False
        for request in waiting:
            request.mark_released()
            with job_context(request.sample_id, request.id):
                released = release(context.sqs, request.message)
                log.info("shutting down: released the unstarted job" if released else
                         "shutting down: could not release the unstarted job; SQS redelivers it later",
                         extra={"event": "released"})
        budget = context.settings.shutdown_budget_s
        log.info("shutting down: %d running job(s) have %d s to finish", len(running), budget)
        settled = threading.Event()
        threading.Thread(target=_enforce_budget, args=(budget, settled), name="shutdown-budget",
                         daemon=True).start()
        try:
            _settle_last_poll(worker, context)
        except Exception:  # the shutdown goes on: running jobs are bounded and released all the same
            log.exception("shutting down: could not settle the last poll of the work queue")
        finally:
            settled.set()


def _stop_consuming(worker) -> None:
    """Cancel the work queue's consumer: kombu schedules no further poll of it."""
    task_consumer = getattr(getattr(worker, "consumer", None), "task_consumer", None)
    if task_consumer is not None:
        task_consumer.cancel()


def _settle_last_poll(worker, context) -> None:
    client = curl_timer.installed(getattr(worker, "hub", None))
    if client is None:
        return
    wait_s = context.settings.wait_time_seconds + _SETTLE_SLACK_S
    if not client.settle(work_queue_url(context.settings, context.sqs), wait_s):
        log.warning("shutting down: the last poll of the work queue was still open after %d s; a message "
                    "it takes waits for its visibility timeout", wait_s)


def _enforce_budget(budget_s: float, settled: threading.Event) -> None:
    context = current()
    started = time.monotonic()
    while active_requests and (time.monotonic() < started + budget_s or not settled.is_set()):
        time.sleep(0.2)
    given_s = time.monotonic() - started
    for request in active_requests.copy():
        request.mark_released()
        if request.worker_pid:
            os.kill(request.worker_pid, signal.SIGKILL)
        with job_context(request.sample_id, request.id):
            release(context.sqs, request.message)
            context.job.records.requeue(request.sample_id)
            log.warning("shutting down: the job did not finish in %.0f s (SHUTDOWN_BUDGET_SECONDS=%d, or until "
                        "the last poll closed); released it and put its record back to QUEUED", given_s, budget_s,
                        extra={"event": "released", "status": Status.QUEUED})
