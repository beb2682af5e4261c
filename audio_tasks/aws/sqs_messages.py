"""Reading raw SQS messages as Celery jobs, for logs and DLQ tools — never for execution.

kombu sends each Celery message as (base64 of) a JSON envelope: ``headers`` (task name,
task id), ``content-type`` and a ``body`` holding ``[args, kwargs, embed]``. ``describe``
takes a message as boto3's ReceiveMessage returns it and says what it is, or what is
wrong with it, without raising: the messages it reads are often the malformed ones.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from audio_tasks.message import JOB_FIELDS, TASK_NAME, JobArguments


def describe(message: dict) -> dict:
    """{message_id, receive_count, sent_at, task, task_id, sample_id, args, problem}.

    ``problem`` is None for a well-formed ``process_sample`` job, otherwise one sentence.
    """
    attributes = message.get("Attributes") or {}
    sent_ms = attributes.get("SentTimestamp")
    info = {
        "message_id": message.get("MessageId"),
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "sent_at": (datetime.fromtimestamp(int(sent_ms) / 1000, timezone.utc).isoformat(timespec="seconds")
                    if sent_ms else None),
        "task": None, "task_id": None, "sample_id": None, "args": None, "problem": None,
    }
    try:
        _read_job(message.get("Body", ""), info)
    except ValueError as exc:
        info["problem"] = str(exc)
    return info


def _read_job(raw: str, info: dict) -> None:
    """Fill ``info`` with what ``raw`` says, as far as it can be read; ValueError says where it stops."""
    envelope = _json_object(raw)
    if envelope is None:
        raw_bytes = _b64(raw)
        envelope = _json_object(raw_bytes.decode("utf-8", "replace")) if raw_bytes is not None else None
    if envelope is None or not isinstance(envelope.get("headers"), dict):
        raise ValueError("not a Celery message (the body is not a kombu JSON envelope)")
    headers = envelope["headers"]
    info.update(task=headers.get("task"), task_id=headers.get("id"))
    content_type = envelope.get("content-type")
    if content_type != "application/json":
        raise ValueError(f"content type {content_type!r} is refused (only application/json is accepted)")
    body = envelope.get("body", "")
    if (envelope.get("properties") or {}).get("body_encoding") == "base64":
        body = (_b64(body) or b"").decode("utf-8", "replace")
    try:
        args, kwargs, _ = json.loads(body)
    except (ValueError, TypeError):
        raise ValueError("the body is not JSON of the form [args, kwargs, embed]") from None
    known = dict(zip(JOB_FIELDS, args if isinstance(args, list) else []))
    known.update(kwargs if isinstance(kwargs, dict) else {})
    sample_id = known.get("sample_id")
    info.update(sample_id=sample_id if isinstance(sample_id, str) else None,
                args={k: known.get(k) for k in JOB_FIELDS})
    if info["task"] != TASK_NAME:
        raise ValueError(f"unknown task {info['task']!r}")
    JobArguments.bind(args, kwargs)  # InvalidArguments is a ValueError naming the bad fields


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
