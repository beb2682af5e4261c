"""Creating a sample: record QUEUED first, then the job — never an orphan record.

Used by the Lambda handler (``audio-tasks submit`` writes and sends in batches:
``producer.submission``). If dispatching the job fails, the record is moved to FAILED
with the reason and the error re-raised; if the process dies in between, the record is
left QUEUED without ``dispatched_at``, which the reconciler dispatches.
"""

from __future__ import annotations

import uuid

from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import s3_uri
from audio_tasks.message import JobArguments
from audio_tasks.vocabulary import ErrorCode
from producer.dispatch import DispatchFailed, Dispatcher, QueueDispatch, hand_over


class EnqueueFailed(Exception):
    """The record was created but the job could not be sent; the record is now FAILED."""


def new_sample_id() -> str:
    return str(uuid.uuid4())


def enqueue_sample(records: SampleRecords, bucket: str, key: str, sample_id: str | None = None,
                   dispatch: Dispatcher | None = None, options: dict | None = None) -> str:
    """Create the QUEUED record for s3://bucket/key and dispatch the job (by default to the work
    queue); returns the sample id. ``options`` (e.g. {"preset": "streaming"}) travel with the job."""
    sample_id = sample_id or new_sample_id()
    records.create(sample_id, s3_uri(bucket, key))
    send_job(records, JobArguments(sample_id, bucket, key, options), dispatch)
    return sample_id


def send_job(records: SampleRecords, job: JobArguments,
             dispatch: Dispatcher | None = None) -> None:
    """Dispatch the job of a QUEUED record; if that fails, record it FAILED and raise EnqueueFailed."""
    try:
        hand_over(records, job, dispatch or QueueDispatch())
    except DispatchFailed as exc:
        error = {"code": ErrorCode.ENQUEUE_FAILED, "message": str(exc)}
        records.fail(job.sample_id, error)
        raise EnqueueFailed(f"sample {job.sample_id}: could not send the job: {error['message']}") from exc
