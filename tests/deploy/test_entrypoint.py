"""docker/entrypoint.sh run as a script: mode dispatch, exec, the real processes' refusals, task mode.

Service mode execs ``celery`` and flower mode ``audio-tasks flower``; fakes of both on PATH
record what they were given (and its PID, to prove ``exec``). Bad configuration is refused
by the real processes (the entrypoint validates nothing itself). Task mode runs the real
one-shot runner against the emulator.
"""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from producer.demo import write_wav
from tests.support import REPO, clean_env

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)

ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-audio-processing"
FAKE_CELERY = """#!/bin/sh
trap 'echo got-SIGTERM; exit 0' TERM
echo "$$"
printf '%s\\n' "$@"
if [ -n "${FAKE_CELERY_WAIT:-}" ]; then echo waiting; while :; do sleep 0.05; done; fi
"""


@pytest.fixture
def fake_bin(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("celery", "audio-tasks"):
        (folder / name).write_text(FAKE_CELERY)
        (folder / name).chmod(0o755)
    return folder


def _env(fake_bin=None, **variables) -> dict:
    path = os.pathsep.join(p for p in (str(fake_bin or ""), str(Path(sys.executable).parent), os.environ["PATH"]) if p)
    return {**clean_env(**variables), "PATH": path}


def _run(env, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _error(run) -> str:
    [line] = run.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR"
    return record["message"]


def test_shellcheck_is_clean():
    shellcheck = Path(sys.executable).parent / "shellcheck"
    run = subprocess.run([shellcheck, "--severity=style", str(ENTRYPOINT)], capture_output=True, text=True,
                         timeout=60)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


@pytest.mark.parametrize("mode", [None, "", "worker", "SERVICE", 'x"; echo pwned'])
def test_a_missing_or_unknown_mode_is_a_usage_error(mode, fake_bin):
    run = _run(_env(fake_bin) if mode is None else _env(fake_bin, PROCESSING_MODE=mode))
    assert run.returncode == 64 and run.stdout == ""
    assert "PROCESSING_MODE" in _error(run) and "service, task or flower" in _error(run)


SERVICE = {"PROCESSING_MODE": "service", "SQS_QUEUE_URL": QUEUE_URL, "AWS_REGION": "eu-west-1"}


def test_service_mode_execs_the_worker_with_the_containers_arguments(fake_bin):
    proc = subprocess.Popen([str(ENTRYPOINT), "--hostname=w1@%h"], env=_env(fake_bin, **SERVICE),
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    pid, *argv = out.splitlines()
    assert proc.returncode == 0 and int(pid) == proc.pid  # exec'd: the worker is the container's process
    assert argv == ["--quiet", "-A", "audio_tasks", "worker", "--hostname=w1@%h"]  # the rest comes from the environment


def test_sigterm_reaches_the_worker(fake_bin):
    env = _env(fake_bin, **SERVICE, FAKE_CELERY_WAIT="1")
    proc = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while "waiting" not in lines:
            lines.append(proc.stdout.readline().strip())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read().splitlines() == ["got-SIGTERM"]
    finally:
        proc.kill()


def test_flower_mode_execs_audio_tasks_flower(fake_bin):
    run = _run(_env(fake_bin, **{**SERVICE, "PROCESSING_MODE": "flower"}), "--port=5556")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1:] == ["flower", "--port=5556"]


# -- the real processes refuse bad configuration: exit 78, one JSON line naming the variable ----
@pytest.mark.parametrize("mode, overrides, named", [
    ("service", {"SQS_QUEUE_URL": QUEUE_URL.replace("https", "http")}, "must use https"),
    ("service", {"AWS_REGION": "Ireland"}, "AWS_REGION='Ireland' is not an AWS region"),
    ("service", {"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY='0' must be between 1 and 64"),
    ("task", {"S3_KEY": "incoming/../secrets/a.wav"}, "S3_KEY='incoming/../secrets/a.wav' is not"),
    ("flower", {"MONITORING_ENABLED": "true"}, "FLOWER_BASIC_AUTH is not set"),
    ("flower", {"MONITORING_ENABLED": "false", "FLOWER_BASIC_AUTH": "admin:s3cret"}, "MONITORING_ENABLED is not true"),
    ("flower", {"MONITORING_ENABLED": "true", "FLOWER_BASIC_AUTH": "admin-s3cret"}, "(value hidden)"),
])
def test_each_mode_refuses_bad_configuration_in_one_json_line(mode, overrides, named):
    job = {"SAMPLE_ID": "s-1", "S3_BUCKET": "audio-in", "S3_KEY": "incoming/s-1/a.wav"}
    run = _run(_env(**{**SERVICE, **job, "PROCESSING_MODE": mode, **overrides}))
    assert run.returncode == 78 and run.stdout == "", run.stderr
    assert named in _error(run) and "s3cret" not in run.stderr


# -- task mode for real: one job against the emulator, no queue, no worker ----------------
def _queued_sample(stack, tmp_path, content: bytes | None) -> tuple[str, str]:
    sample_id = str(uuid.uuid4())
    key = f"incoming/{sample_id}/input.wav"
    path = tmp_path / "input.wav"
    if content is None:
        t = np.arange(8000) / 8000
        write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * t)[:, None], 8000)
    else:
        path.write_bytes(content)
    aws.client("s3", stack.settings).upload_file(str(path), stack.env["INPUT_BUCKET"], key)
    SampleRecords(stack.settings).create(sample_id, f"s3://{stack.env['INPUT_BUCKET']}/{key}")
    return sample_id, key


@pytest.mark.parametrize("content, code, status", [(None, 0, "COMPLETED"), (b"not audio", 1, "FAILED")])
def test_task_mode_processes_one_job_and_exits_with_its_outcome(stack, tmp_path, content, code, status):
    sample_id, key = _queued_sample(stack, tmp_path, content)
    env = {**_env(), **stack.env, "PATH": _env()["PATH"], "PROCESSING_MODE": "task", "SAMPLE_ID": sample_id,
           "S3_BUCKET": stack.env["INPUT_BUCKET"], "S3_KEY": key}
    run = _run(env, timeout=120)
    assert run.returncode == code, run.stderr
    record = SampleRecords(stack.settings).get(sample_id)
    assert (record["status"], record["attempts"]) == (status, 1)
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    assert lines and all(line["sample_id"] == sample_id for line in lines if line["logger"] != "botocore")


def test_task_mode_creates_a_missing_record_and_exits_1_when_the_job_fails(stack):
    sample_id = f"no-record-{uuid.uuid4()}"
    env = {**_env(), **stack.env, "PATH": _env()["PATH"], "PROCESSING_MODE": "task", "SAMPLE_ID": sample_id,
           "S3_BUCKET": stack.env["INPUT_BUCKET"], "S3_KEY": "incoming/x.wav"}
    run = _run(env)
    assert run.returncode == 1
    record = SampleRecords(stack.settings).get(sample_id)
    assert (record["status"], record["error"]["code"]) == ("FAILED", "missing_input")


def test_liveness_check_fails_on_a_missing_or_stale_file(tmp_path):
    from audio_tasks.settings import LivenessSettings
    from audio_tasks.worker.liveness import check

    path = tmp_path / "alive"
    settings = LivenessSettings(file=path)
    assert "does not exist" in check(settings)
    path.touch()
    assert check(settings) is None
    assert "last touched 61 s ago" in check(settings, now=path.stat().st_mtime + 61)
    run = subprocess.run([sys.executable, "-m", "audio_tasks.worker.liveness"], env={**os.environ, "LIVENESS_FILE": str(path),
                         "LIVENESS_MAX_AGE_SECONDS": "0.001"}, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and run.stderr.startswith("audio_tasks.worker.liveness: unhealthy: ")
