"""Revoke and terminate end the sample FAILED ``cancelled``: remote control never strands a sample.

Flower's Revoke and Terminate buttons and ``celery control revoke|terminate`` reach the
worker's main process. Celery discards a revoked job that has not started when it is about
to run, and sends the pool process of a running one a signal (``terminate``: SIGTERM unless
told otherwise); either way it acked the message at once, and the sample's record stayed
QUEUED or PROCESSING for good. ``JobRequest`` calls ``record`` instead, once the job can
write nothing more — it never started, or its pool process is gone — and only then lets
Celery ack:

- the record becomes FAILED with ``error = {"code": "cancelled", "message", "reason":
  revoked | terminated | expired, "signal", "worker"}``; its ``updated_at`` says when.
  Celery's revoke carries no sender, so the record names the worker that carried it out;
- a record already final is left as it is (the job finished before the revoke arrived);
- the message is then deleted, not released: the cancellation is final, and a released
  message could reach a worker that never heard the revoke and run the job after all. If
  the record cannot be written, the message is released instead, so a later delivery
  records it.

A terminated job leaves nothing half-done behind it. billiard turns SIGTERM in a pool process
into ``SystemExit``, so the job unwinds: its ffmpeg processes are killed and its temporary
files removed by their context managers (SIGKILL skips that; the process just dies). No
artifact is half-written: each is one S3 PutObject, which stores all of an object or none of
it (an interrupted multipart upload is no object, and the bucket's lifecycle rule aborts it).
Artifacts uploaded before the signal stay under ``processed/<sample_id>/``, but only a
COMPLETED record lists artifacts, and a redriven job overwrites them.

Revokes live in worker memory only (Celery's ``revoked`` set, per worker, for 3 hours): a
revoke reaches the workers that are online when it is sent, and only with
``MONITORING_ENABLED`` (remote control). A job whose message reaches a worker started
later, or one that never got the broadcast, runs as usual.
"""

from __future__ import annotations

import logging
import signal

from audio_tasks.aws.records import RecordNotFound
from audio_tasks.vocabulary import ErrorCode, Status
from audio_tasks.worker.context import current

log = logging.getLogger(__name__)

_WHAT = {"revoked": "revoked before it started", "terminated": "terminated while it ran",
         "expired": "expired before it started"}


def error(reason: str, signum: int | str | None, worker: str) -> dict:
    """The record's error for a job Celery ``reason``-ed (revoked, terminated, expired) on ``worker``."""
    signame = _signal_name(signum)
    by = f" by {signame}" if signame else ""
    return {"code": ErrorCode.CANCELLED, "reason": reason, "signal": signame, "worker": worker,
            "message": f"{_WHAT.get(reason, reason)}{by}, on remote control (Flower or celery control), "
                       f"at {worker}"}


def _signal_name(signum: int | str | None) -> str | None:
    try:
        return signal.Signals(int(signum)).name
    except (TypeError, ValueError):  # None (not a kill), or no signal number
        return None


def record(sample_id: str, cancelled: dict) -> bool:
    """Record the sample FAILED ``cancelled``; False only if the record could not be written."""
    try:
        final = current().job.records.fail(sample_id, cancelled)
    except RecordNotFound:
        log.warning("cancelled a job whose sample has no record", extra={"event": "cancelled", "error": cancelled})
        return True
    except Exception:
        log.exception("could not record the cancelled sample; its message is released for a later delivery")
        return False
    if final is None:
        log.info("cancelled after the sample was already final; its record is left as it is",
                 extra={"event": "cancelled"})
    else:
        log.warning("%s", cancelled["message"], extra={"event": "cancelled", "error": cancelled,
                                                       "status": Status.FAILED})
    return True
