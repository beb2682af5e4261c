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


class JobFailed(Exception):
    """Raised by the task shell once the job has ended FAILED: Celery reports the task FAILURE.

    It is the outcome, not an error of the worker: the sample's record holds the reason
    (``code``, ``message``), ``JobRequest`` acks the message (a permanent failure is never
    redelivered) and Flower lists the task under Failed with this exception. The two
    arguments stay in ``args`` so it survives the pickling back from the pool process.
    """

    def __init__(self, code: str, message: str):
        super().__init__(str(code), message)
        self.code, self.message = str(code), message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
