"""The Celery app (found by ``celery -A audio_tasks``), configured from ``celeryconfig``.

Configuration is loaded eagerly: a missing or malformed environment variable stops the
process at start-up with one JSON line naming it and exit code 78 (``EX_CONFIG``), instead
of a traceback. What the worker adds to Celery is listed in ``audio_tasks.worker.extensions``.
"""

from __future__ import annotations

import os
import sys

from celery import Celery

from audio_tasks import logs
from audio_tasks.settings import ConfigError
from audio_tasks.worker import extensions

try:
    import celeryconfig
except ConfigError as exc:
    print(logs.error_line("audio_tasks", f"configuration error: {exc}", event="configuration_error"),
          file=sys.stderr, flush=True)
    raise SystemExit(os.EX_CONFIG) from None

# Remote control callers (Flower, celery inspect) keep one reply queue per process: see that module.
app = Celery("audio_tasks", include=["audio_tasks.worker.tasks"],
             control="audio_tasks.monitoring.control:Control")
app.config_from_object(celeryconfig)
extensions.install(app)
