"""Queue benchmarks against the local emulated stack, with real worker processes.

Each phase gets a fresh queue: moto keeps a stopped worker's long poll open and would
swallow the next message sent to that queue. SQS/SNS requests are counted from the
emulator's own request log (moto's recorder), so the async pycurl calls kombu makes are
counted too, not only botocore's.
"""

from __future__ import annotations

import json
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
    def __init__(self, stack: LocalStack, work_dir: Path):
        self.stack, self.work_dir = stack, work_dir
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
        return float(run.stdout.strip())

    @staticmethod
    def jobs(env: dict, count: int, timeout_s: float = 600) -> list[tuple[float, float, float]]:
        """(sent, started, finished) per job, once ``count`` jobs have run."""
        log = Path(env["BENCH_STATE_DIR"]) / "jobs.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) >= count:
                return [tuple(map(float, line.split()[1:])) for line in lines]
            time.sleep(0.05)
        raise TimeoutError(f"only {len(lines)} of {count} jobs ran within {timeout_s:.0f} s")

    # -- benchmarks ------------------------------------------------------------------
    def latency_and_requests(self, latency_jobs: int, load_jobs: int, idle_s: float) -> list[Row]:
        env = self.phase_env(self.new_queue("latency"), "latency")
        worker = self.start_worker("latency", env, concurrency=1)
        time.sleep(1.0)  # let the worker settle into its first long poll
        self.enqueue(env, "noop", latency_jobs, "--paced")
        latencies = sorted((started - sent) * 1000 for sent, started, _ in self.jobs(env, latency_jobs))
        self.stack.stop_worker(worker)

        env = self.phase_env(self.new_queue("load"), "load")
        worker = self.start_worker("load", env, concurrency=2)
        self.recorder.start()
        self.enqueue(env, "noop", load_jobs)
        self.jobs(env, load_jobs)
        time.sleep(1.0)  # the last deletes
        load_calls = Counter(call.action for call in self.recorder.stop())
        self.recorder.start()
        time.sleep(idle_s)
        idle_calls = Counter(call.action for call in self.recorder.stop())
        self.stack.stop_worker(worker)

        per_job = sum(load_calls.values()) / load_jobs
        per_minute = sum(idle_calls.values()) / (idle_s / 60)
        return [
            Row("start latency p50 (idle worker)", _percentile(latencies, 50), "ms", "≤ 100 ms",
                _percentile(latencies, 50) <= 100, f"{latency_jobs} jobs, enqueue → task start"),
            Row("start latency p95", _percentile(latencies, 95), "ms"),
            Row("start latency p99", _percentile(latencies, 99), "ms", "≤ 500 ms", _percentile(latencies, 99) <= 500),
            Row("SQS requests per job at load", per_job, "", "≤ 2.5", per_job <= 2.5,
                f"{load_jobs} jobs, worker -c 2, producer included: {_calls(load_calls)}"),
            Row("SQS requests per idle worker-minute", per_minute, "", "≤ 4", per_minute <= 4,
                f"{idle_s:.0f} s idle: {_calls(idle_calls)}"),
        ]

    def overhead_vs_baseline(self, jobs: int) -> list[Row]:
        env = self.phase_env(self.new_queue("drain"), "drain")
        self.enqueue(env, "noop", jobs)  # fill first: measure draining, not producing
        worker = self.start_worker("drain", env, concurrency=2)
        celery_rate = _throughput(self.jobs(env, jobs))
        self.stack.stop_worker(worker)

        queue = self.new_queue("baseline")
        for start in range(0, jobs, 10):
            self.sqs.send_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"job": i})} for i in range(start, min(start + 10, jobs))])
        run = subprocess.run([sys.executable, "-m", "benchmarks.baseline_consumer", queue, str(jobs)],
                             env=self.stack.env, capture_output=True, text=True, timeout=900, check=True)
        first, last = map(float, run.stdout.split())
        baseline_rate = jobs / (last - first)
        return [Row("Celery worker throughput ÷ boto3 baseline loop", celery_rate / baseline_rate, "×",
                    detail=f"{jobs} no-op jobs drained: Celery (-c 2) {celery_rate:.0f}/s, "
                           f"baseline (one boto3 receive→delete loop) {baseline_rate:.0f}/s")]

    def scaling(self, jobs: int, iterations: int) -> list[Row]:
        rates = {}
        for concurrency in (1, 2):
            name = f"cpu-c{concurrency}"
            env = self.phase_env(self.new_queue(name), name)
            self.enqueue(env, "cpu", jobs, "--iterations", str(iterations))
            worker = self.start_worker(name, env, concurrency=concurrency)
            rates[concurrency] = _throughput(self.jobs(env, jobs))
            self.stack.stop_worker(worker)
        ratio = rates[2] / rates[1]
        return [Row("CPU-bound throughput, 2 ÷ 1 worker processes", ratio, "×", "≥ 1.8", ratio >= 1.8,
                    f"{jobs} jobs: {rates[1]:.2f}/s with -c 1, {rates[2]:.2f}/s with -c 2")]

    def producer(self, jobs: int) -> list[Row]:
        s3 = aws.client("s3", self.stack.settings)
        bucket = self.stack.env["INPUT_BUCKET"]
        keys = [f"incoming/bench/{i:05d}.wav" for i in range(jobs)]
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"RIFF")
        queue = self.new_queue("producer")
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "producer.cli", "submit", *(f"s3://{bucket}/{k}" for k in keys)],
                       env={**self.stack.env, "SQS_QUEUE_URL": queue}, capture_output=True, timeout=900, check=True)
        submit_s = time.perf_counter() - began
        raw_queue = self.new_queue("raw-producer")
        began = time.perf_counter()
        sqs = aws.client("sqs", self.stack.settings)
        for start in range(0, jobs, 10):
            sqs.send_message_batch(QueueUrl=raw_queue, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"bucket": bucket, "key": keys[i]})}
                for i in range(start, min(start + 10, jobs))])
        raw_s = time.perf_counter() - began
        return [Row("audio-tasks submit ÷ raw send_message_batch loop", submit_s / raw_s, "× time",
                    detail=f"{jobs} S3 objects: submit {submit_s:.1f} s (one DynamoDB record + one message each, "
                           f"CLI start-up included), raw batches {raw_s:.2f} s (messages only)")]


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


