"""``audio-tasks flower [FLOWER OPTIONS]``: Flower for this app, as the container runs it.

Flower's own ``celery -A audio_tasks flower`` command, plus:

- refuses to start without ``MONITORING_ENABLED`` (workers would send no events) and,
  outside local mode, without ``FLOWER_BASIC_AUTH`` (Flower reads it; it is never an argument):
  one JSON line and exit code 78 (``EX_CONFIG``), as for any malformed variable;
- runs the janitor first, so restarts leave no growing set of queues and subscriptions;
- ``--enable_events=False``: the workers send events by configuration, so Flower need not
  broadcast ``enable_events`` every 5 s (an SNS publish each time);
- ``--inspect_timeout=5000``: a worker answers remote control by polling SQS, which takes
  longer than Flower's default 1 s now and then (options given here win over both);
- adds ``/queues`` (HTML) and ``/api/queues`` (JSON): the work queue's and DLQ's depths
  (``audio_tasks.monitoring.depths``), behind Flower's authentication.

Everything else — options, ``FLOWER_*`` variables, ``/metrics`` — is Flower's.
"""

from __future__ import annotations

import atexit
import html
import logging
import os
import signal
import sys

from flower import command
from flower.app import Flower
from flower.urls import settings as flower_settings
from flower.views import BaseHandler
from tornado import web
from tornado.ioloop import IOLoop
from tornado.options import options

from audio_tasks import logs
from audio_tasks.monitoring.depths import queue_depths
from audio_tasks.monitoring.janitor import sweep
from audio_tasks.settings import ConfigError, Settings

log = logging.getLogger(__name__)


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
    command.apply_options("audio-tasks flower", ["--enable_events=False", "--inspect_timeout=5000", *argv])
    command.extract_settings()
    command.setup_logging()
    flower = Flower(capp=app, options=options, **flower_settings)
    prefix = f"/{options.url_prefix.strip('/')}" if options.url_prefix else ""
    flower.add_handlers(r".*", [(f"{prefix}/queues", QueueDepths, {"settings": settings, "as_json": False}),
                               (f"{prefix}/api/queues", QueueDepths, {"settings": settings, "as_json": True})])
    atexit.register(flower.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = flower.start_http_server()
    log.info("Flower is at http://%s:%s%s/ (queue depths at %s/queues)", options.address or "127.0.0.1", port,
             prefix, prefix)
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


class QueueDepths(BaseHandler):
    """The work queue's and DLQ's depths, as an HTML table or JSON."""

    def initialize(self, settings: Settings, as_json: bool):
        self._settings, self._as_json = settings, as_json

    @web.authenticated
    async def get(self):
        rows = await IOLoop.current().run_in_executor(None, queue_depths, self._settings)
        if self._as_json:
            self.write({"queues": rows})
            return
        cells = "".join(
            f"<tr><td>{html.escape(r['queue'])}</td><td>{r['visible']}</td><td>{r['in_flight']}</td>"
            f"<td>{r['delayed']}</td><td>{'unknown' if r['oldest_age_s'] is None else int(r['oldest_age_s'])}</td></tr>"
            for r in rows)
        self.write("<!doctype html><title>Queues</title><h1>Queues</h1><table border=1 cellpadding=4>"
                   "<tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th>"
                   f"<th>oldest message age (s, CloudWatch)</th></tr>{cells}</table><p><a href=\"./\">Flower</a></p>")
