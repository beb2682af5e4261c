"""The error vocabulary of a job, and the one place that classifies failures.

A ``PermanentError`` can never succeed on retry (bad input, missing object): the sample
is marked FAILED and the message acked. A ``TransientError`` (throttling, 5xx, network
timeouts) may succeed later. ``classify`` maps any exception raised during a job to one
of the two, so policy code never inspects botocore internals.
"""

from __future__ import annotations

from billiard.exceptions import SoftTimeLimitExceeded
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class JobError(Exception):
    """Base of every classified job failure; ``code`` is stable and machine-readable."""

    code = "job_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class PermanentError(JobError):
    code = "permanent_error"


class InvalidAudio(PermanentError):
    """The input is not decodable audio (empty, truncated, not audio, absurd header)."""

    code = "invalid_audio"


class InputTooLarge(PermanentError):
    """The input exceeds the configured size or duration limit."""

    code = "input_too_large"


class MissingInput(PermanentError):
    """The input object (or its bucket) does not exist."""

    code = "missing_input"


class InvalidRequest(PermanentError):
    """The job's arguments are malformed (bad S3 reference, unknown sample)."""

    code = "invalid_request"


class JobTimedOut(PermanentError):
    """The job ran past ``TASK_SOFT_TIME_LIMIT`` (the maximum job duration)."""

    code = "time_limit"


class NotAFile(PermanentError):
    """A local path given to the CLI is not a readable file."""

    code = "not_a_file"


class TransientError(JobError):
    """A failure of a dependency that may succeed on a later attempt."""

    code = "transient_error"


_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown",
    "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeoutException", "TransactionInProgressException",
}


def classify(exc: BaseException) -> JobError:
    """Return ``exc`` as a JobError; anything not known to be transient is permanent."""
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, SoftTimeLimitExceeded):
        return JobTimedOut("the job ran past TASK_SOFT_TIME_LIMIT and was stopped")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{exc.operation_name}: {code} {error.get('Message', '')}".strip()
        if code in _MISSING_CODES:
            return MissingInput(text)
        if code in _TRANSIENT_CODES or status >= 500:
            return TransientError(text)
        return PermanentError(text)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    # An unexpected bug: retrying will not fix it, and hiding it as FAILED would lose the
    # traceback. Treat it as permanent, with the type in the message for the operator.
    return PermanentError(f"unexpected {type(exc).__name__}: {exc}")
