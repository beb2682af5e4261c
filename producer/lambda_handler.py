"""CreateSampleRecord, the producer Lambda: a job request in, a QUEUED record and a message out.

``handler`` accepts three event shapes, each naming an object in the input bucket:

- a direct invoke ``{"bucket", "key", "size"?, "sample_id"?}``;
- an API Gateway proxy event whose JSON body is that object (the reply is a proxy response);
- an S3 ``ObjectCreated`` notification (one sample per record).

A request is refused before any AWS call when the bucket is not ``INPUT_BUCKET``, the key
is outside ``INPUT_PREFIX`` (or escapes it with ``..``), the extension is not audio, or the
size is 0 or above ``MAX_INPUT_BYTES``: 400/413/415 with ``{"error": {code, message}}``.
Accepted requests go through ``producer.enqueue.enqueue_sample`` (record QUEUED, then
``process_sample``): 202 with the sample id, 409 if a given ``sample_id`` exists, or 503
if the job could not be sent — the record is then FAILED with the reason, never left QUEUED.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import unquote_plus

from audio_tasks import logs
from audio_tasks.aws.records import RecordExists, SampleRecords
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode, Status
from producer.enqueue import EnqueueFailed, enqueue_sample, new_sample_id

AUDIO_EXTENSIONS = frozenset({".aac", ".aif", ".aiff", ".flac", ".m4a", ".mp3", ".mp4", ".oga", ".ogg",
                              ".opus", ".wav", ".webm", ".wma"})
_SAMPLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

log = logging.getLogger("producer.lambda_handler")


class Rejected(Exception):
    """A request that cannot become a sample; ``status`` is its HTTP-style code."""

    def __init__(self, status: int, code: ErrorCode, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> dict:
        return {"statusCode": self.status, "error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class Request:
    bucket: str
    key: str
    size: int | None = None
    sample_id: str | None = None


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
            enqueue_sample(records, request.bucket, request.key, sample_id)
        except RecordExists:
            return Rejected(409, ErrorCode.SAMPLE_EXISTS, f"sample {sample_id} already exists").response()
        except EnqueueFailed as exc:
            error = {"code": ErrorCode.ENQUEUE_FAILED, "message": str(exc)}
            log.error("not queued: %s", exc, extra={"error": error, "status": Status.FAILED})
            return {"statusCode": 503, "sample_id": sample_id, "status": Status.FAILED, "error": error}
        log.info("queued s3://%s/%s", request.bucket, request.key, extra={"status": Status.QUEUED})
    return {"statusCode": 202, "sample_id": sample_id, "status": Status.QUEUED}


# -- event shapes ----------------------------------------------------------------------
def _from_direct(event) -> Request | Rejected:
    if not isinstance(event, dict):
        return Rejected(400, ErrorCode.INVALID_REQUEST, f"the event must be a JSON object, got {type(event).__name__}")
    unknown = set(event) - {"bucket", "key", "size", "sample_id"}
    if unknown:
        return Rejected(400, ErrorCode.INVALID_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in ("bucket", "key"):
        if not isinstance(event.get(name), str) or not event[name].strip():
            return Rejected(400, ErrorCode.INVALID_REQUEST, f"{name} must be a non-empty string")
    size, sample_id = event.get("size"), event.get("sample_id")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        return Rejected(400, ErrorCode.INVALID_REQUEST, f"size must be a whole number of bytes, got {size!r}")
    if sample_id is not None and (not isinstance(sample_id, str) or not _SAMPLE_ID.fullmatch(sample_id)):
        return Rejected(400, ErrorCode.INVALID_REQUEST, "sample_id must be 1-128 letters, digits or . _ : -")
    return Request(event["bucket"], event["key"], size, sample_id)


def _from_api_gateway(event: dict) -> Request | Rejected:
    body = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body, validate=True).decode("utf-8")
        payload = json.loads(body)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return Rejected(400, ErrorCode.INVALID_REQUEST, "the request body must be a JSON object")
    return _from_direct(payload)


def _from_s3_record(record) -> Request | Rejected:
    try:
        if record["eventSource"] != "aws:s3" or not record["eventName"].startswith("ObjectCreated:"):
            return Rejected(400, ErrorCode.INVALID_REQUEST,
                            f"not an S3 ObjectCreated record: {record.get('eventName')!r}")
        s3 = record["s3"]
        # Keys in S3 notifications are URL-encoded, with spaces as '+'.
        return Request(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("size"))
    except (KeyError, TypeError, AttributeError):
        return Rejected(400, ErrorCode.INVALID_REQUEST, "malformed S3 notification record")


# -- validation ------------------------------------------------------------------------
def _validate(request: Request, settings: Settings) -> None:
    if request.bucket != settings.input_bucket:
        raise Rejected(400, ErrorCode.WRONG_BUCKET,
                       f"bucket {request.bucket!r} is not the input bucket {settings.input_bucket!r}")
    key = request.key
    if (not key.startswith(settings.input_prefix) or ".." in key.split("/")
            or len(key.encode()) > 1024 or key.endswith("/")):
        raise Rejected(400, ErrorCode.KEY_OUTSIDE_INPUT_PREFIX,
                       f"key {key!r} is not an object under {settings.input_prefix!r}")
    extension = PurePosixPath(key).suffix.lower()
    if extension not in AUDIO_EXTENSIONS:
        raise Rejected(415, ErrorCode.UNSUPPORTED_EXTENSION, f"{extension or 'no extension'} is not an audio "
                                                             f"file extension ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    if request.size is not None and request.size <= 0:
        raise Rejected(400, ErrorCode.EMPTY_INPUT, f"{key!r} is empty ({request.size} bytes)")
    if request.size is not None and request.size > settings.limits.max_bytes:
        raise Rejected(413, ErrorCode.INPUT_TOO_LARGE,
                       f"{key!r} is {request.size} bytes; the limit is {settings.limits.max_bytes}")
