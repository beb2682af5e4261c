"""Per-descriptor outcomes, so one descriptor failing never fails the job.

Every descriptor is a dict with a ``status``: ``ok``; ``not_applicable`` with a
``reason`` (no pulse in a drone, no pitch in noise); or ``failed`` with a ``reason``
(the exception, which is also logged). Its value fields are always present, ``None``
unless ``ok``, so readers see one schema. ``Guarded`` wraps a streaming analyser: once
its ``feed`` raises it is fed no more, and its outcome becomes ``failed``.
"""

from __future__ import annotations

import logging

from audio_tasks.vocabulary import DescriptorStatus

log = logging.getLogger(__name__)


def outcome(fields: tuple[str, ...], status: DescriptorStatus = DescriptorStatus.OK, reason: str | None = None,
            **values) -> dict:
    """A descriptor: ``status``, a ``reason`` unless ok, and every field (None if not given)."""
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"fields not in the schema: {sorted(unknown)}")
    return {"status": status, **({"reason": reason} if status != DescriptorStatus.OK else {}),
            **{name: values.get(name) for name in fields}}


def not_applicable(fields: tuple[str, ...], reason: str, **values) -> dict:
    return outcome(fields, DescriptorStatus.NOT_APPLICABLE, reason, **values)


def failed(fields: tuple[str, ...], reason: str) -> dict:
    return outcome(fields, DescriptorStatus.FAILED, reason)


def failure(fields: tuple[str, ...], error: BaseException) -> dict:
    return failed(fields, f"{type(error).__name__}: {error}")


class Guarded:
    """A streaming analyser whose failure is recorded instead of raised."""

    def __init__(self, name: str, analyser):
        self.name = name
        self.analyser = analyser
        self.error: BaseException | None = None

    def feed(self, block) -> None:
        if self.error is not None:
            return
        try:
            self.analyser.feed(block)
        except Exception as error:  # noqa: BLE001 - a descriptor must not fail the job
            log.exception("descriptor analyser %s failed; it is left out", self.name)
            self.error = error
