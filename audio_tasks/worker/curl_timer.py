"""The worker's HTTP client for kombu's SQS polls: a timer fix, and the requests in flight per queue.

libcurl asks for a timer in *milliseconds* (CURLMOPT_TIMERFUNCTION), and kombu 5.7's
``CurlClient._set_timeout`` hands that number to ``Hub.call_later``, which takes
*seconds*: a 1 ms timer fires after 1 s. Measured against the emulator, about a third of
jobs sent to an idle worker started ~1 s late (p95 ≈ 1 s, p50 7 ms). ``CurlTimerFix``,
a worker bootstep, binds ``CurlClient`` below as the worker hub's HTTP client before the
SQS transport creates one, so every poll, delete and visibility change uses it.

The client also counts its requests in flight per SQS queue, so that a stopping worker
can ``settle`` its last long poll of the work queue (``audio_tasks.worker.shutdown``):
a poll left open when the worker stops would take messages nobody reads.
"""

from __future__ import annotations

import json
import time
from collections import Counter

from celery import bootsteps
from kombu.asynchronous.http import curl

_SETTLE_STEP_S = 0.05


class CurlClient(curl.CurlClient):
    def __init__(self, hub=None, max_clients: int = 10):
        super().__init__(hub, max_clients)
        self._in_flight: Counter[str] = Counter()

    def _set_timeout(self, msecs: int) -> None:
        """libcurl's timer callback: run the timeout check in ``msecs`` ms (-1: no timer)."""
        if msecs >= 0:
            self.hub.call_later(msecs / 1000.0, self._timeout_check)

    def add_request(self, request):
        """Start ``request``, counted against its SQS queue until its response has been handled."""
        queue_url = _queue_url(request)
        self._in_flight[queue_url] += 1
        request.then(lambda *_: self._in_flight.subtract([queue_url]))  # after kombu's own callback
        return super().add_request(request)

    def in_flight(self, queue_url: str) -> int:
        """Requests about ``queue_url`` sent and not yet answered (a long poll, mostly)."""
        return self._in_flight[queue_url]

    def settle(self, queue_url: str, timeout_s: float) -> bool:
        """Drive this client from the calling thread, while the worker's event loop no longer runs,
        until no request about ``queue_url`` is in flight: their responses are handled as the loop
        would handle them. False if one is still open after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight(queue_url) > 0:
            if time.monotonic() >= deadline:
                return False
            self._timeout_check()  # reads whatever has arrived and completes finished transfers
            time.sleep(_SETTLE_STEP_S)
        return True


def _queue_url(request) -> str:
    """The queue an SQS request is about: ``QueueUrl`` of a JSON-protocol body, else the URL (query)."""
    try:
        return json.loads(request.body)["QueueUrl"]
    except (TypeError, ValueError, KeyError):
        return request.url


def install(hub) -> None:
    """Make ``CurlClient`` the HTTP client kombu's ``get_client(hub)`` returns."""
    if not isinstance(getattr(hub, "_current_http_client", None), CurlClient):
        hub._current_http_client = CurlClient(hub)


def installed(hub) -> CurlClient | None:
    """The ``CurlClient`` installed on ``hub``, if any."""
    client = getattr(hub, "_current_http_client", None)
    return client if isinstance(client, CurlClient) else None


class CurlTimerFix(bootsteps.StartStopStep):
    """Installs the fixed client on the worker's event loop as soon as the loop exists."""

    label = "curl timer fix"
    requires = ("celery.worker.components:Hub",)

    def create(self, worker):
        if worker.hub is not None:
            install(worker.hub)
