"""The job message: what every producer sends and every worker reads — JSON strings, never audio.

A job names one task, ``process_sample``, with three required arguments — the sample id
and the S3 reference (bucket, key) of its input — and an optional fourth, ``options``: a
JSON object of the job's own audio choices (``{"preset": "streaming"}``). This module owns
its shape (an object or null, at most ``MAX_OPTIONS_BYTES`` of JSON: anything else makes
the message no job); what its names and values mean is ``AudioOptions.for_job``'s, and
the job FAILS ``invalid_request`` on ones it cannot apply. Messages without ``options``
are the same job as before it existed. ``JobArguments.bind`` reads them from a Celery
call's ``(args, kwargs)`` exactly as the task would bind them; the worker's main process,
the task, the DLQ tools and the log lines all read a message through it, so a message is
either a job everywhere or nowhere. How the three shapes a job may arrive in (a Celery
envelope, plain JSON, an S3 notification) become one is ``audio_tasks.inbound``.

A job without a sample id (plain JSON, S3 notifications) gets ``derived_sample_id``: the
same object, or object version, always names the same sample, so duplicates collapse.
``audio-tasks submit`` derives its ids here too (``producer.inputs``): an S3 object's from
its ETag, a local file's from its name and content (``file_sample_id``). One namespace,
and the JSON arrays hashed have a different length for each kind of input, so two kinds
never name the same sample.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

TASK_NAME = "audio_tasks.process_sample"
JOB_FIELDS = ("sample_id", "bucket", "key")  # required, in the task's positional order
OPTIONAL_FIELDS = ("options",)

SAMPLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # safe in S3 keys, URLs and log lines
MAX_BUCKET_CHARS = 255  # S3 allows 63 (255 for old us-east-1 buckets)
MAX_KEY_BYTES = 1024  # S3's limit, in UTF-8
MAX_OPTIONS_BYTES = 4096  # the options object as compact JSON
_SAMPLE_NAMESPACE = uuid.UUID("6b1d4b0e-5c52-4d1e-9d62-0d6f1f0e2a51")  # fixed forever: ids depend on it


class InvalidArguments(ValueError):
    """A message's arguments do not make a job; the text says what is wrong."""


@dataclass(frozen=True)
class JobArguments:
    sample_id: str
    bucket: str
    key: str
    options: dict | None = None

    @classmethod
    def bind(cls, args, kwargs) -> "JobArguments":
        """The job a ``process_sample(*args, **kwargs)`` call names; raises InvalidArguments."""
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise InvalidArguments("arguments must be a list and keyword arguments an object")
        names = JOB_FIELDS + OPTIONAL_FIELDS
        if len(args) > len(names):
            raise InvalidArguments(f"{TASK_NAME}({', '.join(JOB_FIELDS)}) got {len(args)} positional arguments")
        bound = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names or name in bound:
                raise InvalidArguments(f"{TASK_NAME} got an unexpected or repeated argument {str(name)[:80]!r}")
            bound[name] = value
        bad = [name for name in JOB_FIELDS if not isinstance(bound.get(name), str) or not bound[name].strip()]
        if bad:
            raise InvalidArguments(f"missing or empty fields: {', '.join(bad)}")
        job = cls(**bound)
        job._check_limits()
        return job

    def _check_limits(self) -> None:
        if not SAMPLE_ID.fullmatch(self.sample_id):
            raise InvalidArguments("sample_id must be 1-128 letters, digits or . _ : -")
        if len(self.bucket) > MAX_BUCKET_CHARS:
            raise InvalidArguments(f"bucket is longer than {MAX_BUCKET_CHARS} characters")
        if len(self.key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise InvalidArguments(f"key is longer than {MAX_KEY_BYTES} bytes")
        if self.options is not None and not isinstance(self.options, dict):
            raise InvalidArguments(f"options must be an object or null, got {type(self.options).__name__}")
        if self.options and len(json.dumps(self.options, separators=(",", ":"))) > MAX_OPTIONS_BYTES:
            raise InvalidArguments(f"options are longer than {MAX_OPTIONS_BYTES} bytes of JSON")

    def call(self) -> tuple[list, dict]:
        """The ``(args, kwargs)`` of the ``process_sample`` call this job is."""
        return [self.sample_id, self.bucket, self.key], ({"options": self.options} if self.options else {})


def derived_sample_id(bucket: str, key: str, version: str | None = None, etag: str | None = None,
                      options: dict | None = None) -> str:
    """The sample id of ``s3://bucket/key`` (at ``version``, or with ``etag``): a UUID, the same for the same input.

    It is UUID v5 of the JSON text ``[bucket, key, version or null]`` (Python's ``json.dumps``:
    ASCII with ``\\u`` escapes, ", " between items), so any producer can compute it too; with
    an ``etag`` (without its quotes, as S3 notifications carry it) that is appended as a
    fourth item, and then job ``options``, if any (see ``_uuid``).
    """
    return _uuid([bucket, key, version or None] + ([etag] if etag else []), options)


def file_sample_id(name: str, sha256: str, options: dict | None = None) -> str:
    """The sample id of a local file called ``name`` whose content has the SHA-256 ``sha256`` (hex).

    UUID v5 of the JSON text ``["sha256:<sha256>", name]``: two items, so never an S3 object's id;
    job ``options``, if any, are appended (see ``_uuid``).
    """
    return _uuid([f"sha256:{sha256}", name], options)


def _uuid(identity: list, options: dict | None = None) -> str:
    """UUID v5 of ``identity`` as JSON; non-empty ``options`` are appended as the text
    ``"options:" + json.dumps(options, sort_keys=True)``: the same input asked for with other
    options is another sample, with the same options the same one."""
    if options:
        identity = [*identity, "options:" + json.dumps(options, sort_keys=True)]
    return str(uuid.uuid5(_SAMPLE_NAMESPACE, json.dumps(identity)))
