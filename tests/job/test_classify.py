"""classify: what any exception raised during a job means — permanent (FAILED at once) or transient (retried)."""

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from audio_tasks.audio.errors import DecoderKilled, InputTooLarge, InvalidAudio
from audio_tasks.errors import PermanentError, TransientError
from audio_tasks.job.classify import classify
from audio_tasks.vocabulary import ErrorCode


def _client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


@pytest.mark.parametrize("exc, kind, code", [
    (_client_error("NoSuchKey", 404), PermanentError, ErrorCode.MISSING_INPUT),
    (_client_error("404", 404, "HeadObject"), PermanentError, ErrorCode.MISSING_INPUT),
    (_client_error("NoSuchBucket", 404), PermanentError, ErrorCode.MISSING_INPUT),
    (_client_error("AccessDenied", 403), PermanentError, ErrorCode.PERMANENT_ERROR),
    (_client_error("SlowDown", 503), TransientError, ErrorCode.TRANSIENT_ERROR),
    (_client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"), TransientError,
     ErrorCode.TRANSIENT_ERROR),
    (_client_error("SomethingNew", 500), TransientError, ErrorCode.TRANSIENT_ERROR),
    (EndpointConnectionError(endpoint_url="https://s3"), TransientError, ErrorCode.TRANSIENT_ERROR),
    (ConnectTimeoutError(endpoint_url="https://s3"), TransientError, ErrorCode.TRANSIENT_ERROR),
    (ReadTimeoutError(endpoint_url="https://s3"), TransientError, ErrorCode.TRANSIENT_ERROR),
    (NoCredentialsError(), TransientError, ErrorCode.TRANSIENT_ERROR),
    # A mistake made before any request is a bug: retrying it would only hide it.
    (ParamValidationError(report="Invalid bucket name"), PermanentError, ErrorCode.PERMANENT_ERROR),
    (InvalidAudio("not audio"), PermanentError, ErrorCode.INVALID_AUDIO),
    (InputTooLarge("too long"), PermanentError, ErrorCode.INPUT_TOO_LARGE),
    (DecoderKilled("ffmpeg was killed by signal 9"), TransientError, ErrorCode.TRANSIENT_ERROR),
    (SoftTimeLimitExceeded(), PermanentError, ErrorCode.TIME_LIMIT),
    (TimeoutError("read"), TransientError, ErrorCode.TRANSIENT_ERROR),
    (ZeroDivisionError("division by zero"), PermanentError, ErrorCode.PERMANENT_ERROR),
])
def test_every_failure_is_permanent_or_transient_with_its_code(exc, kind, code):
    error = classify(exc)
    assert type(error) is kind and error.code == code
    assert error.retryable is (kind is TransientError)


def test_a_classified_error_passes_through_and_an_unexpected_one_names_its_type():
    error = PermanentError(ErrorCode.INVALID_REQUEST, "no such sample")
    assert classify(error) is error
    assert classify(KeyError("results")).message == "unexpected KeyError: 'results'"
    assert classify(_client_error("AccessDenied", 403)).as_dict() == {
        "code": "permanent_error", "message": "GetObject: AccessDenied m"}
