"""A worker app with faults injected, for the reliability tests only: ``celery -A tests.worker.fault_injection``.

It is the production app with one adapter method wrapped: ``Storage.download``, the first
step of real work after the record is claimed. The fault is chosen by the input's file
name, so a test picks it per job when it uploads the input:

- ``crash-…``        the pool process exits at once (``os._exit``), on every delivery;
- ``transient<N>-…`` a ``TransientError`` on the first N runs, then success;
- ``sleep<S>-…``     the job takes S seconds longer.

Every run appends a line to ``$FAULT_STATE_DIR/<sample_id>.runs``, so tests count
executions across worker processes.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from audio_tasks.aws.storage import Storage
from audio_tasks.celery import app  # noqa: F401  (the app celery -A finds)
from audio_tasks.errors import TransientError
from audio_tasks.vocabulary import ErrorCode
from tests.worker.run_counts import record_run

_download = Storage.download


def _faulty_download(self, bucket, key, dest, *, max_bytes):
    sample_id, name = key.split("/")[-2:]
    run = record_run(Path(os.environ["FAULT_STATE_DIR"]), sample_id)
    if name.startswith("crash-"):
        os._exit(13)
    if match := re.match(r"transient(\d+)-", name):
        if run <= int(match.group(1)):
            raise TransientError(ErrorCode.TRANSIENT_ERROR, f"injected transient failure {run}")
    if match := re.match(r"sleep(\d+)-", name):
        time.sleep(int(match.group(1)))
    return _download(self, bucket, key, dest, max_bytes=max_bytes)


Storage.download = _faulty_download
