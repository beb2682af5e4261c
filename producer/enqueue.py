"""Creating a sample: record QUEUED first, then the message — never an orphan record.

Shared by the CLI and the Lambda handler. If sending the message fails, the record is
moved to FAILED with the reason and the error re-raised, so nothing sits QUEUED forever.
"""

from __future__ import annotations

import uuid

from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import s3_uri
from audio_tasks.vocabulary import ErrorCode


class EnqueueFailed(Exception):
    """The record was created but the job could not be sent; the record is now FAILED."""


def new_sample_id() -> str:
    return str(uuid.uuid4())


def enqueue_sample(records: SampleRecords, bucket: str, key: str, sample_id: str | None = None) -> str:
    """Create the QUEUED record for s3://bucket/key and send the job; returns the sample id."""
    sample_id = sample_id or new_sample_id()
    records.create(sample_id, s3_uri(bucket, key))
    send_job(records, sample_id, bucket, key)
    return sample_id


def send_job(records: SampleRecords, sample_id: str, bucket: str, key: str) -> None:
    """Send the job of a QUEUED record; if that fails, record it FAILED and raise EnqueueFailed."""
    from audio_tasks.worker.tasks import (
        process_sample,  # imports Celery: kept out of module import
    )

    try:
        process_sample.apply_async(args=(sample_id, bucket, key), retry=True,
                                   retry_policy={"max_retries": 3, "interval_start": 0.2,
                                                 "interval_step": 0.5, "interval_max": 2})
    except Exception as exc:
        error = {"code": ErrorCode.ENQUEUE_FAILED, "message": f"{type(exc).__name__}: {exc}"}
        records.fail(sample_id, error)
        raise EnqueueFailed(f"sample {sample_id}: could not send the job: {error['message']}") from exc
