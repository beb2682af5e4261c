"""kombu's curl client schedules libcurl's millisecond timers in seconds; ours does not."""

import time

from kombu.asynchronous import Hub
from kombu.asynchronous.http import get_client
from kombu.asynchronous.http.curl import CurlClient as KombuCurlClient

from audio_tasks.worker.curl_timer import CurlClient, install


def _scheduled_delays(client, msecs) -> list[float]:
    hub = client.hub
    before = {id(entry) for entry in hub.timer.queue}
    now = time.monotonic()
    client._set_timeout(msecs)
    return [entry.eta - now for entry in hub.timer.queue if id(entry) not in before]


def test_a_5_ms_curl_timer_fires_after_5_ms_not_5_s():
    hub = Hub()
    try:
        ours, theirs = CurlClient(hub), KombuCurlClient(hub)
        [delay] = _scheduled_delays(ours, 5)
        assert delay < 0.1
        [kombu_delay] = _scheduled_delays(theirs, 5)
        assert kombu_delay > 4  # the bug this module exists for; if kombu fixes it, drop the module
        assert _scheduled_delays(ours, -1) == []
    finally:
        hub.close()


def test_install_makes_it_the_hubs_client():
    hub = Hub()
    try:
        install(hub)
        assert isinstance(get_client(hub), CurlClient)
    finally:
        hub.close()
