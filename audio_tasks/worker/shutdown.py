"""Graceful shutdown on SIGTERM (ECS stops a task with SIGTERM, then SIGKILL after at most 120 s).

Celery's warm shutdown lets running jobs finish, with no time limit, and only when the
connection finally closes does kombu make prefetched messages visible again — with a
visibility of ``SQS_WAIT_TIME_SECONDS`` (20 s), or never if SIGKILL comes first (then
they wait the whole visibility timeout). ``GracefulShutdown`` is a worker bootstep whose
``close`` runs when a shutdown begins, before Celery's consumer forgets its prefetched
messages:

- prefetched, unstarted jobs are released at once (visibility 0): another worker can
  start them within a second or two;
- kombu is told not to restore anything at close (this step owns every release);
- running jobs get ``SHUTDOWN_BUDGET_SECONDS`` to finish (the heartbeat keeps them
  hidden meanwhile). Any still running then is released: its pool process is killed,
  its message made visible at once and its record put back to QUEUED.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from celery import bootsteps
from celery.worker.state import active_requests, reserved_requests

from audio_tasks.aws.queues import release
from audio_tasks.logs import job_context
from audio_tasks.vocabulary import Status
from audio_tasks.worker.context import current

log = logging.getLogger(__name__)


class GracefulShutdown(bootsteps.StartStopStep):
    """See the module docstring. Ordered before the consumer, whose blocking start must come
    last, and after the pool, so it is closed before the pool waits for running jobs."""

    label = "graceful shutdown"
    requires = ("celery.worker.components:Pool",)

    def close(self, worker):
        context = current()
        running = active_requests.copy()
        waiting = reserved_requests.copy() - running
        for request in running | waiting:
            request.message.channel.do_restore = False
        for request in waiting:
            with job_context(request.sample_id, request.id):
                released = release(context.sqs, request.message)
                log.info("shutting down: released the unstarted job" if released else
                         "shutting down: could not release the unstarted job; SQS redelivers it later",
                         extra={"event": "released"})
        budget = context.settings.shutdown_budget_s
        log.info("shutting down: %d running job(s) have %d s to finish", len(running), budget)
        threading.Thread(target=_enforce_budget, args=(budget,), name="shutdown-budget", daemon=True).start()


def _enforce_budget(budget_s: float) -> None:
    context = current()
    deadline = time.monotonic() + budget_s
    while active_requests and time.monotonic() < deadline:
        time.sleep(0.2)
    for request in active_requests.copy():
        request.released = True  # JobRequest.on_failure: neither ack nor requeue it
        if request.worker_pid:
            os.kill(request.worker_pid, signal.SIGKILL)
        with job_context(request.sample_id, request.id):
            release(context.sqs, request.message)
            context.job.records.requeue(request.sample_id)
            log.warning("shutting down: the job did not finish within SHUTDOWN_BUDGET_SECONDS=%d; "
                        "released it and put its record back to QUEUED", budget_s,
                        extra={"event": "released", "status": Status.QUEUED})
