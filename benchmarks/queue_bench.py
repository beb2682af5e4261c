"""Queue benchmarks against the local emulated stack, with real worker processes.

Each phase gets a fresh queue: moto keeps a stopped worker's long poll open and would
swallow the next message sent to that queue. Every timed phase starts with warm-up jobs
that are left out of the figures (a fresh process's first job pays for imports and
connections). SQS/SNS requests are counted from the emulator's own request log (moto's
recorder), so the async pycurl calls kombu makes are counted too, not only botocore's.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from audio_tasks import aws
from audio_tasks.local_stack import LocalStack
from benchmarks.recorder import Recorder
from benchmarks.report import Row

BENCH_APP = "benchmarks.bench_app"


class QueueBench:
    def __init__(self, stack: LocalStack, work_dir: Path, warmup: int):
        self.stack, self.work_dir, self.warmup = stack, work_dir, warmup
        self.sqs = aws.client("sqs", stack.settings)
        self.recorder = Recorder(stack.env["AWS_ENDPOINT_URL"])

    # -- plumbing ------------------------------------------------------------------
    def new_queue(self, name: str) -> str:
        return self.sqs.create_queue(QueueName=f"bench-{name}-{uuid.uuid4().hex[:6]}", Attributes={
            "VisibilityTimeout": "900", "ReceiveMessageWaitTimeSeconds": "20"})["QueueUrl"]

    def phase_env(self, queue_url: str, name: str) -> dict:
        state = self.work_dir / name
        state.mkdir(parents=True, exist_ok=True)
        return {"SQS_QUEUE_URL": queue_url, "BENCH_STATE_DIR": str(state)}

    def start_worker(self, name: str, env: dict, concurrency: int):
        return self.stack.start_worker(name=f"bench-{name}", concurrency=concurrency, extra_env=env, app=BENCH_APP)

    def enqueue(self, env: dict, task: str, count: int, *extra: str) -> float:
        run = subprocess.run([sys.executable, "-m", "benchmarks.enqueue", task, str(count), *extra],
                             env={**self.stack.env, **env}, capture_output=True, text=True, timeout=900, check=True)
        return float(run.stdout.strip() or 0)

    @staticmethod
    def jobs(env: dict, count: int, timeout_s: float = 900) -> list[tuple[float, float, float]]:
        """(sent, started, finished) per counted job (warm-ups left out), once ``count`` of them have run."""
        log = Path(env["BENCH_STATE_DIR"]) / "jobs.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = [line.split() for line in (log.read_text().splitlines() if log.exists() else [])]
            counted = [tuple(map(float, fields[1:])) for fields in lines if int(fields[0]) >= 0]
            if len(counted) >= count:
                return counted
            time.sleep(0.05)
        raise TimeoutError(f"only {len(counted)} of {count} jobs ran within {timeout_s:.0f} s")

    # -- benchmarks ------------------------------------------------------------------
    def queue_path(self, latency_jobs: int, load_jobs: int, idle_s: float) -> list[Row]:
        """One -c 2 worker, as deployed: start latency with both pool processes idle, SQS requests at
        load and when idle, then start latency with the other process busy on pure-Python work.
        Start latency is enqueue → task start, each job sent once the previous one started."""
        env = self.phase_env(self.new_queue("queue-path"), "queue-path")
        worker = self.start_worker("queue-path", env, concurrency=2)
        self.enqueue(env, "noop", latency_jobs, "--paced", "--warmup", str(self.warmup))
        idle = self._latencies(env, latency_jobs)

        def load() -> None:
            self.enqueue(env, "noop", load_jobs)
            self.jobs(env, load_jobs)
        load_calls = self._recorded(load)
        self._next_phase(env)
        idle_calls = self._recorded(lambda: time.sleep(idle_s))
        state = Path(env["BENCH_STATE_DIR"])
        self.enqueue(env, "busy", 1)
        _wait_for(state / "busy.running")
        self.enqueue(env, "noop", latency_jobs, "--paced")
        busy = self._latencies(env, latency_jobs)
        (state / "busy.stop").touch()
        self.stack.stop_worker(worker)

        p = {percent: _percentile(idle, percent) for percent in (50, 95, 99)}
        p99_busy = _percentile(busy, 99)
        per_job = sum(load_calls.values()) / load_jobs
        per_minute = sum(idle_calls.values()) / (idle_s / 60)
        return [
            Row("start latency p50 (idle worker)", p[50], "ms",
                detail=f"{latency_jobs} jobs, enqueue → task start, -c 2"),
            Row("start latency p95 (idle worker)", p[95], "ms"),
            Row("start latency p99 (idle worker)", p[99], "ms", "≤ 100 ms", p[99] <= 100),
            Row("start latency p99 (other process busy)", p99_busy, "ms", "≤ 250 ms", p99_busy <= 250,
                f"{latency_jobs} jobs; p50 {_percentile(busy, 50):.1f} ms, p95 {_percentile(busy, 95):.1f} ms"),
            Row("SQS requests per job at load", per_job, "", "≤ 2.5", per_job <= 2.5,
                f"{load_jobs} jobs, worker -c 2, producer included (one SendMessage per job): {_calls(load_calls)}"),
            Row("SQS requests per idle worker-minute", per_minute, "", "≤ 4", per_minute <= 4,
                f"{idle_s:.0f} s idle: {_calls(idle_calls)}"),
        ]

    def _latencies(self, env: dict, jobs: int) -> list[float]:
        latencies = sorted((started - sent) * 1000 for sent, started, _ in self.jobs(env, jobs))
        self._next_phase(env)
        return latencies

    @staticmethod
    def _next_phase(env: dict) -> None:
        """Set this phase's job log aside: the worker starts a new one with its next job."""
        log = Path(env["BENCH_STATE_DIR"]) / "jobs.log"
        log.rename(log.with_name(f"jobs-{time.time_ns()}.log"))

    def _recorded(self, during) -> Counter:
        """The SQS/SNS requests the emulator served while ``during()`` ran (and 2 s after: the last
        batched deletes)."""
        self.recorder.start()
        during()
        time.sleep(2.0)
        return Counter(call.action for call in self.recorder.stop())

    def throughput_vs_hand_loop(self, jobs: int) -> list[Row]:
        """No-op jobs drained from a full queue: a -c 2 Celery worker against the hand-written loop it
        replaces, two processes each receiving one message at a time and deleting it."""
        env = self.phase_env(self.new_queue("drain"), "drain")
        self.enqueue(env, "noop", jobs, "--warmup", str(self.warmup))  # fill first: measure draining
        worker = self.start_worker("drain", env, concurrency=2)
        celery_rate = _throughput(self.jobs(env, jobs))
        self.stack.stop_worker(worker)

        loop_env = self.phase_env(self.new_queue("hand-loop"), "hand-loop")
        self.enqueue(loop_env, "noop", jobs, "--warmup", str(self.warmup))  # the same messages
        run = subprocess.run([sys.executable, "-m", "benchmarks.baseline_consumer", loop_env["SQS_QUEUE_URL"],
                              str(jobs), "--concurrency", "2", "--warmup", str(self.warmup)],
                             env=self.stack.env, capture_output=True, text=True, timeout=1800, check=True)
        first, last = map(float, run.stdout.split())
        loop_rate = jobs / (last - first)
        ratio = celery_rate / loop_rate
        return [Row("Celery worker throughput ÷ boto3 hand loop", ratio, "×", "≥ 1.0", ratio >= 1.0,
                    f"{jobs} no-op jobs drained from a full queue: Celery (-c 2) {celery_rate:.1f}/s, "
                    f"two boto3 receive-one→delete loops {loop_rate:.1f}/s")]

    def scaling(self, jobs: int, iterations: int, rounds: int) -> list[Row]:
        """CPU-bound jobs with -c 1 and -c 2, the two interleaved ``rounds`` times."""
        spans = {1: 0.0, 2: 0.0}
        for round_ in range(rounds):
            for concurrency in (1, 2):
                name = f"cpu-c{concurrency}-{round_}"
                env = self.phase_env(self.new_queue(name), name)
                self.enqueue(env, "cpu", jobs, "--iterations", str(iterations), "--warmup", str(2 * concurrency))
                worker = self.start_worker(name, env, concurrency=concurrency)
                spans[concurrency] += jobs / _throughput(self.jobs(env, jobs))
                self.stack.stop_worker(worker)
        rates = {c: rounds * jobs / span for c, span in spans.items()}
        ratio = rates[2] / rates[1]
        return [Row("CPU-bound throughput, 2 ÷ 1 worker processes", ratio, "×", "≥ 1.8", ratio >= 1.8,
                    f"{rounds} × {jobs} jobs each, after warm-up jobs: {rates[1]:.2f}/s with -c 1, "
                    f"{rates[2]:.2f}/s with -c 2")]


def _wait_for(path: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} did not appear within {timeout_s:.0f} s")
        time.sleep(0.05)


def _calls(counter: Counter) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common()) or "none"


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _throughput(jobs: list[tuple[float, float, float]]) -> float:
    first_start = min(started for _, started, _ in jobs)
    last_finish = max(finished for _, _, finished in jobs)
    return len(jobs) / (last_finish - first_start)
