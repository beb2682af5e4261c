"""Send benchmark jobs through the Celery client, as a producer process would.

``python -m benchmarks.enqueue TASK COUNT [--paced] [--warmup N] [--iterations N]``: first
``N`` warm-up jobs (numbered -N..-1; the harness leaves them out), then ``COUNT`` jobs. With
``--paced`` each job is sent only once the previous one has started (an idle worker every
time), otherwise all are sent back to back. ``busy`` sends one job that keeps a pool process
busy until the harness stops it. Prints the seconds spent sending the counted jobs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.bench_app import busy, cpu, noop


def started_jobs(state_dir: Path) -> int:
    log = state_dir / "jobs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=("noop", "cpu", "busy"))
    parser.add_argument("count", type=int)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=2_000_000)
    args = parser.parse_args()
    if args.task == "busy":
        busy.delay()
        return
    state_dir = Path(os.environ["BENCH_STATE_DIR"])
    began = None
    for job in range(-args.warmup, args.count):
        began = began or (time.perf_counter() if job >= 0 else None)
        already = started_jobs(state_dir)
        if args.task == "noop":
            noop.delay(job, time.time())
        else:
            cpu.delay(job, time.time(), args.iterations if job >= 0 else 1000)
        while args.paced and started_jobs(state_dir) == already:
            time.sleep(0.005)
    print(f"{time.perf_counter() - began:.6f}" if began else "0")


if __name__ == "__main__":
    main()
