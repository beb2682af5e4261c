"""What a worker process holds for its whole life: its settings and the adapters built from them.

Made once per process from the settings ``celeryconfig`` parsed: in the main process when
the worker starts (``worker_init``), and again in each pool process once it is forked
(``worker_process_init``: boto3 clients must not cross a fork). Every part of the worker
runtime reads ``current()`` instead of reading the environment or caching clients itself.
"""

from __future__ import annotations

from functools import cached_property

from audio_tasks import aws, settings
from audio_tasks.aws.queues import read_max_receive_count
from audio_tasks.job.sample_job import SampleJob
from audio_tasks.settings import Settings


class WorkerContext:
    """The settings, the job (with its records and storage adapters) and an SQS client."""

    def __init__(self, worker_settings: Settings):
        self.settings = worker_settings
        self.job = SampleJob(worker_settings)
        self.sqs = aws.client("sqs", worker_settings)  # visibility changes (boto3 clients are thread-safe)

    @cached_property
    def max_receive_count(self) -> int | None:
        """The work queue's ``maxReceiveCount`` (read once), or None without a redrive policy."""
        return read_max_receive_count(self.settings, self.sqs)


_current: WorkerContext | None = None


def open_context(**_) -> WorkerContext:
    """Make this process's context (a signal handler: called at worker start and in each pool process)."""
    global _current
    _current = WorkerContext(settings.load())
    return _current


def current() -> WorkerContext:
    """This process's context, made on first use where no signal made it (a one-off script)."""
    return _current or open_context()
