"""`audio-tasks local`: the stack in the foreground, usable from another shell, Ctrl-C stops it all."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from producer.demo import write_wav
from tests.support import clean_env, json_lines, run_cli

pytestmark = pytest.mark.e2e


def _read_exports(proc, timeout=90) -> dict:
    exports, deadline = {}, time.monotonic() + timeout
    while time.monotonic() < deadline and "SAMPLES_TABLE" not in exports:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            key, _, value = line[len("export "):].strip().partition("=")
            exports[key] = value
    return exports


def test_local_serves_jobs_until_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "producer.cli", "local", "--log-dir", str(tmp_path / "logs")],
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        exports = _read_exports(proc)
        assert {"AWS_ENDPOINT_URL", "SQS_QUEUE_URL", "SAMPLES_TABLE"} <= exports.keys()
        tone = tmp_path / "tone.wav"
        write_wav(tone, 0.3 * np.sin(np.arange(22050)[:, None] / 5.0), 22050)
        run = run_cli(clean_env(**exports), "submit", str(tone), "--wait", "--json", "--timeout", "60")
        assert run.returncode == 0, run.stderr
        assert json_lines(run.stdout)[0]["status"] == "COMPLETED"
        worker_env = f"AWS_ENDPOINT_URL={exports['AWS_ENDPOINT_URL']}"
        emulator_port = f"-p\0{exports['AWS_ENDPOINT_URL'].rsplit(':', 1)[1]}"
        assert _processes_with_env(worker_env) and _processes_with_cmdline(emulator_port)  # the check sees them
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped." in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Nothing the command started (emulator, worker, pool processes) is left running.
    assert _processes_with_env(worker_env) == [] and _processes_with_cmdline(emulator_port) == []


def _processes_with_env(needle: str) -> list[str]:
    return _scan("environ", needle)


def _processes_with_cmdline(needle: str) -> list[str]:
    return _scan("cmdline", needle)


def _scan(what: str, needle: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle.encode() in open(f"/proc/{pid}/{what}", "rb").read():
                found.append(pid)
        except OSError:
            pass
    return found
