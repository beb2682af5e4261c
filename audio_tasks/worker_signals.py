"""Worker process hooks: JSON logging and start-up checks."""

from __future__ import annotations

from celery import signals

from audio_tasks import logs
from audio_tasks.settings import Settings


@signals.setup_logging.connect
def _configure_logging(loglevel=None, **_):
    """Replace Celery's log format with one JSON object per line."""
    logs.configure(loglevel or Settings.from_env().log_level)


@signals.worker_init.connect
def _check_broker_reachable(**_):
    """Fail fast with one line if the queue cannot be reached, rather than retry forever."""
    from audio_tasks.preflight import check_queue

    check_queue(Settings.from_env())
