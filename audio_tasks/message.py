"""The job message: what every producer sends and every worker reads — JSON strings, never audio.

A job names one task, ``process_sample``, with three arguments: the sample id and the S3
reference (bucket, key) of its input. ``JobArguments.bind`` reads them from a Celery call's
``(args, kwargs)`` exactly as the task would bind them; the worker's main process, the
task, the DLQ tools and the log lines all read a message through it, so a message is
either a job everywhere or nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_NAME = "audio_tasks.process_sample"
JOB_FIELDS = ("sample_id", "bucket", "key")


class InvalidArguments(ValueError):
    """A message's arguments do not make a job; the text says what is wrong."""


@dataclass(frozen=True)
class JobArguments:
    sample_id: str
    bucket: str
    key: str

    @classmethod
    def bind(cls, args, kwargs) -> "JobArguments":
        """The job a ``process_sample(*args, **kwargs)`` call names; raises InvalidArguments."""
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise InvalidArguments("arguments must be a list and keyword arguments an object")
        if len(args) > len(JOB_FIELDS):
            raise InvalidArguments(f"{TASK_NAME}({', '.join(JOB_FIELDS)}) got {len(args)} positional arguments")
        bound = dict(zip(JOB_FIELDS, args))
        for name, value in kwargs.items():
            if name not in JOB_FIELDS or name in bound:
                raise InvalidArguments(f"{TASK_NAME} got an unexpected or repeated argument {name!r}")
            bound[name] = value
        bad = [name for name in JOB_FIELDS if not isinstance(bound.get(name), str) or not bound[name].strip()]
        if bad:
            raise InvalidArguments(f"missing or empty fields: {', '.join(bad)}")
        return cls(**bound)
