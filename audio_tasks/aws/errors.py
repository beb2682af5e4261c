"""What a boto3 failure means for a job: the one place that reads botocore's error types and codes.

``classify_aws`` answers for exceptions raised by an AWS call, and None for anything else.
Throttling, 5xx answers, timeouts and dropped connections are transient; a missing object
or bucket is ``missing_input``; everything else a client can raise — a 4xx answer, a
``ParamValidationError`` or other mistake made before any request — is permanent: retrying
a bug only hides it.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from s3transfer.exceptions import RetriesExceededError

from audio_tasks.errors import JobError, PermanentError, TransientError
from audio_tasks.vocabulary import ErrorCode

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown",
    "InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeoutException", "TransactionInProgressException",
}
# The network or the credential endpoint failed: the same request may pass later.
_TRANSIENT_TYPES = (ConnectionError, HTTPClientError, IncompleteReadError, CredentialRetrievalError,
                    NoCredentialsError, RetriesExceededError)


def classify_aws(exc: BaseException) -> JobError | None:
    """``exc`` as a JobError if an AWS call raised it, else None."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{exc.operation_name}: {code} {error.get('Message', '')}".strip()
        if code in _MISSING_CODES:
            return PermanentError(ErrorCode.MISSING_INPUT, text)
        if code in _TRANSIENT_CODES or status >= 500:
            return TransientError(ErrorCode.TRANSIENT_ERROR, text)
        return PermanentError(ErrorCode.PERMANENT_ERROR, text)
    if isinstance(exc, _TRANSIENT_TYPES):
        return TransientError(ErrorCode.TRANSIENT_ERROR, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BotoCoreError):
        return PermanentError(ErrorCode.PERMANENT_ERROR, f"{type(exc).__name__}: {exc}")
    return None
