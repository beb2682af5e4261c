"""Turning CLI inputs (local paths or S3 URIs) into queued samples, and following them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import Storage, parse_s3_uri
from audio_tasks.errors import JobError, PermanentError
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import FINAL_STATES, ErrorCode
from producer.enqueue import EnqueueFailed, enqueue_sample, new_sample_id


def submit_inputs(inputs: Iterable[str], settings: Settings, records: SampleRecords,
                  storage: Storage, options: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Upload local files, create records and send jobs.

    Returns (submitted, errors): ``{"sample_id", "input"}`` per queued sample and
    ``{"input", "error": {code, message}}`` per input that could not be queued.
    """
    submitted, errors = [], []
    for source in inputs:
        try:
            sample_id = new_sample_id()
            bucket, key = _locate(source, sample_id, settings, storage)
            enqueue_sample(records, bucket, key, sample_id, options=options)
            submitted.append({"sample_id": sample_id, "input": source})
        except JobError as exc:
            errors.append({"input": source, "error": exc.as_dict()})
        except EnqueueFailed as exc:
            errors.append({"input": source, "error": {"code": ErrorCode.ENQUEUE_FAILED, "message": str(exc)}})
    return submitted, errors


def _locate(source: str, sample_id: str, settings: Settings, storage: Storage) -> tuple[str, str]:
    """The (bucket, key) of an input, uploading it first if it is a local file."""
    if source.startswith("s3://"):
        return parse_s3_uri(source)
    path = Path(source)
    if not path.is_file():
        raise PermanentError(ErrorCode.NOT_A_FILE, f"no such file: {source}")
    key = f"{settings.input_prefix}{sample_id}/{path.name}"
    storage.upload_input(path, key)
    return settings.input_bucket, key


def wait_for_final(records: SampleRecords, sample_ids: list[str], timeout_s: float,
                   on_final: Callable[[dict], None] = lambda record: None,
                   poll_s: float = 0.25) -> tuple[dict[str, dict], bool]:
    """Poll until every sample is COMPLETED or FAILED, calling ``on_final`` as each gets there.

    Returns (final records by id, timed_out).
    """
    finals: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while len(finals) < len(sample_ids):
        for sample_id in sample_ids:
            if sample_id in finals:
                continue
            record = records.get(sample_id)
            if record["status"] in FINAL_STATES:
                finals[sample_id] = record
                on_final(record)
        if len(finals) < len(sample_ids):
            if time.monotonic() >= deadline:
                return finals, True
            time.sleep(poll_s)
    return finals, False
