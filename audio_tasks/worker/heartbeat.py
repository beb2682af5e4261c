"""Visibility heartbeat: a running job's message stays hidden until the job ends.

SQS makes a message visible again once its visibility timeout expires, and Celery has no
heartbeat, so a job longer than the timeout would run twice at once. ``Heartbeat`` is a
worker bootstep (main process) whose thread, every third of ``SQS_VISIBILITY_TIMEOUT``,
extends each running job's message by a full timeout (ChangeMessageVisibility). A job
stops being extended when it ends (acked or failed) or once it has run longer than
``TASK_TIME_LIMIT`` (the hard limit kills it there; this bounds a runaway that somehow
survives it to one more visibility timeout).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import bootsteps
from celery.worker.state import active_requests

from audio_tasks.worker.context import current

log = logging.getLogger(__name__)


class Heartbeat(bootsteps.StartStopStep):
    """Runs for the life of the worker process (a daemon thread: it must keep beating through a
    warm shutdown while running jobs finish); see the module docstring."""

    label = "visibility heartbeat"

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.context = current()
        self.timeout = self.context.settings.visibility_timeout
        self.interval = max(1.0, self.timeout / 3)
        self.max_job_s = self.context.settings.task_time_limit

    def start(self, worker):
        threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True).start()

    def _run(self):
        while True:
            time.sleep(self.interval)
            try:
                self.beat()
            except Exception:  # never let the heartbeat die: the next beat may succeed
                log.exception("visibility heartbeat failed")

    def beat(self) -> None:
        now = time.time()
        for request in active_requests.copy():  # a C-level copy: safe against the consumer thread
            if now - (request.time_start or now) <= self.max_job_s:
                request.extend_visibility(self.context.sqs, self.timeout)  # not once released
