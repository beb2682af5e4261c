"""One job without the queue: ``PROCESSING_MODE=task``, the rollback path.

``python -m audio_tasks.worker.oneshot`` processes the sample named by ``SAMPLE_ID`` whose
input is ``s3://S3_BUCKET/S3_KEY`` with the same ``SampleJob`` the Celery task runs, so the
record moves QUEUED → PROCESSING → COMPLETED | FAILED exactly as it would on a worker.
A missing record is created, as a worker would. Exit codes: 0 COMPLETED; 1 FAILED (bad
input, a permanent error); 75 a transient failure — the record is put back to QUEUED, and
the reconciler (``producer.reconcile``) dispatches it again; 78 a missing or malformed
variable (one JSON line on stderr).
"""

from __future__ import annotations

import logging
import os
import sys

from audio_tasks import logs
from audio_tasks.errors import TransientError
from audio_tasks.settings import ConfigError, Settings, task_mode_job
from audio_tasks.vocabulary import Status

EXIT_COMPLETED, EXIT_FAILED = 0, 1

log = logging.getLogger("audio_tasks.worker.oneshot")


def main(environ=os.environ) -> int:
    try:
        settings, job = Settings.from_env(environ), task_mode_job(environ)
    except ConfigError as exc:
        print(logs.error_line(log.name, f"configuration error: {exc}", event="configuration_error"),
              file=sys.stderr)
        return os.EX_CONFIG
    logs.configure(settings.log_level)

    from audio_tasks.job.sample_job import SampleJob

    with logs.job_context(job.sample_id, None):
        sample_job = SampleJob(settings)  # its clients log (credentials found): job lines too
        try:
            status = sample_job.run(job)
        except TransientError as error:
            log.error("transient failure; the record goes back to QUEUED for the reconciler to dispatch "
                      "again: %s", error.message, extra={"error": error.as_dict()})
            _requeue(sample_job, job.sample_id)
            return os.EX_TEMPFAIL
        log.info("finished: %s", status, extra={"status": status})
    return EXIT_COMPLETED if status == Status.COMPLETED else EXIT_FAILED


def _requeue(sample_job, sample_id: str) -> None:
    try:
        sample_job.records.requeue(sample_id)
    except Exception as exc:  # DynamoDB may be what failed: the reconciler finds it PROCESSING later
        log.error("could not put the record back to QUEUED: %s", exc)


if __name__ == "__main__":
    sys.exit(main())
