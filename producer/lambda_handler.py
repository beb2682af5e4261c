"""CreateSampleRecord, the producer Lambda: a job request in, a QUEUED record and a message out.

``handler`` accepts three event shapes, each naming an object in the input bucket:

- a direct invoke ``{"bucket", "key", "size"?, "sample_id"?}``;
- an API Gateway proxy event whose JSON body is that object (the reply is a proxy response);
- an S3 ``ObjectCreated`` notification (one sample per record).

A request is refused before any AWS call when a field is missing or of the wrong type,
the bucket is not ``INPUT_BUCKET``, the key is outside ``INPUT_PREFIX`` (or escapes it
with ``..``), the extension is not audio, or the size is 0 or above ``MAX_INPUT_BYTES``:
400/413/415 with ``{"error": {code, message}}``. Accepted requests go through
``producer.enqueue`` (record QUEUED, then ``process_sample``): 202 with the sample id, 409
if a given ``sample_id`` exists, or 503 if the job could not be sent — the record is then
FAILED with the reason, never left QUEUED.

S3 delivers events at least once, so an S3 record's sample id is
``derived_sample_id(bucket, key, version id or sequencer)``: a duplicate names the same
sample. It is answered 200 with that sample's status, or — while the sample is QUEUED,
or FAILED because its job could not be sent — its job is sent again (202): the first
invocation may have died between the record and the message, and a second message for a
sample is harmless (the worker's records are idempotent). An S3 event whose job could
not be sent raises after every record was tried, so Lambda retries the event and then
hands it to the function's failure destination instead of counting it a success.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from audio_tasks import logs, strict_json
from audio_tasks.aws.records import RecordExists, SampleRecords
from audio_tasks.inbound import s3_object
from audio_tasks.message import SAMPLE_ID, JobArguments, derived_sample_id
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode, Status
from producer.dispatch import Dispatcher, dispatcher
from producer.enqueue import EnqueueFailed, enqueue_sample, new_sample_id, send_job

AUDIO_EXTENSIONS = frozenset({".aac", ".aif", ".aiff", ".flac", ".m4a", ".mp3", ".mp4", ".oga", ".ogg",
                              ".opus", ".wav", ".webm", ".wma"})

log = logging.getLogger("producer.lambda_handler")


class Rejected(Exception):
    """A request that cannot become a sample; ``status`` is its HTTP-style code."""

    def __init__(self, status: int, code: ErrorCode, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> dict:
        return {"statusCode": self.status, "error": {"code": self.code, "message": self.message}}


class NotQueued(Exception):
    """An S3 event with a record whose job could not be sent: raised so that Lambda retries the event."""


@dataclass(frozen=True)
class Request:
    bucket: str
    key: str
    size: int | None = None
    sample_id: str | None = None
    from_s3: bool = False  # an S3 record: its sample id is derived, so a duplicate is no conflict


@lru_cache(maxsize=1)
def _context() -> tuple[Settings, SampleRecords]:
    """Settings and the records adapter, made once per Lambda container (cold start)."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return settings, SampleRecords(settings)


def handler(event: dict, context=None) -> dict:
    """The Lambda entry point (``producer.lambda_handler.handler``)."""
    settings, records = _context()
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        if not event["Records"]:
            return Rejected(400, ErrorCode.INVALID_REQUEST, "the S3 notification has no records").response()
        results = [_create(_from_s3_record(r), settings, records) for r in event["Records"]]
        unsent = [r["sample_id"] for r in results if r["statusCode"] == 503]
        if unsent:
            raise NotQueued(f"{len(unsent)} of {len(results)} jobs could not be sent: samples {', '.join(unsent)}")
        return {"statusCode": max(r["statusCode"] for r in results), "results": results}
    if isinstance(event, dict) and ("httpMethod" in event or "requestContext" in event):
        result = _create(_from_api_gateway(event), settings, records)
        return {"statusCode": result.pop("statusCode"), "headers": {"Content-Type": "application/json"},
                "body": json.dumps(result, sort_keys=True)}
    return _create(_from_direct(event), settings, records)


def _create(request: Request | Rejected, settings: Settings, records: SampleRecords) -> dict:
    try:
        if isinstance(request, Rejected):
            raise request
        _validate(request, settings)
    except Rejected as rejected:
        log.warning("rejected: %s", rejected.message,
                    extra={"error": {"code": rejected.code, "message": rejected.message}})
        return rejected.response()
    sample_id = request.sample_id or new_sample_id()
    with logs.job_context(sample_id, None):
        try:
            return _enqueue(request, sample_id, records, dispatcher(settings))
        except EnqueueFailed as exc:
            error = {"code": ErrorCode.ENQUEUE_FAILED, "message": str(exc)}
            log.error("not queued: %s", exc, extra={"error": error, "status": Status.FAILED})
            return {"statusCode": 503, "sample_id": sample_id, "status": Status.FAILED, "error": error}


def _enqueue(request: Request, sample_id: str, records: SampleRecords,
             dispatch: Dispatcher) -> dict:
    try:
        enqueue_sample(records, request.bucket, request.key, sample_id, dispatch)
    except RecordExists as exists:
        if not request.from_s3:
            return Rejected(409, ErrorCode.SAMPLE_EXISTS, f"sample {sample_id} already exists").response()
        return _duplicate(request, exists.record or {"status": Status.QUEUED}, records, dispatch)
    log.info("queued s3://%s/%s", request.bucket, request.key, extra={"status": Status.QUEUED})
    return {"statusCode": 202, "sample_id": sample_id, "status": Status.QUEUED}


