"""A fix for kombu 5.7's asynchronous HTTP client, which delays SQS polls by up to 1 s.

libcurl asks for a timer in *milliseconds* (CURLMOPT_TIMERFUNCTION), and kombu's
``CurlClient._set_timeout`` hands that number to ``Hub.call_later``, which takes
*seconds*: a 1 ms timer fires after 1 s. Measured against the emulator, about a third of
jobs sent to an idle worker started ~1 s late (p95 ≈ 1 s, p50 7 ms). ``CurlTimerFix``,
a worker bootstep, binds ``CurlClient`` below as the worker hub's HTTP client before the
SQS transport creates one, so every poll, delete and visibility change uses it.
"""

from __future__ import annotations

from celery import bootsteps
from kombu.asynchronous.http import curl


class CurlClient(curl.CurlClient):
    def _set_timeout(self, msecs: int) -> None:
        """libcurl's timer callback: run the timeout check in ``msecs`` ms (-1: no timer)."""
        if msecs >= 0:
            self.hub.call_later(msecs / 1000.0, self._timeout_check)


def install(hub) -> None:
    """Make ``CurlClient`` the HTTP client kombu's ``get_client(hub)`` returns."""
    if not isinstance(getattr(hub, "_current_http_client", None), CurlClient):
        hub._current_http_client = CurlClient(hub)


class CurlTimerFix(bootsteps.StartStopStep):
    """Installs the fixed client on the worker's event loop as soon as the loop exists."""

    label = "curl timer fix"
    requires = ("celery.worker.components:Hub",)

    def create(self, worker):
        if worker.hub is not None:
            install(worker.hub)
