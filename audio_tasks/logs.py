"""Structured logs for CloudWatch: one JSON object per line, job ids on every job line.

``job_context(sample_id, task_id)`` marks the lines logged while a job runs. Lines Celery
itself logs about a task ("received", "succeeded") carry only the task id in their
arguments; ``remember_job`` (called on entering a job context, and when the main process
receives a message) maps that id to its sample so those lines get ``sample_id`` too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections import OrderedDict
from contextlib import contextmanager
from datetime import datetime, timezone

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
        return json.dumps(line, default=str, ensure_ascii=False)


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
    return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str | int = "INFO", stream=None) -> None:
    """Send every log line of this process to ``stream`` (stderr) as JSON."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
