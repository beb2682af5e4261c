"""The one place that decides what any exception raised during a job means: permanent or transient.

Policy code (the task shell, the one-shot runner) only ever sees a ``JobError``. Known
failures keep their code: the audio core's (``AudioError``), AWS's (``classify_aws``),
the soft time limit (``time_limit``). Anything else is a bug: retrying will not fix it and
hiding it would lose it, so it is permanent, with its type in the message for the operator.
"""

from __future__ import annotations

from billiard.exceptions import SoftTimeLimitExceeded

from audio_tasks.audio.errors import AudioError
from audio_tasks.aws.errors import classify_aws
from audio_tasks.errors import JobError, PermanentError, TransientError
from audio_tasks.vocabulary import ErrorCode


def classify(exc: BaseException) -> JobError:
    """Return ``exc`` as a JobError; anything not known to be transient is permanent."""
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, AudioError):
        return (TransientError if exc.retryable else PermanentError)(exc.code, exc.message)
    if isinstance(exc, SoftTimeLimitExceeded):
        return PermanentError(ErrorCode.TIME_LIMIT, "the job ran past TASK_SOFT_TIME_LIMIT and was stopped")
    aws = classify_aws(exc)
    if aws is not None:
        return aws
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(ErrorCode.TRANSIENT_ERROR, f"{type(exc).__name__}: {exc}")
    return PermanentError(ErrorCode.PERMANENT_ERROR, f"unexpected {type(exc).__name__}: {exc}")
