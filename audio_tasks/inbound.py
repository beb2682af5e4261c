"""What a raw SQS body on the work queue is: a job, in one of three shapes, or why it is not one.

A job arrives as

- a **Celery envelope** — kombu's JSON (``headers``, ``properties``, ``body`` holding
  ``[args, kwargs, embed]``), base64-wrapped as kombu sends it — from ``process_sample.delay``;
- **plain JSON** — ``{"bucket", "key", "sample_id"?, "version_id"?, "options"?}``, unknown
  fields ignored — from any SQS client (``aws sqs send-message``, Node's SDK);
- an **S3 event notification** — ``{"Records": [...]}`` with ``ObjectCreated`` records — sent
  by S3 straight to the queue. Keys are URL-encoded with ``+`` for spaces (``unquote_plus``).

``read(body, message_id)`` returns ``Job`` for each of them, ``S3TestEvent`` for the
message S3 sends when a notification is configured, ``S3Records`` for an event carrying
several records (each is sent on as a message of its own), ``OtherTask`` for a well-formed
Celery call of another task (a worker runs it only if it registers that task, as the
benchmarks' app does; Celery's own ``celery.*`` tasks are refused), and ``Refused`` — with
an ``ErrorCode`` and one sentence — for anything else. It never raises, whatever the body: the
worker's transport, its consumer and the DLQ tools all read bodies through it, so a body is
a job everywhere or nowhere. A plain or S3 job without a sample id gets
``derived_sample_id(bucket, key, version)``; its task id is the SQS message id, so every
redelivery of one message is the same task.

Limits: a job's body is at most ``MAX_BODY_BYTES`` (64 KiB, S3's own notification limit;
a Celery job is ~1.5 KiB) and is read by ``audio_tasks.strict_json`` (32 levels deep at
most, no duplicate keys, no NaN). A Celery envelope's headers are not trusted: only
``task``, ``id`` and ``retries`` are read (typed and bounded), so a sender cannot set an
ETA, an expiry or a time limit.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from audio_tasks import strict_json
from audio_tasks.message import TASK_NAME, InvalidArguments, JobArguments, derived_sample_id
from audio_tasks.vocabulary import ErrorCode

MAX_BODY_BYTES = 64 * 1024
MAX_RETRIES = 1_000_000
MAX_VERSION_CHARS = 1024
TASK_ID = re.compile(r"[A-Za-z0-9._:-]{1,255}")  # Celery's UUIDs, SQS message ids
TASK = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,254}")  # a task's name: dotted Python names
_CUT = 120  # characters of a hostile value repeated in a reason


@dataclass(frozen=True)
class Job:
    """A ``process_sample`` call; ``shape`` is how it came: ``celery``, ``json`` or ``s3``."""

    arguments: JobArguments
    task_id: str
    retries: int
    shape: str


@dataclass(frozen=True)
class OtherTask:
    """A well-formed Celery call of a task that is not ``process_sample``: not a job of this queue."""

    task: str
    task_id: str
    retries: int
    args: list
    kwargs: dict


@dataclass(frozen=True)
class Refused:
    """Not a job: ``reason`` says why; the ids are what could be read, for the logs."""

    code: ErrorCode
    reason: str
    task: str | None = None
    task_id: str | None = None
    sample_id: str | None = None


@dataclass(frozen=True)
class S3TestEvent:
    """The ``s3:TestEvent`` S3 sends when a bucket's notifications are configured: no job."""

    bucket: str | None


@dataclass(frozen=True)
class S3Records:
    """An S3 event with several records: one job each, once each is a message of its own."""

    records: tuple[dict, ...]


Reading = Job | OtherTask | Refused | S3TestEvent | S3Records


class _Refusal(Exception):
    def __init__(self, code: ErrorCode, reason: str, **known):
        super().__init__(reason)
        self.refused = Refused(code, reason, **known)


def read(body: str, message_id: str) -> Reading:
    """What ``body`` (an SQS message's ``Body``) is; never raises."""
    try:
        return _read(body, message_id)
    except _Refusal as refusal:
        return refusal.refused


