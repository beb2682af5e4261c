"""The benchmark harness's code paths at toy scale, so `make bench` cannot rot.

The figures are meaningless at this scale; what is checked is that every row is
measured (a finite number) and reported.
"""

import json
import math
import subprocess
import sys

import pytest

from tests.support import clean_env

pytestmark = pytest.mark.e2e


def test_smoke_run_measures_every_row(tmp_path):
    results = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--work-dir", str(tmp_path / "work"),
                          "--results", str(results)], env=clean_env(), capture_output=True, text=True,
                         timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(results.read_text())["rows"]
    names = [row["name"] for row in rows]
    for expected in ("start latency p50 (idle worker)", "start latency p99 (idle worker)",
                     "start latency p99 (other process busy)", "SQS requests per job at load",
                     "SQS requests per idle worker-minute", "Celery worker throughput ÷ boto3 hand loop",
                     "CPU-bound throughput, 2 ÷ 1 worker processes", "analysis time ÷ ffmpeg ebur128=peak=true",
                     "full job time ÷ tight ffmpeg chain", "full job CPU ÷ tight ffmpeg chain",
                     "Lambda handler cold import ÷ import boto3", "audio-tasks submit ÷ raw send_message_batch loop",
                     "monitoring: cost per idle worker-hour", "descriptors' added time ÷ job without them",
                     "descriptors' added CPU ÷ job CPU without them",
                     "full job time ÷ tight chain, MP3 preview encoded",
                     "full job CPU ÷ tight chain, MP3 preview encoded"):
        assert expected in names
    assert any(name.startswith("peak RSS with ÷ without descriptors") for name in names)
    assert all(math.isfinite(row["value"]) for row in rows)
    assert all(row["passed"] in (True, False) for row in rows if row["target"] != "report")
    load = next(row for row in rows if row["name"] == "SQS requests per job at load")
    assert "SendMessage 5" in load["detail"] and "ReceiveMessage" in load["detail"]
    assert "| measure" in run.stdout and "| change" in run.stdout
    submit = next(row for row in rows if row["name"] == "audio-tasks submit ÷ raw send_message_batch loop")
    assert "SendMessageBatch 1" in submit["detail"] and "BatchWriteItem 1" in submit["detail"]
