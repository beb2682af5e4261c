"""Cold import of the Lambda handler against ``import boto3`` alone, each in a fresh interpreter.

The handler's module is imported together with the task module it sends through
(``audio_tasks.worker.tasks``, which the handler loads on its first invocation), so the figure
is everything a cold start pays. No request is made: the configuration points at an
unused local endpoint.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from benchmarks.report import Row

_PROBE = "import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
_ENV = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1"}


def _median_import_s(modules: str, runs: int) -> float:
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", _PROBE.format(modules=modules)], capture_output=True, text=True,
                             check=True, timeout=120, env=_ENV).stdout) for _ in range(runs))


def cold_import(runs: int) -> list[Row]:
    handler = _median_import_s("producer.lambda_handler, audio_tasks.worker.tasks", runs)
    boto3 = _median_import_s("boto3", runs)
    return [Row("Lambda handler cold import ÷ import boto3", handler / boto3, "×",
                detail=f"median of {runs}: handler with the task module {handler * 1000:.0f} ms, "
                       f"boto3 {boto3 * 1000:.0f} ms; the audio core (numpy, scipy) is not loaded")]
