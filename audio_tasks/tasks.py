"""The Celery task shell: message in, ``SampleJob`` run, ack/retry policy out."""

from __future__ import annotations

import logging
from functools import lru_cache

from celery.worker.request import Request

from audio_tasks.celery import app
from audio_tasks.errors import PermanentError
from audio_tasks.job import SampleJob
from audio_tasks.logs import job_context, remember_job
from audio_tasks.settings import Settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _job() -> SampleJob:
    """One set of adapters per worker process (boto3 clients are reused across jobs)."""
    return SampleJob(Settings.from_env())


class JobRequest(Request):
    """A received message; remembers its sample so Celery's own log lines can name it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sample_id = self.kwargs.get("sample_id") if self.kwargs else None
        sample_id = sample_id or (self.args[0] if self.args else None)
        if isinstance(sample_id, str):
            remember_job(self.id, sample_id)


@app.task(bind=True, name="audio_tasks.process_sample", Request=JobRequest)
def process_sample(self, sample_id: str, bucket: str, key: str) -> str:
    """Process the sample whose input is s3://bucket/key; returns its final status."""
    with job_context(str(sample_id), self.request.id):
        try:
            return _job().run(sample_id, bucket, key)
        except PermanentError as error:
            # No record to mark (unknown sample, malformed arguments): log it, ack it.
            log.error("rejected: %s", error.message, extra={"error": error.as_dict()})
            return "REJECTED"
