"""One job without the queue: ``PROCESSING_MODE=task``, the rollback path.

``python -m audio_tasks.worker.oneshot`` processes the sample named by ``SAMPLE_ID`` whose input
is ``s3://S3_BUCKET/S3_KEY`` with the same ``SampleJob`` the Celery task runs, so the
record moves QUEUED → PROCESSING → COMPLETED | FAILED exactly as it would on a worker.
The record must exist (the producer created it). Exit codes: 0 COMPLETED; 1 FAILED or
rejected (permanent: bad input, unknown sample); 75 a transient failure (run it again);
78 a missing or malformed variable.
"""

from __future__ import annotations

import logging
import os
import sys

from audio_tasks import logs
from audio_tasks.errors import PermanentError, TransientError
from audio_tasks.settings import ConfigError, Settings

EXIT_COMPLETED, EXIT_FAILED, EXIT_TRANSIENT, EXIT_CONFIG = 0, 1, 75, 78
JOB_VARIABLES = ("SAMPLE_ID", "S3_BUCKET", "S3_KEY")

log = logging.getLogger("audio_tasks.worker.oneshot")


def main(environ=os.environ) -> int:
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        print(f"audio_tasks.worker.oneshot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    missing = [name for name in JOB_VARIABLES if not environ.get(name, "").strip()]
    if missing:
        print(f"audio_tasks.worker.oneshot: configuration error: {', '.join(missing)} not set", file=sys.stderr)
        return EXIT_CONFIG
    sample_id, bucket, key = (environ[name].strip() for name in JOB_VARIABLES)
    logs.configure(settings.log_level)

    from audio_tasks.job.sample_job import SampleJob  # the audio stack: only once the job is known to be well-formed

    with logs.job_context(sample_id, None):
        try:
            status = SampleJob(settings).run(sample_id, bucket, key)
        except PermanentError as error:
            log.error("rejected: %s", error.message, extra={"error": error.as_dict()})
            return EXIT_FAILED
        except TransientError as error:
            log.error("transient failure, run again: %s", error.message, extra={"error": error.as_dict()})
            return EXIT_TRANSIENT
        log.info("finished: %s", status, extra={"status": status})
    return EXIT_COMPLETED if status == "COMPLETED" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
