"""The pages ``audio-tasks flower`` adds to Flower or puts in place of its own.

- **Broker** (``/broker``, Flower's nav link, also ``/queues``): Flower's own page answers
  404 for SQS ("'sqs' broker is not supported"); this one shows the work queue and the DLQ
  (``audio_tasks.monitoring.depths``: visible, in flight, delayed, oldest message age) in
  Flower's layout. ``/api/queues`` is the same as JSON.
- **/metrics**: Flower's Prometheus metrics, behind the same authentication as the pages
  (Flower serves them to anyone; Prometheus's ``basic_auth`` scrape setting sends the login).

Each is behind Flower's authentication (basic auth, or its OAuth), like Flower's own pages.
"""

from __future__ import annotations

import logging
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from flower.views import BaseHandler
from flower.views.monitor import Metrics as FlowerMetrics
from tornado import template, web
from tornado.ioloop import IOLoop

from audio_tasks.monitoring.depths import queue_depths
from audio_tasks.settings import Settings

log = logging.getLogger(__name__)

_BROKER_PAGE = """{% extends "base.html" %}
{% block title %}Broker · Flower{% end %}
{% block navbar %}{% module Template("navbar.html", active_tab="broker") %}{% end %}
{% block container %}
<div class="page-section broker-page">
  <header class="page-header mb-2">
    <div>
      <p class="page-eyebrow">Message broker: Amazon SQS</p>
      <p class="page-description mt-3">The work queue and its dead-letter queue. Counts are SQS's approximate
        numbers; the oldest message's age is CloudWatch's ApproximateAgeOfOldestMessage over the last
        5 minutes (unknown without a datapoint).</p>
    </div>
  </header>
  <section class="broker-table-card" aria-label="Queues">
    <table id="queue-table" class="broker-table table table-hover align-middle mb-0">
      <thead>
        <tr><th>Queue</th><th>Visible</th><th>In flight</th><th>Delayed</th><th>Oldest message age</th></tr>
      </thead>
      <tbody>
        {% for row in queues %}
        <tr id="{{ row['queue'] }}">
          <td>{{ row['queue'] }}</td><td>{{ row['visible'] }}</td><td>{{ row['in_flight'] }}</td>
          <td>{{ row['delayed'] }}</td><td>{{ row['oldest_age'] }}</td>
        </tr>
        {% end %}
        {% if error %}
        <tr><td class="empty-table-message" colspan="5">Could not read the queues: {{ error }}</td></tr>
        {% end %}
      </tbody>
    </table>
  </section>
</div>
{% end %}
"""


class BrokerQueues(BaseHandler):
    """The work queue's and DLQ's depths: Flower's Broker page for SQS, or (``as_json``) /api/queues.

    The page is rendered with Flower's templates plus ``broker-sqs.html``, which extends Flower's
    ``base.html``, so it has Flower's layout and navigation bar.
    """

    def initialize(self, settings: Settings, as_json: bool):
        self._settings, self._as_json = settings, as_json

    def get_template_path(self) -> str:
        return str(Path(__file__).parent)  # a key of its own in tornado's template loader cache

    def create_template_loader(self, template_path: str) -> template.BaseLoader:
        flower = Path(self.application.settings["template_path"])
        return template.DictLoader({**{p.name: p.read_text() for p in flower.glob("*.html")},
                                    "broker-sqs.html": _BROKER_PAGE})

    @web.authenticated
    async def get(self):
        try:
            rows = await IOLoop.current().run_in_executor(None, queue_depths, self._settings)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not read the queue depths: %s", exc)
            if self._as_json:
                raise web.HTTPError(502, f"could not read the queue depths: {exc}") from None
            rows, error = [], str(exc)
        else:
            error = None
        if self._as_json:
            self.write({"queues": rows})
            return
        for row in rows:
            age = row["oldest_age_s"]
            row["oldest_age"] = "unknown" if age is None else f"{age:.0f} s"
        self.render("broker-sqs.html", queues=rows, error=error)


class Metrics(FlowerMetrics):
    """Flower's /metrics, behind its authentication."""

    @web.authenticated
    async def get(self):
        await super().get()


def handlers(prefix: str, settings: Settings) -> list[tuple]:
    """The routes above under Flower's ``url_prefix``; they take precedence over Flower's own."""
    return [(f"{prefix}/broker", BrokerQueues, {"settings": settings, "as_json": False}),
            (f"{prefix}/queues", BrokerQueues, {"settings": settings, "as_json": False}),
            (f"{prefix}/api/queues", BrokerQueues, {"settings": settings, "as_json": True}),
            (f"{prefix}/metrics", Metrics)]
