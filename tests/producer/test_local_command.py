"""`audio-tasks local`: the stack in the foreground, usable from another shell, Ctrl-C stops it all."""

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

from producer.demo import write_wav
from tests.support import clean_env, eventually, json_lines, run_cli

pytestmark = pytest.mark.e2e


def _read_exports(proc) -> dict:
    """The ``export`` lines on stdout, up to the blank line that ends them."""
    exports = {}
    for line in iter(proc.stdout.readline, ""):
        if not line.strip():
            break
        key, _, value = line.removeprefix("export ").strip().partition("=")
        exports[key] = shlex.split(value)[0]
    return exports


def _read_flower(proc) -> tuple[str, str]:
    """Flower's URL and login, from the line on stderr that announces them."""
    for line in iter(proc.stderr.readline, ""):
        if found := re.search(r"Flower \(live monitoring\): (\S+) \(login (\S+)\)", line):
            return found.group(1), found.group(2)
    raise AssertionError("audio-tasks local printed no Flower line")


def test_local_serves_jobs_until_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "producer.cli", "local", "--log-dir", str(tmp_path / "logs")],
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        flower, login = _read_flower(proc)
        exports = _read_exports(proc)
        assert {"AWS_ENDPOINT_URL", "SQS_QUEUE_URL", "SQS_DLQ_URL", "SAMPLES_TABLE"} <= exports.keys()
        tone = tmp_path / "tone.wav"
        write_wav(tone, 0.3 * np.sin(np.arange(22050)[:, None] / 5.0), 22050)
        run = run_cli(clean_env(**exports), "submit", str(tone), "--wait", "--json", "--timeout", "60")
        assert run.returncode == 0, run.stderr
        assert json_lines(run.stdout)[0]["status"] == "COMPLETED"

        # The exports as they are start a second worker (the documented command), which Flower sees.
        second = subprocess.Popen([sys.executable, "-m", "celery", "-A", "audio_tasks", "worker",
                                   "--hostname=second@%h", "--concurrency=1"], env=clean_env(**exports),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            workers = eventually(lambda: [w for w in _flower_api(flower, login, "/workers?json=1")["data"]
                                          if w["hostname"].startswith("second@") and w["status"]],
                                 "the second worker to be online in Flower")
            # The UI's worker controls (POST /api/worker/...) work with the login printed.
            name = workers[0]["hostname"]
            assert eventually(lambda: _grow_pool(flower, login, name), "the pool to grow") == \
                {"message": f"Growing '{name}' worker's pool by 1"}
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0, second.stderr.read()[-2000:]
        worker_env = f"AWS_ENDPOINT_URL={exports['AWS_ENDPOINT_URL']}"
        emulator_port = f"-p\0{exports['AWS_ENDPOINT_URL'].rsplit(':', 1)[1]}"
        assert _processes_with_env(worker_env) and _processes_with_cmdline(emulator_port)  # the check sees them
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped." in proc.stderr.read()
    finally:
        if proc.poll() is None:  # a failed test: Ctrl-C, so the stack's processes stop too
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    # Nothing the command started (emulator, worker, pool processes) is left running.
    assert _processes_with_env(worker_env) == [] and _processes_with_cmdline(emulator_port) == []


def _grow_pool(url: str, login: str, worker: str) -> dict | None:
    """As the worker's page does: inspect it, then grow its pool; None if it has not answered yet."""
    try:
        _flower_api(url, login, f"/api/workers?refresh=1&workername={worker}")
        return _flower_api(url, login, f"/api/worker/pool/grow/{worker}?n=1", method="POST")
    except urllib.error.HTTPError as exc:
        if exc.code not in (403, 404):  # not inspected yet, or no reply in time (best effort): again
            raise
        return None


def _flower_api(url: str, login: str, path: str, method: str = "GET"):
    token = base64.b64encode(login.encode()).decode()
    request = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


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
