"""A worker app with faults injected, for the reliability tests only: ``celery -A tests.worker.fault_injection``.

It is the production app with one adapter method wrapped: ``Storage.download``, the first
step of real work after the record is claimed. The fault is chosen by the input's file
name, so a test picks it per job when it uploads the input:

- ``crash-…``        the pool process exits at once (``os._exit``), on every delivery;
- ``transient<N>-…`` a ``TransientError`` on the first N runs, then success;
- ``sleep<S>-…``     the job takes S seconds longer;
- ``hold<S>-…``      on its first run, the job starts an ffmpeg child as the audio core starts
  them (``dies_with_this_process``) and waits S seconds; ``<sample_id>.held`` (JSON) names
  the pool process, the ffmpeg child and the job's temporary directory.

Every run appends a line to ``$FAULT_STATE_DIR/<sample_id>.runs``, so tests count
executions across worker processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from audio_tasks.audio.ffmpeg import dies_with_this_process, ffmpeg_exe
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
    if (match := re.match(r"hold(\d+)-", name)) and run == 1:
        _hold(Path(os.environ["FAULT_STATE_DIR"]) / f"{sample_id}.held", Path(dest).parent, int(match.group(1)))
    return _download(self, bucket, key, dest, max_bytes=max_bytes)


def _hold(note: Path, job_dir: Path, seconds: int) -> None:
    ffmpeg = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "anullsrc",
                               "-t", "600", "-f", "null", "-"], stdin=subprocess.DEVNULL, **dies_with_this_process())
    note.write_text(json.dumps({"pool_pid": os.getpid(), "ffmpeg_pid": ffmpeg.pid, "job_dir": str(job_dir)}))
    time.sleep(seconds)


Storage.download = _faulty_download
