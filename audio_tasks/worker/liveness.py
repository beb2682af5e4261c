"""Container liveness for the worker: a file its consumer loop touches, checked by age.

Celery's ``inspect ping`` needs remote control, which plain SQS lacks, so the ECS health
check cannot ask the worker. Instead ``Liveness`` (a consumer bootstep, listed in
``audio_tasks.worker.extensions``) touches ``LIVENESS_FILE`` every
``LIVENESS_INTERVAL_SECONDS`` (10) from the consumer's own event loop: if that loop hangs,
the file goes stale. ``python -m audio_tasks.worker.liveness`` is the health check: exit 0
if the file was touched within ``LIVENESS_MAX_AGE_SECONDS`` (60), else 1 with one line why.
"""

from __future__ import annotations

import sys
import time

from celery import bootsteps

from audio_tasks.settings import ConfigError, LivenessSettings


class Liveness(bootsteps.StartStopStep):
    """Touches the liveness file on the consumer's timer while the consumer runs."""

    def __init__(self, consumer, **kwargs):
        super().__init__(consumer, **kwargs)
        from audio_tasks.worker.context import current

        self.settings = current().settings.liveness
        self._timer_entry = None

    def start(self, consumer):
        self.touch()
        self._timer_entry = consumer.timer.call_repeatedly(self.settings.interval_s, self.touch)

    def stop(self, consumer):
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        self.settings.file.unlink(missing_ok=True)

    shutdown = stop

    def touch(self):
        self.settings.file.touch()


def check(settings: LivenessSettings, now: float | None = None) -> str | None:
    """None if the worker is alive, else the reason it is not."""
    path, max_age = settings.file, settings.max_age_s
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist: the worker's consumer has not started"
    if age > max_age:
        return f"{path} was last touched {age:.0f} s ago (limit {max_age:g} s): the consumer loop is stuck"
    return None


def main() -> int:
    try:
        reason = check(LivenessSettings.from_env())
    except ConfigError as exc:
        reason = f"configuration error: {exc}"
    if reason:
        print(f"audio_tasks.worker.liveness: unhealthy: {reason}", file=sys.stderr)
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
