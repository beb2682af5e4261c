"""Benchmark-only tasks on the production app: ``celery -A benchmarks.bench_app worker``.

Every task appends ``job sent_at started_at finished_at`` (wall-clock seconds) to
``$BENCH_STATE_DIR/jobs.log``, so the harness reads start latency and drain spans
from the workers' own clocks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from audio_tasks.celery import app  # the app `celery -A` finds; production settings


def _record(job: int, sent_at: float, started_at: float) -> None:
    line = f"{job} {sent_at:.6f} {started_at:.6f} {time.time():.6f}\n"
    with open(Path(os.environ["BENCH_STATE_DIR"]) / "jobs.log", "a") as log:
        log.write(line)


@app.task(name="bench.noop")
def noop(job: int, sent_at: float) -> None:
    """Does nothing: measures the queue and Celery, not the work."""
    _record(job, sent_at, time.time())


@app.task(name="bench.cpu")
def cpu(job: int, sent_at: float, iterations: int) -> None:
    """Pure-Python busy work: one core per job, no I/O."""
    started = time.time()
    total = 0
    for i in range(iterations):
        total += i * i % 7
    _record(job, sent_at, started)
