"""Worker process hooks: JSON logging, start-up checks and the reliability bootsteps."""

from __future__ import annotations

import logging

from celery import signals

from audio_tasks import logs
from audio_tasks.celery import app
from audio_tasks.worker.curl_timer import CurlTimerFix
from audio_tasks.worker.heartbeat import Heartbeat
from audio_tasks.settings import Settings
from audio_tasks.worker.shutdown import GracefulShutdown

app.steps["worker"].update({CurlTimerFix, Heartbeat, GracefulShutdown})


@signals.setup_logging.connect
def _configure_logging(loglevel=None, **_):
    """Replace Celery's log format with one JSON object per line."""
    logs.configure(loglevel or Settings.from_env().log_level)


@signals.worker_init.connect
def _check_queues(**_):
    """Fail fast with one line if the queues cannot be used, rather than retry forever."""
    from audio_tasks.worker.preflight import check_queue
    from audio_tasks.aws.queues import max_receive_count

    settings = Settings.from_env()
    check_queue(settings)
    if settings.queue_url and not settings.dlq_url:
        raise SystemExit("audio_tasks: configuration error: SQS_DLQ_URL is not set: the worker moves "
                         "jobs whose retries are exhausted to the work queue's dead-letter queue")
    if max_receive_count(settings) is None:
        logging.getLogger(__name__).warning(
            "the work queue has no redrive policy: a job that kills its worker is redelivered forever")
