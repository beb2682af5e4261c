"""S3 adapter: fetch a job's input, store its artifacts under deterministic keys.

Every botocore failure leaves here as a classified ``JobError`` (a missing object is
permanent, throttling or a dead endpoint transient; see ``audio_tasks.aws.errors``), so
the task shell decides policy without knowing S3's error codes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from audio_tasks import aws
from audio_tasks.aws.errors import classify_aws
from audio_tasks.errors import PermanentError
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); raises PermanentError (invalid_request) for anything else."""
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise PermanentError(ErrorCode.INVALID_REQUEST, f"not an S3 object URI (s3://bucket/key): {uri!r}")
    return parsed.netloc, key


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def artifact_key(sample_id: str, name: str) -> str:
    """The deterministic key of one artifact: a re-run overwrites, never duplicates."""
    return f"processed/{sample_id}/{name}"


@dataclass(frozen=True)
class S3Object:
    """An object's address and content version: its ETag, without the quotes S3's API puts around it."""

    bucket: str
    key: str
    etag: str

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)


@contextmanager
def _classified():
    try:
        yield
    except Exception as exc:
        classified = classify_aws(exc)
        if classified is None:
            raise
        raise classified from exc


class Storage:
    """Input download and artifact upload for one configured account/endpoint."""

    def __init__(self, settings: Settings, s3=None):
        self._settings = settings
        self._s3 = s3 or aws.client("s3", settings)

    def download(self, bucket: str, key: str, dest: Path, *, max_bytes: int) -> int:
        """Download s3://bucket/key to ``dest``; returns its size in bytes.

        Raises PermanentError ``missing_input`` if absent and ``input_too_large`` over
        ``max_bytes`` (checked before any byte is transferred).
        """
        with _classified():
            head = self._s3.head_object(Bucket=bucket, Key=key)
        size = int(head["ContentLength"])
        if size > max_bytes:
            raise PermanentError(ErrorCode.INPUT_TOO_LARGE,
                                 f"{s3_uri(bucket, key)} is {size} bytes; the limit is {max_bytes}")
        with _classified():
            self._s3.download_file(bucket, key, str(dest))
        return size

    def head(self, bucket: str, key: str) -> S3Object:
        """The object at s3://bucket/key; raises PermanentError ``missing_input`` if there is none."""
        with _classified():
            return S3Object(bucket, key, self._s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"'))

    def list_objects(self, bucket: str, prefix: str) -> Iterator[S3Object]:
        """Every object under ``prefix`` (recursively), 1000 per ListObjectsV2 request."""
        with _classified():
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    yield S3Object(bucket, entry["Key"], entry["ETag"].strip('"'))

    def upload_file(self, path: Path, bucket: str, key: str, content_type: str) -> str:
        """Upload ``path`` to s3://bucket/key; returns the URI."""
        with _classified():
            self._s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        return s3_uri(bucket, key)

    def upload_input(self, path: Path, key: str) -> str:
        """Upload a local input file to the input bucket; returns its URI."""
        return self.upload_file(path, self._settings.input_bucket, key, "application/octet-stream")
