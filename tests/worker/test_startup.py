"""Bad configuration stops a real worker at start-up with one JSON line naming it, not a traceback."""

import json
import subprocess
import sys

import pytest

from audio_tasks.local_stack import free_port
from tests.support import clean_env, run_cli

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)


def _start_worker(env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celery", "-A", "audio_tasks", "worker", "--concurrency=1"],
                          env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def _error_lines(run) -> list[str]:
    """The messages of the JSON ERROR lines on stderr (Celery warns in plain text when run as root)."""
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    return [line["message"] for line in lines if line["level"] == "ERROR"]


@pytest.mark.parametrize("env, variable", [
    (clean_env(AWS_REGION="eu-west-1"), "SQS_QUEUE_URL"),
    (clean_env(AWS_ENDPOINT_URL="http://127.0.0.1:1", SQS_VISIBILITY_TIMEOUT="soon"), "SQS_VISIBILITY_TIMEOUT"),
])
def test_missing_or_malformed_settings(env, variable):
    run = _start_worker(env)
    assert run.returncode == 78
    [line] = _error_lines(run)
    assert line.startswith("configuration error: ") and variable in line
    assert "Traceback" not in run.stderr


def test_an_endpoint_that_does_not_answer():
    endpoint = f"http://127.0.0.1:{free_port()}"
    run = _start_worker(clean_env(AWS_ENDPOINT_URL=endpoint))
    assert run.returncode == 69  # EX_UNAVAILABLE
    [line] = _error_lines(run)
    assert f"cannot reach SQS (AWS_ENDPOINT_URL={endpoint})" in line
    assert "Traceback" not in run.stderr


def test_a_queue_that_does_not_exist(stack):
    url = stack.env["SQS_QUEUE_URL"].rsplit("/", 1)[0] + "/no-such-queue"
    run = _start_worker({**stack.env, "SQS_QUEUE_URL": url})
    assert run.returncode == 78
    [line] = _error_lines(run)
    assert "the queue named by SQS_QUEUE_URL is not usable" in line


def test_the_cli_reports_an_unreachable_endpoint_in_one_line():
    endpoint = f"http://127.0.0.1:{free_port()}"
    run = run_cli(clean_env(AWS_ENDPOINT_URL=endpoint), "status", "some-sample")
    assert run.returncode == 1
    assert run.stderr.startswith("audio-tasks: AWS request failed: Could not connect to the endpoint URL")
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