def is_kombu_envelope(body) -> bool:
    """Whether kombu can read ``body`` as its JSON envelope (any task, any queue) without crashing."""
    try:
        envelope = _json(body) if isinstance(body, str) else None
        properties = envelope.get("properties", {}) if isinstance(envelope, dict) else None
        return (isinstance(properties, dict) and isinstance(properties.get("delivery_info", {}), dict)
                and isinstance(envelope.get("headers") or {}, dict)
                and all(isinstance(envelope.get(name), (str, type(None))) for name in ("content-type", "content-encoding"))
                and (envelope.get("body") is None or _body_text(envelope["body"], properties) is not None))
    except _Refusal:
        return False


def _read(body: str, message_id: str) -> Reading:
    if not isinstance(body, str) or not body.strip():
        raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, "the body is empty or not text")
    # Counted in characters first, so a 1 MiB body is never copied to be measured.
    if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, f"the body is over the {MAX_BODY_BYTES} bytes a job message may take")
    value = _json(body)
    if not isinstance(value, dict):
        raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, f"the body is a JSON {_kind(value)}, not an object")
    if "headers" in value or "properties" in value:
        return _celery(value)
    if value.get("Event") == "s3:TestEvent":
        return S3TestEvent(_short(value.get("Bucket")))
    if "Records" in value:
        return _s3(value, message_id)
    return _plain(value, message_id)


def _json(body: str):
    """The body's JSON: as sent, or base64-wrapped (kombu's default, and ``aws sqs`` users' habit)."""
    try:
        return strict_json.loads(body)
    except strict_json.RefusedJson as direct:
        unwrapped = _base64_text(body)
        if unwrapped is None:
            raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, f"the body is neither JSON nor base64 of JSON: {direct}") from None
    try:
        return strict_json.loads(unwrapped)
    except strict_json.RefusedJson as wrapped:
        raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, f"the body is base64 of something that is not JSON: {wrapped}") \
            from None


# -- a Celery envelope -------------------------------------------------------------------
def _celery(envelope: dict) -> Job | OtherTask:
    headers = envelope.get("headers")
    if not isinstance(headers, dict):
        raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, "not a Celery message (its headers are not an object)")
    task, known = headers.get("task"), {"task": _short(headers.get("task")), "task_id": _task_id(headers.get("id"))}
    content_type = envelope.get("content-type")
    if content_type != "application/json":
        raise _Refusal(ErrorCode.INVALID_MESSAGE, f"content type {_cut(content_type)} is refused (only "
                                                  "application/json is accepted)", **known)
    args, kwargs = _celery_body(envelope, known)
    sample_id = _short(args[0] if args else kwargs.get("sample_id")) if task == TASK_NAME else None
    if not isinstance(task, str) or not TASK.fullmatch(task) or task.startswith("celery."):
        raise _Refusal(ErrorCode.UNKNOWN_TASK, f"unknown task {_cut(task)}", **known)
    if known["task_id"] is None:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, "the task id must be 1-255 letters, digits or . _ : -",
                       **known, sample_id=sample_id)
    retries = headers.get("retries", 0)
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, f"retries must be a whole number from 0 to {MAX_RETRIES}, "
                                                  f"not {_cut(retries)}", **known, sample_id=sample_id)
    if task != TASK_NAME:
        return OtherTask(task, known["task_id"], retries, args, kwargs)
    return Job(_bind(args, kwargs, known, sample_id), known["task_id"], retries, "celery")


def _celery_body(envelope: dict, known: dict) -> tuple[list, dict]:
    """``(args, kwargs)`` from the envelope's body ``[args, kwargs, embed]`` (base64 if ``body_encoding`` says so)."""
    properties = envelope.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise _Refusal(ErrorCode.UNKNOWN_MESSAGE, "not a Celery message (its properties are not an object)", **known)
    text = _body_text(envelope.get("body"), properties or {})
    if text is None:
        raise _Refusal(ErrorCode.UNDECODABLE_MESSAGE, "the body is not text, plain or base64 of UTF-8", **known)
    try:
        call = strict_json.loads(text)
    except strict_json.RefusedJson as exc:
        raise _Refusal(ErrorCode.UNDECODABLE_MESSAGE,
                       f"the body is not JSON of the form [args, kwargs, embed]: {exc}", **known) from None
    if not (isinstance(call, list) and len(call) == 3 and isinstance(call[0], list) and isinstance(call[1], dict)
            and isinstance(call[2], (dict, type(None)))):
        raise _Refusal(ErrorCode.UNDECODABLE_MESSAGE, "the body is not JSON of the form [args, kwargs, embed] "
                                                      "(a list and two objects)", **known)
    return call[0], call[1]


