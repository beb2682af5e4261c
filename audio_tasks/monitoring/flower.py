"""``audio-tasks flower [FLOWER OPTIONS]``: Flower for this app, as the container runs it.

Flower's own ``celery -A audio_tasks flower`` command, plus:

- refuses to start without ``MONITORING_ENABLED`` (workers would send no events) and,
  outside local mode, without ``FLOWER_BASIC_AUTH`` (Flower reads it; it is never an argument):
  one JSON line and exit code 78 (``EX_CONFIG``), as for any malformed variable;
- runs the janitor first, so restarts leave no growing set of queues and subscriptions;
- its own defaults for three of Flower's options (``DEFAULT_OPTIONS``; the same option given
  on the command line or in a ``FLOWER_*`` variable wins);
- a Broker page for SQS, ``/api/queues``, and ``/metrics`` behind the login
  (``audio_tasks.monitoring.pages``).

Everything else — options, ``FLOWER_*`` variables, the other pages — is Flower's.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys

from flower import command
from flower.app import Flower
from flower.urls import settings as flower_settings
from tornado.options import options

from audio_tasks import logs
from audio_tasks.monitoring import pages
from audio_tasks.monitoring.janitor import sweep
from audio_tasks.settings import ConfigError, Settings

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = {
    # The workers send events by configuration: Flower need not broadcast enable_events every
    # 5 s (an SNS publish each time).
    "enable_events": "False",
    # A worker answers remote control by polling SQS, which takes longer than Flower's 1 s now
    # and then.
    "inspect_timeout": "5000",
    # The sample behind a task (its args) and why it failed, without opening the task.
    "tasks_columns": "name,uuid,state,args,exception,received,started,runtime,worker",
}


def main(argv: list[str]) -> int:
    try:
        settings = _checked_settings()
    except ConfigError as exc:
        print(logs.error_line(__name__, f"configuration error: {exc}", event="configuration_error"),
              file=sys.stderr, flush=True)
        return os.EX_CONFIG
    logs.configure(settings.log_level)

    from audio_tasks.celery import app  # loads celeryconfig: after the checks above

    sweep(settings)
    command.apply_env_options()
    defaults = [f"--{name}={value}" for name, value in DEFAULT_OPTIONS.items()
                if f"FLOWER_{name.upper()}" not in os.environ]
    command.apply_options("audio-tasks flower", [*defaults, *argv])
    command.extract_settings()
    command.setup_logging()
    flower = Flower(capp=app, options=options, **flower_settings)
    prefix = f"/{options.url_prefix.strip('/')}" if options.url_prefix else ""
    flower.add_handlers(r".*", pages.handlers(prefix, settings))
    atexit.register(flower.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = flower.start_http_server()
    log.info("Flower is at http://%s:%s%s/ (queue depths on its Broker page, %s/broker)",
             options.address or "127.0.0.1", port, prefix, prefix)
    try:
        flower.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def _checked_settings() -> Settings:
    settings = Settings.from_env()
    if not settings.monitoring:
        raise ConfigError("MONITORING_ENABLED is not true: workers would send no events for Flower to show")
    if settings.flower_basic_auth is None and not settings.local:
        raise ConfigError("FLOWER_BASIC_AUTH is not set: outside local mode Flower runs behind basic auth "
                          "(user:password)")
    return settings

