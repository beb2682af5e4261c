"""``python -m benchmarks [--quick | --smoke]``: run every benchmark, print one table,
write ``benchmarks/results.json`` (``results-quick.json`` / ``results-smoke.json``).

Every figure is a ratio against a baseline measured in the same run, or a percentile:
these machines are shared and noisy, so no absolute time is asserted anywhere. The table
compares each value with the previous committed results of the same mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
_BEGAN = time.perf_counter()


@dataclass(frozen=True)
class Scale:
    latency_jobs: int
    load_jobs: int
    idle_s: float
    drain_jobs: int
    cpu_jobs: int
    cpu_iterations: int
    speed_minutes: float
    memory_minutes: tuple[float, ...]
    producer_jobs: int
    import_runs: int
    monitoring_s: float  # the idle window; leases are renewed every 100 s
    warmup: int  # untimed jobs before every timed queue phase
    rounds: int  # interleaved -c 1 / -c 2 rounds of the scaling row
    # SQS_WAIT_TIME_SECONDS of the bench's stacks. Production's 20 s, except in the smoke run:
    # a stopping worker settles its last long poll first (worker/shutdown.py), so every worker
    # stop took up to 20 s, and the smoke run 150 s instead of 56 s with a 1 s poll.
    poll_s: int = 20


SCALES = {
    "full": Scale(500, 500, 60, 1000, 12, 3_000_000, 10, (10, 60, 120), 1000, 7, 200, 10, 2),
    "quick": Scale(100, 100, 25, 200, 6, 1_500_000, 1, (1, 2, 4), 200, 5, 100, 5, 1),
    "smoke": Scale(3, 5, 1, 5, 2, 10_000, 0.05, (0.05, 0.1), 5, 1, 2, 1, 1, poll_s=1),
}


def run(mode: str, work_dir: Path) -> list:
    from audio_tasks.local_stack import LocalStack, StackOptions
    from benchmarks.audio_bench import memory_vs_duration, pipeline_speed, reencoded_preview_speed
    from benchmarks.lambda_import import cold_import
    from benchmarks.monitoring_bench import idle_cost
    from benchmarks.producer_bench import submit_vs_raw_loop
    from benchmarks.queue_bench import QueueBench

    scale = SCALES[mode]
    work_dir.mkdir(parents=True, exist_ok=True)
    # The emulator records every request here once told to: our SQS request counter.
    os.environ["MOTO_RECORDER_FILEPATH"] = str(work_dir / "recording.jsonl")
    rows = []
    with LocalStack(work_dir / "logs", StackOptions(wait_time_seconds=scale.poll_s)) as stack:
        bench = QueueBench(stack, work_dir / "state", scale.warmup)
        _step("start latency, requests per job, idle polling")
        rows += bench.queue_path(scale.latency_jobs, scale.load_jobs, scale.idle_s)
        _step("Celery vs the hand loop")
        rows += bench.throughput_vs_hand_loop(scale.drain_jobs)
        _step("scaling with worker processes")
        rows += bench.scaling(scale.cpu_jobs, scale.cpu_iterations, scale.rounds)
        _step("producer")
        rows += submit_vs_raw_loop(bench, scale.producer_jobs, scale.warmup)
    _step("pipeline speed")
    rows += pipeline_speed(work_dir, scale.speed_minutes)
    rows += reencoded_preview_speed(work_dir, scale.speed_minutes)
    _step("memory vs duration")
    rows += memory_vs_duration(work_dir, scale.memory_minutes)
    _step("Lambda cold import")
    rows += cold_import(scale.import_runs)
    _step("live monitoring's requests")
    rows += idle_cost(work_dir, scale.monitoring_s, scale.poll_s)
    return rows


def _step(what: str) -> None:
    print(f"… {what} ({time.perf_counter() - _BEGAN:.0f} s in)", file=sys.stderr, flush=True)


def main() -> int:
    from benchmarks.report import load_average, previous_values, save, table

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", const="quick", dest="mode")
    group.add_argument("--smoke", action="store_const", const="smoke", dest="mode")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    mode = args.mode or "full"
    import shutil
    shutil.rmtree(args.work_dir / "state", ignore_errors=True)
    committed = HERE / ("results.json" if mode == "full" else f"results-{mode}.json")
    results = args.results or committed
    previous = previous_values(committed)
    rows = run(mode, args.work_dir)
    load = load_average()
    print(table(rows, mode, previous, load))
    save(rows, mode, results, load)
    print(f"\nwritten to {results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
