"""Container liveness for the worker: a file its consumer loop touches, checked by age.

Celery's ``inspect ping`` needs remote control, which the SQS transport lacks, so the
ECS health check cannot ask the worker. Instead ``Liveness`` (a consumer bootstep, added
with ``celery -A audio_tasks worker -I audio_tasks.worker.liveness``) touches ``LIVENESS_FILE``
every ``LIVENESS_INTERVAL_SECONDS`` (10) from the consumer's own event loop: if that loop
hangs, the file goes stale. ``python -m audio_tasks.worker.liveness`` is the health check: exit
0 if the file was touched within ``LIVENESS_MAX_AGE_SECONDS`` (60), else 1 with one line why.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from celery import bootsteps, signals

DEFAULT_FILE = "/tmp/audio-tasks-worker-alive"


def _path() -> Path:
    return Path(os.environ.get("LIVENESS_FILE") or DEFAULT_FILE)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"audio_tasks.worker.liveness: {name}={raw!r} is not a number") from None
    if value <= 0:
        raise SystemExit(f"audio_tasks.worker.liveness: {name}={raw!r} must be positive")
    return value


class Liveness(bootsteps.StartStopStep):
    """Touches the liveness file on the consumer's timer while the consumer runs."""

    def __init__(self, consumer, **kwargs):
        super().__init__(consumer, **kwargs)
        self.path = _path()
        self.interval = _seconds("LIVENESS_INTERVAL_SECONDS", 10)
        self._timer_entry = None

    def start(self, consumer):
        self.touch()
        self._timer_entry = consumer.timer.call_repeatedly(self.interval, self.touch)

    def stop(self, consumer):
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        self.path.unlink(missing_ok=True)

    shutdown = stop

    def touch(self):
        self.path.touch()


@signals.worker_init.connect
def _install(sender, **_):
    """Add the step to the worker being built (this module is imported by ``-I``)."""
    sender.app.steps["consumer"].add(Liveness)


def check(now: float | None = None) -> str | None:
    """None if the worker is alive, else the reason it is not."""
    path, max_age = _path(), _seconds("LIVENESS_MAX_AGE_SECONDS", 60)
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist: the worker's consumer has not started"
    if age > max_age:
        return f"{path} was last touched {age:.0f} s ago (limit {max_age:.0f} s): the consumer loop is stuck"
    return None


if __name__ == "__main__":
    reason = check()
    if reason:
        print(f"audio_tasks.worker.liveness: unhealthy: {reason}", file=sys.stderr)
    sys.exit(1 if reason else 0)
