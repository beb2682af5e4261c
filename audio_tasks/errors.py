"""A job's failures, as the task shell acts on them: permanent (FAILED at once) or transient (retried).

A ``PermanentError`` can never succeed on retry (bad input, a missing object): the sample
is marked FAILED and the message acked. A ``TransientError`` (throttling, 5xx, network
timeouts) may succeed later. Each carries an ``ErrorCode`` and a message for the record.
Turning any exception into one of these is ``audio_tasks.job.classify``'s job.
"""

from __future__ import annotations

from audio_tasks.vocabulary import ErrorCode


class JobError(Exception):
    """A classified job failure; ``code`` is stable and machine-readable."""

    retryable = False

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def as_dict(self) -> dict:
        return {"code": str(self.code), "message": self.message}


class PermanentError(JobError):
    """Retrying cannot help: the sample is FAILED with this code and message."""


class TransientError(JobError):
    """A dependency failed in a way that may pass: the job is retried after a delay."""

    retryable = True
