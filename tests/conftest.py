"""Shared fixtures: the emulator-backed local stack and a real worker subprocess.

Integration tests talk to moto's server over HTTP (the same boto3/kombu code paths as
production), never to in-process fakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audio_tasks.local_stack import LocalStack

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def stack():
    """The emulator with the production-shaped resources, for the whole session."""
    with LocalStack(ARTIFACTS / "logs") as local:
        yield local


@pytest.fixture(scope="session")
def worker(stack):
    """One real ``celery -A audio_tasks worker`` process consuming the stack's queue."""
    return stack.start_worker(name="worker")


def run_cli(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``audio-tasks ARGS`` as a subprocess with ``env``."""
    return subprocess.run([sys.executable, "-m", "producer.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def clean_env(**overrides: str) -> dict:
    """The current environment without any AWS/queue settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    env.update(overrides)
    return env
