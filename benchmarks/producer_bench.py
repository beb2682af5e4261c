"""``audio-tasks submit`` of an S3 prefix against the plain ``send_message_batch`` loop sending the same messages.

Paired: loop, submit, loop, each to a fresh queue (moto's SendMessageBatch gets slower as
its queue fills, so every run starts from empty), after an untimed warm-up of both. The
submit is timed as a user meets it, CLI start-up, listing and records included; the loop
sends pre-made messages and writes no record. The emulator's request log gives submit's
requests by kind.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter

from audio_tasks import aws
from benchmarks.queue_bench import QueueBench, _calls
from benchmarks.recorder import Recorder
from benchmarks.report import Row


def submit_vs_raw_loop(bench: QueueBench, objects: int, warmup: int) -> list[Row]:
    warm, timed = _prefix(bench, warmup), _prefix(bench, objects)
    _raw_loop(bench, warm, warmup)
    _submit(bench, warm, bench.new_queue("submit-warmup"))
    raw_s = _raw_loop(bench, timed, objects)
    queue_url = bench.new_queue("submit")
    recorder = Recorder(bench.stack.env["AWS_ENDPOINT_URL"], everything=True)
    recorder.start()
    submit_s = _submit(bench, timed, queue_url)
    requests = Counter(call.action for call in recorder.stop())
    raw_s = (raw_s + _raw_loop(bench, timed, objects)) / 2
    ratio = submit_s / raw_s
    return [Row("audio-tasks submit ÷ raw send_message_batch loop", ratio, "× time", "≤ 1.2", ratio <= 1.2,
                f"{objects} S3 objects under one prefix: submit {submit_s:.2f} s (CLI start-up, listing, "
                f"records and jobs: {_calls(requests)}), the loop {raw_s:.2f} s (the same messages, no records; "
                "mean of the runs before and after)")]


def _prefix(bench: QueueBench, objects: int) -> str:
    """A fresh prefix holding ``objects`` small objects; returns it (``incoming/...-N/``)."""
    s3 = aws.client("s3", bench.stack.settings)
    prefix = f"incoming/bench-{uuid.uuid4().hex[:8]}/"
    for number in range(objects):
        s3.put_object(Bucket=bench.stack.env["INPUT_BUCKET"], Key=f"{prefix}{number:05d}.wav", Body=b"RIFF")
    return prefix


def _submit(bench: QueueBench, prefix: str, queue_url: str) -> float:
    env = {**bench.stack.env, "SQS_QUEUE_URL": queue_url}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "producer.cli", "submit", f"s3://{env['INPUT_BUCKET']}/{prefix}"],
                   env=env, capture_output=True, timeout=1800, check=True)
    return time.perf_counter() - began


def _raw_loop(bench: QueueBench, prefix: str, objects: int) -> float:
    env = {**bench.stack.env, "SQS_QUEUE_URL": bench.new_queue("raw-loop")}
    run = subprocess.run([sys.executable, "-m", "benchmarks.raw_send", env["INPUT_BUCKET"], prefix, str(objects)],
                         env=env, capture_output=True, text=True, timeout=1800, check=True)
    return float(run.stdout)
