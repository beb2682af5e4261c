"""`make demo`'s command end to end: its own stack, a worker, examples, a table, artifacts."""

import json
import subprocess
import sys

import pytest

from tests.support import clean_env

pytestmark = pytest.mark.e2e


def test_demo_runs_every_example_to_its_expected_state(tmp_path):
    out = tmp_path / "demo-output"
    run = subprocess.run([sys.executable, "-m", "producer.cli", "demo", "--out", str(out)], env=clean_env(),
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads((out / "summary.json").read_text())
    assert {r["file"]: r["status"] for r in rows} == {
        "empty.wav": "FAILED", "not-audio.wav": "FAILED", "noise.flac": "COMPLETED",
        "silence.wav": "COMPLETED", "sweep.mp3": "COMPLETED", "tone-440hz.wav": "COMPLETED"}
    assert all(r["error"] for r in rows if r["status"] == "FAILED")
    assert "tone-440hz.wav" in run.stdout and "COMPLETED" in run.stdout
    analysis = json.loads((out / "sweep.mp3" / "analysis.json").read_text())
    assert analysis["codec"] == "mp3" and analysis["channels"] == 2