# -- an S3 event notification ------------------------------------------------------------
def _s3(event: dict, message_id: str) -> Job | S3Records:
    records = event["Records"]
    if not isinstance(records, list) or not records:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, "an S3 notification's Records must be a non-empty list")
    if len(records) > 1:
        return S3Records(tuple(records))
    try:
        obj = s3_object(records[0])
    except ValueError as exc:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    return _derived_job(obj.bucket, obj.key, obj.version, None, message_id, "s3")


@dataclass(frozen=True)
class S3Object:
    """The object an S3 ``ObjectCreated`` record names; ``size`` is as the record has it (unchecked)."""

    bucket: str
    key: str
    version: str | None  # its version id, else the event's sequencer: what tells two uploads apart
    size: object


def s3_object(record) -> S3Object:
    """The object of an S3 notification record (key URL-decoded); ValueError says why there is none."""
    name = record.get("eventName") if isinstance(record, dict) else None
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3" or not isinstance(name, str) \
            or not name.startswith("ObjectCreated:"):
        raise ValueError(f"not an S3 ObjectCreated record (event {_cut(name)})")
    bucket, obj = _path(record, "s3", "bucket", "name"), _path(record, "s3", "object")
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise ValueError("an S3 record must name s3.bucket.name and s3.object.key as strings")
    version = obj.get("versionId") if obj.get("versionId") not in (None, "null") else obj.get("sequencer")
    if version is not None and (not isinstance(version, str) or len(version) > MAX_VERSION_CHARS):
        raise ValueError(f"the object's versionId or sequencer is not a string of at most {MAX_VERSION_CHARS} "
                         "characters")
    return S3Object(bucket, unquote_plus(key), version, obj.get("size"))


def _path(value, *names):
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value


# -- plain JSON ----------------------------------------------------------------------------
def _plain(job: dict, message_id: str) -> Job:
    bucket, key, version = job.get("bucket"), job.get("key"), job.get("version_id")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise _Refusal(ErrorCode.INVALID_MESSAGE, 'a plain JSON job needs "bucket" and "key" strings')
    if version is not None and (not isinstance(version, str) or len(version) > MAX_VERSION_CHARS):
        raise _Refusal(ErrorCode.INVALID_MESSAGE, f"version_id must be a string of at most {MAX_VERSION_CHARS} "
                                                  "characters")
    return _derived_job(bucket, key, version, job.get("sample_id"), message_id, "json", options=job.get("options"))


def _derived_job(bucket: str, key: str, version, sample_id, message_id: str, shape: str, options=None) -> Job:
    if sample_id is None:
        sample_id = derived_sample_id(bucket, key, version)
    task_id = _task_id(message_id)
    if task_id is None:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, "the SQS message id cannot be a task id")
    known = {"task": TASK_NAME, "task_id": task_id}
    kwargs = {} if options is None else {"options": options}
    return Job(_bind([sample_id, bucket, key], kwargs, known, _short(sample_id)), task_id, 0, shape)


# -- helpers -------------------------------------------------------------------------------
def _bind(args, kwargs, known: dict, sample_id: str | None) -> JobArguments:
    try:
        return JobArguments.bind(args, kwargs)
    except InvalidArguments as exc:
        raise _Refusal(ErrorCode.INVALID_MESSAGE, str(exc), **known, sample_id=sample_id) from None


def _body_text(body, properties: dict) -> str | None:
    """An envelope's body as text, decoded as its ``body_encoding`` says; None if it cannot be."""
    encoding = properties.get("body_encoding")
    if not isinstance(body, str) or encoding not in (None, "base64"):
        return None
    return _base64_text(body) if encoding == "base64" else body


def _base64_text(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _task_id(value) -> str | None:
    return value if isinstance(value, str) and TASK_ID.fullmatch(value) else None


def _short(value) -> str | None:
    """A string fit for a log field, or None (a hostile message's ids may be anything)."""
    return value if isinstance(value, str) and len(value) <= 255 else None


def _cut(value) -> str:
    text = repr(value)
    return text if len(text) <= _CUT else f"{text[:_CUT]}… ({len(text)} characters)"


def _kind(value) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
