"""Helpers every kind of test uses: paths, running the CLI, reading JSON lines, waiting for a state,
and the messages producers other than Celery send (plain JSON, S3 event records)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import quote_plus

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

T = TypeVar("T")


def eventually(probe: Callable[[], T], what: str, timeout_s: float = 120, interval_s: float = 0.25) -> T:
    """``probe()``'s first truthy value, polled; fails naming ``what`` only after a generous timeout.

    Tests wait for a state this way and never assert how fast it came: these machines are shared.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last seen: {value!r}")
        time.sleep(interval_s)


def run_cli(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``audio-tasks ARGS`` as a subprocess with ``env``."""
    return subprocess.run([sys.executable, "-m", "producer.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def submit_tones(env: dict, directory: Path, *names: str) -> list[str]:
    """Submit a short tone under each file name in ``directory`` (a file already there is submitted
    as it is) with ``audio-tasks submit``; returns the sample ids, in order."""
    import numpy as np

    from producer.demo import write_wav

    paths = []
    for name in names:
        path = directory / name
        if not path.exists():
            t = np.arange(11025) / 22050
            write_wav(path, 0.3 * np.sin(2 * np.pi * 440 * t)[:, None], 22050)
        paths.append(str(path))
    run = run_cli(env, "submit", *paths, "--json")
    assert run.returncode == 0, run.stderr
    return [line["sample_id"] for line in json_lines(run.stdout)]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def log_lines(path: Path, needle: str = "") -> list[dict]:
    """The JSON lines of a process's log that contain ``needle`` (other lines, e.g. warnings, skipped)."""
    lines = path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{") and needle in line]


def send_body(stack, body) -> str:
    """Send ``body`` (JSON-encoded unless text) to the stack's work queue with plain boto3; its message id."""
    from audio_tasks import aws

    text = body if isinstance(body, str) else json.dumps(body)
    return aws.client("sqs", stack.settings).send_message(QueueUrl=stack.env["SQS_QUEUE_URL"],
                                                          MessageBody=text)["MessageId"]


def final_record(stack, sample_id: str, timeout_s: float = 120) -> dict:
    """The sample's record once it is COMPLETED or FAILED (it may not exist yet: a worker creates it)."""
    from audio_tasks.aws.records import RecordNotFound, SampleRecords
    from audio_tasks.vocabulary import FINAL_STATES

    records = SampleRecords(stack.settings)

    def final():
        try:
            record = records.get(sample_id)
        except RecordNotFound:
            return None
        # .get: the emulator applies an UpdateItem that creates an item one attribute at a time
        # (measured: a read between them saw a record without its status); DynamoDB's is atomic.
        return record if record.get("status") in FINAL_STATES else None
    return eventually(final, f"sample {sample_id} to reach a final state", timeout_s)


def s3_record(key: str, bucket: str = "audio-in", event: str = "ObjectCreated:Put", **object_fields) -> dict:
    """An S3 event notification record as S3 sends it: the key URL-encoded with '+' for spaces."""
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": event,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quote_plus(key), "size": 1024, **object_fields}}}


def clean_env(**overrides: str) -> dict:
    """The current environment without any AWS/queue settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    env.update(overrides)
    return env


def celery_message(task: str, args: list, kwargs: dict | None = None, *, content_type: str | None = None,
                   body: bytes | None = None, queue: str = "audio-processing") -> str:
    """An SQS message body as a Celery producer sends one: Celery's own envelope (made by a throwaway
    app on kombu's in-memory transport), JSON-encoded and base64-wrapped as kombu's SQS transport does.

    ``content_type`` and ``body`` replace the envelope's, to make the hostile variants of a message.
    ``queue`` is the routing key the envelope names: the queue it is sent to.
    """
    from celery import Celery

    app = Celery("message-maker", broker="memory://", set_as_current=False)
    with app.connection_for_write() as connection:
        app.send_task(task, args=args, kwargs=kwargs or {}, queue=queue, connection=connection)
        envelope = connection.default_channel._get(queue)
    if content_type is not None:
        envelope["content-type"] = content_type
    if body is not None:
        envelope["body"] = base64.b64encode(body).decode()
    return base64.b64encode(json.dumps(envelope).encode()).decode()