def _duplicate(request: Request, record: dict, records: SampleRecords,
               dispatch: Dispatcher) -> dict:
    """The answer to an S3 record whose sample exists: its status, its job sent again if it may be lost."""
    sample_id = request.sample_id
    unsent = record["status"] == Status.FAILED and (record.get("error") or {}).get("code") == ErrorCode.ENQUEUE_FAILED
    if record["status"] != Status.QUEUED and not unsent:
        log.info("duplicate S3 event: the sample is %s", record["status"], extra={"status": record["status"]})
        return {"statusCode": 200, "sample_id": sample_id, "status": record["status"]}
    if unsent:
        records.requeue(sample_id)
    send_job(records, JobArguments(sample_id, request.bucket, request.key), dispatch)
    log.info("duplicate S3 event for a sample not yet started: its job is sent again", extra={"status": Status.QUEUED})
    return {"statusCode": 202, "sample_id": sample_id, "status": Status.QUEUED}


# -- event shapes ----------------------------------------------------------------------
def _from_direct(event) -> Request | Rejected:
    if not isinstance(event, dict):
        return _invalid(f"the event must be a JSON object, got {type(event).__name__}")
    unknown = set(event) - {"bucket", "key", "size", "sample_id"}
    if unknown:
        return _invalid(f"unknown field(s): {logs.cut(', '.join(sorted(map(str, unknown))), 200)}")
    for name in ("bucket", "key"):
        if not _is_text(event.get(name)):
            return _invalid(f"{name} must be a non-empty string")
    sample_id = event.get("sample_id")
    if sample_id is not None and (not isinstance(sample_id, str) or not SAMPLE_ID.fullmatch(sample_id)):
        return _invalid("sample_id must be 1-128 letters, digits or . _ : -")
    return _sized(Request(event["bucket"], event["key"], event.get("size"), sample_id))


def _from_api_gateway(event: dict) -> Request | Rejected:
    body, encoded = event.get("body") or "", event.get("isBase64Encoded", False)
    if not isinstance(body, str) or not isinstance(encoded, bool):
        return _invalid("the request body must be text and isBase64Encoded a boolean")
    try:
        if encoded:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        payload = strict_json.loads(body)
    except (ValueError, binascii.Error) as exc:  # RefusedJson and UnicodeDecodeError are ValueErrors
        return _invalid(f"the request body must be a JSON object ({logs.cut(str(exc), 200)})")
    return _from_direct(payload)


def _from_s3_record(record) -> Request | Rejected:
    try:
        obj = s3_object(record)  # keys in S3 notifications are URL-encoded, with spaces as '+'
    except ValueError as exc:
        return _invalid(f"malformed S3 notification record: {exc}")
    if not _is_text(obj.bucket) or not _is_text(obj.key):
        return _invalid("malformed S3 notification record: the bucket and key must be non-empty text")
    return _sized(Request(obj.bucket, obj.key, obj.size, derived_sample_id(obj.bucket, obj.key, obj.version),
                          from_s3=True))


def _sized(request: Request) -> Request | Rejected:
    size = request.size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        return _invalid(f"size must be a whole number of bytes, got {logs.cut(repr(size), 80)}")
    return request


def _is_text(value) -> bool:
    """A non-empty string that UTF-8 can encode (the Lambda runtime's JSON parser lets lone surrogates through)."""
    return isinstance(value, str) and bool(value.strip()) and strict_json.encodable(value)


def _invalid(message: str) -> Rejected:
    return Rejected(400, ErrorCode.INVALID_REQUEST, message)


# -- validation ------------------------------------------------------------------------
def _validate(request: Request, settings: Settings) -> None:
    bucket, key = logs.cut(repr(request.bucket), 200), logs.cut(repr(request.key), 200)
    if request.bucket != settings.input_bucket:
        raise Rejected(400, ErrorCode.WRONG_BUCKET, f"bucket {bucket} is not the input bucket {settings.input_bucket!r}")
    if (not request.key.startswith(settings.input_prefix) or ".." in request.key.split("/")
            or len(request.key.encode()) > 1024 or request.key.endswith("/")):
        raise Rejected(400, ErrorCode.KEY_OUTSIDE_INPUT_PREFIX, f"key {key} is not an object under "
                                                                f"{settings.input_prefix!r}")
    extension = PurePosixPath(request.key).suffix.lower()
    if extension not in AUDIO_EXTENSIONS:
        raise Rejected(415, ErrorCode.UNSUPPORTED_EXTENSION, f"{extension or 'no extension'} is not an audio "
                                                             f"file extension ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    if request.size is not None and request.size <= 0:
        raise Rejected(400, ErrorCode.EMPTY_INPUT, f"{key} is empty ({logs.cut(str(request.size), 40)} bytes)")
    if request.size is not None and request.size > settings.limits.max_bytes:
        raise Rejected(413, ErrorCode.INPUT_TOO_LARGE,
                       f"{key} is {logs.cut(str(request.size), 40)} bytes; the limit is {settings.limits.max_bytes}")
