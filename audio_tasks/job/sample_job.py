"""The job: one sample from its S3 input to COMPLETED or FAILED, with no Celery in sight.

``SampleJob.run`` owns the order of side effects — claim (or create) the record, fetch, process,
upload artifacts under deterministic keys, record the outcome — and turns permanent
failures into FAILED records. Transient failures propagate (classified) for the task
shell's retry policy to handle.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import Storage, artifact_key, s3_uri
from audio_tasks.errors import PermanentError
from audio_tasks.job.classify import classify
from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import Status

log = logging.getLogger(__name__)

_CONTENT_TYPES = {".json": "application/json", ".wav": "audio/wav", ".mp3": "audio/mpeg",
                  ".opus": "audio/ogg", ".png": "image/png"}


class SampleJob:
    """Processes samples against one configured set of adapters."""

    def __init__(self, settings: Settings, records: SampleRecords | None = None,
                 storage: Storage | None = None):
        self.settings = settings
        self.records = records or SampleRecords(settings)
        self.storage = storage or Storage(settings)

    def run(self, job: JobArguments) -> Status:
        """Process one sample; returns its final status, or raises a TransientError."""
        record = self.records.start(job.sample_id, s3_uri(job.bucket, job.key))  # creates a missing record
        if record is None:
            status = self.records.get(job.sample_id)["status"]
            log.info("sample is already %s; nothing to do", status, extra={"status": status})
            return Status(status)
        log.info("processing %s (attempt %d)", s3_uri(job.bucket, job.key), record["attempts"],
                 extra={"attempt": record["attempts"]})
        try:
            results = self._process(job)
        except Exception as exc:
            error = classify(exc)
            if error.retryable:
                raise error from exc
            log.warning("failed: %s", error.message, extra={"error": error.as_dict()},
                        exc_info=error is not exc and not isinstance(exc, PermanentError))
            self.records.fail(job.sample_id, error.as_dict())
            return Status.FAILED
        if self.records.complete(job.sample_id, results) is None:
            status = self.records.get(job.sample_id)["status"]
            log.info("another delivery finished first; record stays %s", status)
            return Status(status)
        log.info("completed", extra={"status": Status.COMPLETED})
        return Status.COMPLETED

    def _process(self, job: JobArguments) -> dict:
        # The audio core (numpy, scipy, matplotlib) loads on the first job, not on import:
        # producers such as the Lambda import the task module only to send messages.
        from audio_tasks.audio.pipeline import process_file

        options = self.settings.audio.for_job(job.options)  # InvalidOptions: FAILED, invalid_request
        with tempfile.TemporaryDirectory(prefix="audio-tasks-") as tmp:
            source = Path(tmp) / "input"
            self.storage.download(job.bucket, job.key, source, max_bytes=self.settings.limits.max_bytes)
            result = process_file(source, Path(tmp) / "out", self.settings.limits, options)
            artifacts = {
                name: self.storage.upload_file(path, self.settings.output_bucket,
                                               artifact_key(job.sample_id, name),
                                               _CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
                for name, path in sorted(result.artifacts.items())
            }
        return {**result.summary(), "artifacts": artifacts}
