"""Structured logs for CloudWatch: one JSON object per line, job ids on every job line.

``job_context(sample_id, task_id)`` marks the lines logged while a job runs. Lines Celery
itself logs about a task ("received", "succeeded") carry only the task id in their
arguments; ``remember_job`` (called on entering a job context, and when the main process
receives a message) maps that id to its sample so those lines get ``sample_id`` too.

Every line is bounded, whatever a message put in it: each string is cut in the middle
with a marker beyond ``MAX_FIELD_CHARS`` (a traceback beyond ``MAX_EXCEPTION_CHARS``), and
a line still over ``MAX_LINE_CHARS`` is reduced to its ids and a cut message. A 1 MiB
sample id once produced lines of 1.1–1.7 MB; CloudWatch Logs takes at most 256 KB per
event, and ``MAX_LINE_CHARS`` characters are at most 64 KiB of UTF-8.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections import OrderedDict
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import islice

MAX_FIELD_CHARS = 2_000
MAX_EXCEPTION_CHARS = 8_000
MAX_LINE_CHARS = 16_384
_MAX_ITEMS = 50  # entries of a dict or list field kept
_MAX_DEPTH = 4  # nesting of a field kept; deeper values become cut text
_ESSENTIAL = ("time", "level", "logger", "process", "sample_id", "task_id", "event")  # kept by a cut line

_job: contextvars.ContextVar[dict | None] = contextvars.ContextVar("audio_tasks_job", default=None)
_samples_by_task: OrderedDict[str, str] = OrderedDict()
_MAX_REMEMBERED = 10_000


@contextmanager
def job_context(sample_id: str, task_id: str | None):
    if task_id is not None:
        remember_job(task_id, sample_id)
    token = _job.set({"sample_id": sample_id, "task_id": task_id})
    try:
        yield
    finally:
        _job.reset(token)


def remember_job(task_id: str, sample_id: str) -> None:
    """Record which sample a task id belongs to (bounded, oldest forgotten first)."""
    _samples_by_task[task_id] = sample_id
    while len(_samples_by_task) > _MAX_REMEMBERED:
        _samples_by_task.popitem(last=False)


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        line.update(_job_ids(record))
        for key in ("event", "error", "status", "attempt"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _dumps(line)


def _job_ids(record: logging.LogRecord) -> dict:
    job = _job.get()
    if job is not None:
        return job
    task_id = record.args.get("id") if isinstance(record.args, dict) else None
    if task_id is None:
        task_id = getattr(record, "task_id", None)
    if task_id is None:
        return {}
    return {"sample_id": _samples_by_task.get(task_id), "task_id": task_id}


def error_line(logger: str, message: str, **fields) -> str:
    """One JSON log line, for a process that fails before (or without) configured logging."""
    line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": "ERROR",
            "logger": logger, "message": message, **fields}
    return _dumps(line)


def cut(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text``, or its start and end around a marker saying how much was cut (at most ~``limit`` + 40)."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}…[{len(text) - 2 * keep} characters cut]…{text[len(text) - keep:]}"


def _dumps(line: dict) -> str:
    """The line as JSON, within the limits above."""
    bounded = {key: cut(value, MAX_EXCEPTION_CHARS) if key == "exception" and isinstance(value, str)
               else _bounded(value, 1) for key, value in line.items()}
    text = json.dumps(bounded, ensure_ascii=False)
    if len(text) <= MAX_LINE_CHARS:
        return text
    # At most 8 fields of 200 characters (each at most 6 when escaped): always under the limit.
    reduced = {key: cut(_text(line[key]), 200) for key in (*_ESSENTIAL, "message") if key in line}
    reduced["line_cut"] = f"the line had {len(text)} characters; only its ids and the start of its message are kept"
    return json.dumps(reduced, ensure_ascii=False)


def _bounded(value, depth: int):
    """``value`` as JSON-ready data no larger than the limits above."""
    if isinstance(value, str):
        return cut(value)
    if value is None or isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) < 1e18):
        return value  # NaN fails the comparison and becomes text, as JSON has no NaN
    if isinstance(value, dict) and depth < _MAX_DEPTH:
        return {cut(_text(k), 200): _bounded(v, depth + 1) for k, v in islice(value.items(), _MAX_ITEMS)}
    if isinstance(value, (list, tuple)) and depth < _MAX_DEPTH:
        return [_bounded(v, depth + 1) for v in islice(value, _MAX_ITEMS)]
    return cut(_text(value))


def _text(value) -> str:
    try:
        return str(value)
    except Exception as exc:  # a hostile object's __str__, an int of more than 4300 digits
        return f"<{type(value).__name__}: {type(exc).__name__}>"


def configure(level: str | int = "INFO", stream=None) -> None:
    """Send every log line of this process to ``stream`` (stderr) as JSON."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
