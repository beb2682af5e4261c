"""The Celery app (found by ``celery -A audio_tasks``), configured from ``celeryconfig``.

Configuration is loaded eagerly: a missing or malformed environment variable stops the
process at start-up with one line naming it, instead of a traceback.
"""

from __future__ import annotations

from celery import Celery

from audio_tasks.settings import ConfigError

try:
    import celeryconfig
except ConfigError as exc:
    raise SystemExit(f"audio_tasks: configuration error: {exc}") from None

app = Celery("audio_tasks", include=["audio_tasks.worker.tasks", "audio_tasks.worker.extensions"])
app.config_from_object(celeryconfig)
