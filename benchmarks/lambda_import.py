"""Cold import of the Lambda handler against ``import boto3`` alone, each in a fresh interpreter."""

from __future__ import annotations

import statistics
import subprocess
import sys

from benchmarks.report import Row

_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def _median_import_s(module: str, runs: int) -> float:
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], capture_output=True, text=True,
                             check=True, timeout=120).stdout) for _ in range(runs))


def cold_import(runs: int) -> list[Row]:
    handler = _median_import_s("producer.lambda_handler", runs)
    boto3 = _median_import_s("boto3", runs)
    return [Row("Lambda handler cold import ÷ import boto3", handler / boto3, "×",
                detail=f"median of {runs}: handler {handler * 1000:.0f} ms, boto3 {boto3 * 1000:.0f} ms")]
