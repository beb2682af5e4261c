"""Send benchmark jobs through the Celery client, as a producer process would.

``python -m benchmarks.enqueue TASK COUNT [--paced] [--iterations N]``: with ``--paced``
each job is sent only once the previous one has started (an idle worker every time),
otherwise all are sent back to back. Prints the seconds spent sending.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.bench_app import cpu, noop


def started_jobs(state_dir: Path) -> int:
    log = state_dir / "jobs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=("noop", "cpu"))
    parser.add_argument("count", type=int)
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--iterations", type=int, default=2_000_000)
    args = parser.parse_args()
    state_dir = Path(os.environ["BENCH_STATE_DIR"])
    began = time.perf_counter()
    for job in range(args.count):
        already = started_jobs(state_dir)
        if args.task == "noop":
            noop.delay(job, time.time())
        else:
            cpu.delay(job, time.time(), args.iterations)
        while args.paced and started_jobs(state_dir) == already:
            time.sleep(0.005)
    print(f"{time.perf_counter() - began:.6f}")


if __name__ == "__main__":
    main()
