"""The closed vocabulary shared by every process: record statuses, descriptor statuses, error codes.

Each is defined once here and used everywhere — workers, producers, the Lambda, the DLQ
tools — so a code in a record, a log line or an HTTP reply always means the same thing.
Every enum is a ``StrEnum``: they serialise as their plain string values (JSON, DynamoDB).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A sample record's state: QUEUED → PROCESSING → COMPLETED | FAILED."""

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


FINAL_STATES = frozenset({Status.COMPLETED, Status.FAILED})


class DescriptorStatus(StrEnum):
    """A sample descriptor's outcome (``analysis.json``, the record's results): each has one."""

    OK = "ok"
    NOT_APPLICABLE = "not_applicable"  # not meaningful for this sound (no pulse in a drone): with a reason
    FAILED = "failed"  # its analyser raised (logged, with the reason); the job still completes


class ErrorCode(StrEnum):
    """Why something failed: the ``code`` of a FAILED record's error, a rejection or a log line."""

    # A job's failures, recorded in its sample record.
    INVALID_AUDIO = "invalid_audio"  # empty, truncated, not audio, a lying header, a decoder overrun
    INPUT_TOO_LARGE = "input_too_large"  # over MAX_INPUT_BYTES or MAX_DURATION_SECONDS
    MISSING_INPUT = "missing_input"  # the input object or its bucket does not exist
    INVALID_REQUEST = "invalid_request"  # malformed job arguments, job options it cannot apply, a refused request
    TIME_LIMIT = "time_limit"  # ran past TASK_SOFT_TIME_LIMIT / TASK_TIME_LIMIT
    WORKER_LOST = "worker_lost"  # its process died on the delivery that reached maxReceiveCount
    CANCELLED = "cancelled"  # revoked or terminated by remote control (Flower, celery control)
    DEAD_LETTERED = "dead_lettered"  # its message is in the DLQ but its record was not final (the reconciler)
    STRANDED = "stranded"  # it could not reach a final state, even after being dispatched again (the reconciler)
    PERMANENT_ERROR = "permanent_error"  # any other failure that a retry cannot fix
    TRANSIENT_ERROR = "transient_error"  # a dependency failed; retried until TASK_MAX_ATTEMPTS

    # Producers (the CLI and the CreateSampleRecord Lambda).
    ENQUEUE_FAILED = "enqueue_failed"  # the record was written but the job could not be sent
    NOT_A_FILE = "not_a_file"  # a local path given to the CLI is not a readable file
    SAMPLE_EXISTS = "sample_exists"
    WRONG_BUCKET = "wrong_bucket"
    KEY_OUTSIDE_INPUT_PREFIX = "key_outside_input_prefix"
    UNSUPPORTED_EXTENSION = "unsupported_extension"
    EMPTY_INPUT = "empty_input"

    # Messages that cannot become a job: logged with their SQS id, never run, dead-lettered.
    UNDECODABLE_MESSAGE = "undecodable_message"
    UNKNOWN_MESSAGE = "unknown_message"
    UNKNOWN_TASK = "unknown_task"
    INVALID_MESSAGE = "invalid_message"
