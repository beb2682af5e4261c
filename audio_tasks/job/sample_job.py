"""The job: one sample from its S3 input to COMPLETED or FAILED, with no Celery in sight.

``SampleJob.run`` owns the order of side effects — claim the record, fetch, process,
upload artifacts under deterministic keys, record the outcome — and turns permanent
failures into FAILED records. Transient failures propagate (classified) for the task
shell's retry policy to handle.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from audio_tasks.audio.options import Limits, Options
from audio_tasks.errors import InvalidRequest, PermanentError, classify
from audio_tasks.aws.records import RecordNotFound, SampleRecords
from audio_tasks.settings import Settings
from audio_tasks.aws.storage import Storage, artifact_key, s3_uri

log = logging.getLogger(__name__)

_CONTENT_TYPES = {".json": "application/json", ".wav": "audio/wav", ".mp3": "audio/mpeg",
                  ".png": "image/png"}


class SampleJob:
    """Processes samples against one configured set of adapters."""

    def __init__(self, settings: Settings, records: SampleRecords | None = None,
                 storage: Storage | None = None):
        self.settings = settings
        self.records = records or SampleRecords(settings)
        self.storage = storage or Storage(settings)
        self.limits = Limits(max_bytes=settings.max_input_bytes, max_duration_s=settings.max_duration_s,
                             decode_timeout_s=settings.decode_timeout_s)
        self.options = Options(
            house_sample_rate=settings.house_sample_rate, target_lufs=settings.target_lufs,
            true_peak_ceiling_dbtp=settings.true_peak_ceiling_dbtp, trim_silence=settings.trim_silence,
            preview_bitrate_kbps=settings.preview_bitrate_kbps,
            waveform_samples_per_pixel=settings.waveform_samples_per_pixel, waveform_bits=settings.waveform_bits)

    def run(self, sample_id: str, bucket: str, key: str) -> str:
        """Process one sample; returns its final status, or raises a TransientError."""
        _validate(sample_id, bucket, key)
        try:
            record = self.records.start(sample_id)
        except RecordNotFound:
            raise InvalidRequest(f"no sample record {sample_id!r} in {self.settings.samples_table}") from None
        if record is None:
            status = self.records.get(sample_id)["status"]
            log.info("sample is already %s; nothing to do", status, extra={"status": status})
            return status
        log.info("processing %s (attempt %d)", s3_uri(bucket, key), record["attempts"],
                 extra={"attempt": record["attempts"]})
        try:
            results = self._process(sample_id, bucket, key)
        except Exception as exc:
            error = classify(exc)
            if not isinstance(error, PermanentError):
                raise error from exc
            log.warning("failed: %s", error.message, extra={"error": error.as_dict()},
                        exc_info=error is not exc and not isinstance(exc, PermanentError))
            self.records.fail(sample_id, error.as_dict())
            return "FAILED"
        if self.records.complete(sample_id, results) is None:
            status = self.records.get(sample_id)["status"]
            log.info("another delivery finished first; record stays %s", status)
            return status
        log.info("completed", extra={"status": "COMPLETED"})
        return "COMPLETED"

    def _process(self, sample_id: str, bucket: str, key: str) -> dict:
        # The audio core (numpy, scipy, matplotlib) loads on the first job, not on import:
        # producers such as the Lambda import the task module only to send messages.
        from audio_tasks.audio.pipeline import process_file

        with tempfile.TemporaryDirectory(prefix="audio-tasks-") as tmp:
            source = Path(tmp) / "input"
            self.storage.download(bucket, key, source, max_bytes=self.limits.max_bytes)
            result = process_file(source, Path(tmp) / "out", self.limits, self.options)
            artifacts = {
                name: self.storage.upload_file(path, self.settings.output_bucket,
                                               artifact_key(sample_id, name),
                                               _CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
                for name, path in sorted(result.artifacts.items())
            }
        return {**result.summary(), "artifacts": artifacts}


def _validate(sample_id, bucket, key) -> None:
    for name, value in (("sample_id", sample_id), ("bucket", bucket), ("key", key)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f"{name} must be a non-empty string, got {value!r}")
