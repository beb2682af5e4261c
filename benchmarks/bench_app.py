"""Benchmark-only tasks on the production app: ``celery -A benchmarks.bench_app worker``.

Every measured task appends ``job sent_at started_at finished_at`` (wall-clock seconds) to
``$BENCH_STATE_DIR/jobs.log``, so the harness reads start latency and drain spans from the
workers' own clocks. Warm-up jobs have negative job numbers; the harness leaves them out.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from audio_tasks.celery import app  # the app `celery -A` finds; production settings

BUSY_LIMIT_S = 900


def _state(name: str) -> Path:
    return Path(os.environ["BENCH_STATE_DIR"]) / name


def _record(job: int, sent_at: float, started_at: float) -> None:
    line = f"{job} {sent_at:.6f} {started_at:.6f} {time.time():.6f}\n"
    with open(_state("jobs.log"), "a") as log:
        log.write(line)


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


@app.task(name="bench.noop")
def noop(job: int, sent_at: float) -> None:
    """Does nothing: measures the queue and Celery, not the work."""
    _record(job, sent_at, time.time())


@app.task(name="bench.cpu")
def cpu(job: int, sent_at: float, iterations: int) -> None:
    """Pure-Python busy work: one core per job, no I/O."""
    started = time.time()
    _spin(iterations)
    _record(job, sent_at, started)


@app.task(name="bench.busy")
def busy() -> None:
    """Keeps one pool process on pure-Python work (touching ``busy.running``) until ``busy.stop`` exists."""
    _state("busy.running").touch()
    deadline = time.monotonic() + BUSY_LIMIT_S
    while not _state("busy.stop").exists() and time.monotonic() < deadline:
        _spin(100_000)
