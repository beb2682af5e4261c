"""The embedded local AWS stack: moto's server on 127.0.0.1, provisioned like production.

One class owns it so ``audio-tasks local``, ``make demo`` and the tests share exactly the
same resources: the work queue (with a redrive policy to its DLQ), the input and output
buckets and the samples table. Everything talks to it over HTTP through the normal
boto3/kombu code paths, pointed at the emulator by ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from audio_tasks import aws
from audio_tasks.settings import LOCAL_CREDENTIALS, LOCAL_REGION, Settings


@dataclass(frozen=True)
class StackOptions:
    """The stack's resources; names and timings default to the service's own defaults."""

    visibility_timeout: int = Settings.visibility_timeout
    wait_time_seconds: int = Settings.wait_time_seconds
    max_receive_count: int = 3  # the template's MaxReceiveCount default
    queue_name: str = Settings.queue_name
    input_bucket: str = Settings.input_bucket
    output_bucket: str = Settings.output_bucket
    samples_table: str = Settings.samples_table
    monitoring: bool = False  # events and remote control for Flower (MONITORING_ENABLED)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStack:
    """Start with ``with LocalStack(log_dir) as stack:``; ``stack.env`` configures children."""

    def __init__(self, log_dir: Path, options: StackOptions = StackOptions()):
        self.log_dir = Path(log_dir)
        self.options = options
        self.env: dict[str, str] = {}  # this process's environment plus ``service_env``
        self.service_env: dict[str, str] = {}  # every variable a process needs to use the stack
        # Flower's login (FLOWER_BASIC_AUTH) unless the environment names one: with a login, the
        # UI's worker controls (Flower's /api) work, and other web pages cannot drive them.
        self.flower_login = f"local:{secrets.token_urlsafe(12)}"
        self._processes: list[tuple[str, subprocess.Popen]] = []
        self._log_starts: dict[str, int] = {}  # where each log's latest process began writing

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> "LocalStack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        self._spawn("emulator", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    env=os.environ.copy())
        self._wait_for_port(port, timeout_s=30)
        o = self.options
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
        self.service_env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "INPUT_BUCKET": o.input_bucket,
            "OUTPUT_BUCKET": o.output_bucket,
            "SAMPLES_TABLE": o.samples_table,
            "SQS_VISIBILITY_TIMEOUT": str(o.visibility_timeout),
            "SQS_WAIT_TIME_SECONDS": str(o.wait_time_seconds),
            "MONITORING_ENABLED": str(o.monitoring).lower(),
        }
        self.env = {**base, **self.service_env}
        queue_url, dlq_url = self._provision()
        self.service_env.update(SQS_QUEUE_URL=queue_url, SQS_DLQ_URL=dlq_url)
        self.env.update(self.service_env)

    def stop(self) -> None:
        """Stop every process started here, workers first, the emulator last."""
        for name, proc in reversed(self._processes):
            _terminate(proc, timeout_s=30 if name.startswith("worker") else 10)
        self._processes.clear()

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    # -- resources -------------------------------------------------------------
    def _provision(self) -> tuple[str, str]:
        o, settings = self.options, Settings.from_env(self.env)
        sqs = aws.client("sqs", settings)
        dlq_url = sqs.create_queue(QueueName=f"{o.queue_name}-dlq",
                                   Attributes={"MessageRetentionPeriod": str(14 * 86400)})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(QueueName=o.queue_name, Attributes={
            "VisibilityTimeout": str(o.visibility_timeout),
            "ReceiveMessageWaitTimeSeconds": str(o.wait_time_seconds),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(o.max_receive_count)}),
        })["QueueUrl"]
        s3 = aws.client("s3", settings)
        for bucket in (o.input_bucket, o.output_bucket):
            s3.create_bucket(Bucket=bucket)
        aws.client("dynamodb", settings).create_table(
            TableName=o.samples_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "sample_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "sample_id", "KeyType": "HASH"}],
        )
        return queue_url, dlq_url

    # -- processes -------------------------------------------------------------
    def start_worker(self, name: str = "worker", concurrency: int = 2, extra_env: dict | None = None,
                     extra_args: tuple[str, ...] = (), timeout_s: float = 60,
                     app: str = "audio_tasks") -> subprocess.Popen:
        """Start ``celery -A APP worker`` against this stack; returns once it is ready."""
        env = {"LIVENESS_FILE": str(self.log_dir / f"{name}.alive"), **self.env, **(extra_env or {})}
        command = [sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel=INFO",
                   f"--concurrency={concurrency}", f"--hostname={name}@%h", *extra_args]
        proc = self._spawn(name, command, env=env)
        self._wait_for_log(name, proc, " ready.", timeout_s)
        return proc

    def start_flower(self, name: str = "flower", extra_env: dict | None = None,
                     extra_args: tuple[str, ...] = (), timeout_s: float = 60) -> tuple[str, subprocess.Popen]:
        """Start ``audio-tasks flower`` on a free local port; returns its URL and process once it serves.

        Its login is ``flower_login``, unless the environment or ``extra_env`` sets FLOWER_BASIC_AUTH.
        """
        port = free_port()
        command = [sys.executable, "-m", "producer.cli", "flower", f"--port={port}", "--address=127.0.0.1",
                   *extra_args]
        env = {"FLOWER_BASIC_AUTH": self.flower_login, **self.env, **(extra_env or {})}
        proc = self._spawn(name, command, env=env)
        self._wait_for_log(name, proc, "Flower is at", timeout_s)
        return f"http://127.0.0.1:{port}", proc

    def kill_worker(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a worker's whole process group (main and pool processes)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop_worker(self, proc: subprocess.Popen, timeout_s: float = 60) -> int:
        """SIGTERM a worker (warm shutdown, as ECS does) and wait; returns its exit code.

        Only the main process is signalled: it shuts its pool down itself.
        """
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill_worker(proc)
            proc.wait()
            raise

    def processes(self) -> list[subprocess.Popen]:
        return [proc for _, proc in self._processes]

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _spawn(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(self.log_path(name), "ab")
        self._log_starts[name] = log.seek(0, os.SEEK_END)  # logs are appended across runs
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._processes.append((name, proc))
        return proc

    def _wait_for_log(self, name: str, proc: subprocess.Popen, needle: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        path = self.log_path(name)
        while time.monotonic() < deadline:
            with open(path, "rb") as log:  # only this process's lines: an earlier run's say nothing of it
                log.seek(self._log_starts.get(name, 0))
                if needle.encode() in log.read():
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting; see {path}:\n"
                                   + path.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        raise RuntimeError(f"{name} was not ready after {timeout_s:.0f} s; see {path}")

    def _wait_for_port(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                emulator = self._processes[0][1]
                if emulator.poll() is not None:
                    raise RuntimeError(f"the emulator exited with {emulator.returncode}; see "
                                       f"{self.log_path('emulator')}") from None
                time.sleep(0.1)
        raise RuntimeError(f"the emulator did not listen on port {port} within {timeout_s:.0f} s")


def _terminate(proc: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not exited in time."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()
