"""What ``audio-tasks submit`` is asked to submit, each input with a sample id derived from the input itself.

- ``PATH``: a local file, uploaded to ``INPUT_PREFIX<sample_id>/<name>``; its id comes from
  its name and its content (SHA-256).
- ``s3://bucket/key``: that object; HeadObject reads its ETag.
- ``s3://bucket/prefix/`` (ending in ``/``) or ``s3://bucket``: every object under the prefix,
  recursively (ListObjectsV2, 1000 a request), narrowed by ``--include`` globs matched
  against the key below the prefix (``*`` also matches ``/``).

An S3 object's id comes from its bucket, key and ETag, a local file's from its name and
SHA-256 (``audio_tasks.message.derived_sample_id`` and ``file_sample_id``), and from the job
options (``--preset``) if any: the same object with the same content, asked for with the same
options, is the same sample; new content at the same key, or other options, a new one. So
re-running a submission finds the samples it already made (``producer.submission``). With
``fresh`` (``submit --resubmit``) every input gets a new random id instead: a new sample.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from audio_tasks.aws.storage import S3Object, Storage, parse_s3_uri
from audio_tasks.errors import JobError, PermanentError
from audio_tasks.message import derived_sample_id, file_sample_id
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode
from producer.enqueue import new_sample_id

_HEADS_AT_ONCE = 8


@dataclass(frozen=True)
class Input:
    """One sample to submit: the input as the user named it, its derived id, and where its audio is
    (or will be, for a local ``path`` still to upload)."""

    source: str
    sample_id: str
    bucket: str
    key: str
    path: Path | None = None


def expand(sources: list[str], include: list[str], settings: Settings, storage: Storage,
           fresh: bool = False, options: dict | None = None) -> tuple[list[Input], list[dict]]:
    """The inputs named by ``sources`` (each sample once), and ``{"input", "error"}`` for the ones that are not.

    Their ids are derived from the input and the job ``options`` (or random if ``fresh``)."""
    naming = _Naming(fresh, options)
    inputs: dict[str, Input] = {}
    errors = []
    named_objects = [source for source in sources if source.startswith("s3://") and not _is_prefix(source)]
    with ThreadPoolExecutor(_HEADS_AT_ONCE) as pool:
        heads = dict(zip(named_objects, pool.map(lambda uri: _head(storage, uri), named_objects)))
    for source in sources:
        try:
            if source in heads:
                found = [_object_input(source, _raise_error(heads[source]), naming)]
            elif source.startswith("s3://"):
                found = _listed(source, include, storage, naming)
            else:
                found = [_local_input(source, settings, naming)]
        except JobError as exc:
            errors.append({"input": source, "error": exc.as_dict()})
            continue
        for item in found:
            inputs.setdefault(item.sample_id, item)
    return list(inputs.values()), errors


def _is_prefix(uri: str) -> bool:
    return uri.endswith("/") or "/" not in uri[len("s3://"):]


def _head(storage: Storage, uri: str) -> S3Object | JobError:
    try:
        return storage.head(*parse_s3_uri(uri))
    except JobError as exc:
        return exc


def _raise_error(result: S3Object | JobError) -> S3Object:
    if isinstance(result, JobError):
        raise result
    return result


@dataclass(frozen=True)
class _Naming:
    """How inputs get their sample ids: random (``fresh``), or derived from the input and ``options``."""

    fresh: bool
    options: dict | None

    def object_id(self, obj: S3Object) -> str:
        return new_sample_id() if self.fresh else derived_sample_id(obj.bucket, obj.key, etag=obj.etag,
                                                                    options=self.options)

    def file_id(self, name: str, sha256: str) -> str:
        return new_sample_id() if self.fresh else file_sample_id(name, sha256, self.options)


def _object_input(source: str, obj: S3Object, naming: _Naming) -> Input:
    return Input(source, naming.object_id(obj), obj.bucket, obj.key)


def _listed(source: str, include: list[str], storage: Storage, naming: _Naming) -> list[Input]:
    bucket, _, prefix = source[len("s3://"):].partition("/")
    if not bucket:
        raise PermanentError(ErrorCode.INVALID_REQUEST, f"not an S3 URI (s3://bucket/prefix/): {source!r}")
    found = [_object_input(obj.uri, obj, naming) for obj in storage.list_objects(bucket, prefix)
             if not obj.key.endswith("/") and
             (not include or any(fnmatchcase(obj.key[len(prefix):], glob) for glob in include))]
    if not found:
        matching = f" matching {' or '.join(include)}" if include else ""
        raise PermanentError(ErrorCode.MISSING_INPUT, f"no objects under {source}{matching}")
    return found


def _local_input(source: str, settings: Settings, naming: _Naming) -> Input:
    path = Path(source)
    if not path.is_file():
        raise PermanentError(ErrorCode.NOT_A_FILE, f"no such file: {source}")
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    new_id = naming.file_id(path.name, digest.hexdigest())
    return Input(source, new_id, settings.input_bucket, f"{settings.input_prefix}{new_id}/{path.name}", path)
