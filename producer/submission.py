"""``audio-tasks submit``: many inputs queued at batch speed, resumable, with progress on stderr.

Inputs go in batches of 100 (``producer.inputs`` names them and derives their ids). For
each batch: one BatchGetItem finds the samples that already have a record; new local files
are uploaded; the new records are written QUEUED (BatchWriteItem, 25 a request); then the
jobs are sent, SendMessageBatch of 10 (``producer.job_batches``) — records before
messages, as for one sample. A job that cannot be sent has its record moved to FAILED
``enqueue_failed``, so no record stays QUEUED without a message.

Under ``DISPATCH_MODE=run-task`` the jobs go instead to the dispatcher the Lambda and the
reconciler use, one at a time (``producer.dispatch.OneAtATime``: RunTask, then
``dispatched_via`` in the record); job options, which a one-off task cannot take, are
refused before anything is uploaded or written. Sent to the queue, the jobs are not noted
in their records (``dispatched_at``): that takes one conditional write per sample, which
made ``submit`` 2.1–2.3× the plain ``send_message_batch`` loop on the emulator (1.2× is the
target), so the reconciler sends a second message for a sample still QUEUED after its
grace period.

BatchWriteItem takes no condition (TransactWriteItems could make each Put conditional, but
costs twice the write units, and the emulator's copies its table per item: 7–27 s per 100
records into a 500-record table, measured), so two runs of the same submission at the
same moment may both write and send a sample: it is then processed twice, with the same
result.

Re-running the same submission — the same local files (name and content) or the same S3
objects (key and ETag) — resumes it: a sample whose record is PROCESSING, COMPLETED or
FAILED is skipped; one still QUEUED has its job sent again (an interrupted run may have
written the record but not sent the message, and a second message for a sample is
harmless: the first job to run moves the record on, the other finds it final and does
nothing); one FAILED ``enqueue_failed`` is put back to QUEUED and sent again.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from audio_tasks.aws.records import BATCH_GET_MAX, RecordNotFound, SampleRecords
from audio_tasks.aws.storage import Storage, s3_uri
from audio_tasks.errors import JobError
from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import FINAL_STATES, ErrorCode, Status
from producer.dispatch import OneAtATime, QueueDispatch, dispatcher
from producer.inputs import Input, expand
from producer.job_batches import JobBatches

BATCH = BATCH_GET_MAX  # inputs per round: one BatchGetItem


class Progress:
    """Counts per action, written to ``stream`` at most once a second and once at the end (if there
    is anything to submit)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, every_s: float = 1.0):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.counts = {"queued": 0, "resent": 0, "skipped": 0, "failed": 0}
        self._shown_at = time.monotonic()

    def add(self, action: str, count: int = 1) -> None:
        self.counts[action] += count

    def show(self, final: bool = False) -> None:
        if self.total and (final or time.monotonic() - self._shown_at >= self.every_s):
            self._shown_at = time.monotonic()
            done = sum(self.counts.values())
            print(f"submit: {done}/{self.total}: " + ", ".join(f"{n} {a}" for a, n in self.counts.items()),
                  file=self.stream, flush=True)


def submit_sources(sources: list[str], include: list[str], settings: Settings, records: SampleRecords,
                   fresh: bool = False, options: dict | None = None,
                   stream: TextIO = sys.stderr) -> tuple[list[dict], list[dict]]:
    """Name the inputs of ``sources`` (``producer.inputs``; ``fresh``: as new samples) and ``submit``
    them, each job with ``options`` (e.g. {"preset": "streaming"}), with progress on ``stream``."""
    storage = Storage(settings)
    inputs, errors = expand(sources, include, settings, storage, fresh, options)
    dispatch = dispatcher(settings)
    if options and dispatch.options_refusal:  # refused before anything is uploaded or written
        message = f"{dispatch.options_refusal}: submit it without --preset"
        return [], errors + [_input_error(item, ErrorCode.INVALID_REQUEST, message) for item in inputs]
    jobs = JobBatches(settings) if dispatch.via == QueueDispatch.via else OneAtATime(records, dispatch)
    submitted, not_submitted = submit(inputs, records, storage, jobs, Progress(len(inputs), stream), options)
    return submitted, errors + not_submitted


def submit(inputs: list[Input], records: SampleRecords, storage: Storage, jobs: JobBatches | OneAtATime,
           progress: Progress, options: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Submit ``inputs``; returns (submitted, errors).

    ``submitted``: ``{"sample_id", "input", "status", "action"}`` per sample, ``action`` being
    ``queued`` (new record and job), ``resent`` (the record existed, the job was sent again)
    or ``skipped`` (already PROCESSING or final; ``status`` says which). ``errors``:
    ``{"input", "error": {code, message}}`` per input that could not be submitted (with its
    ``sample_id`` once it has one).
    """
    submitted, errors = [], []
    with jobs.open():
        for start in range(0, len(inputs), BATCH):
            batch = _Batch(inputs[start:start + BATCH], records, options).run(storage, jobs)
            submitted += batch.submitted
            errors += batch.errors
            for action in ("queued", "resent", "skipped"):
                progress.add(action, sum(1 for sample in batch.submitted if sample["action"] == action))
            progress.add("failed", len(batch.errors))
            progress.show()
    progress.show(final=True)
    return submitted, errors


class _Batch:
    """One round of up to ``BATCH`` inputs: look up, upload, write records, send jobs."""

    def __init__(self, inputs: list[Input], records: SampleRecords, options: dict | None = None):
        self.inputs, self.records, self.options = {item.sample_id: item for item in inputs}, records, options
        self.submitted: list[dict] = []
        self.errors: list[dict] = []

    def run(self, storage: Storage, jobs: JobBatches | OneAtATime) -> "_Batch":
        try:
            existing = self.records.get_many(list(self.inputs))
            again = [self.inputs[sample_id] for sample_id in self._to_send_again(existing)]
        except Exception as exc:  # nothing written yet: every input of the batch is an error
            for item in self.inputs.values():
                self._error(item, ErrorCode.TRANSIENT_ERROR, f"could not read the sample records: {_reason(exc)}")
            return self
        new = self._uploaded([item for item in self.inputs.values() if item.sample_id not in existing], storage)
        try:
            unwritten = set(self.records.create_many([(item.sample_id, s3_uri(item.bucket, item.key))
                                                      for item in new]))
            new = [item for item in new if item.sample_id not in unwritten]
            not_sent = jobs.send([JobArguments(item.sample_id, item.bucket, item.key, self.options)
                                  for item in new + again])
        except Exception as exc:  # some records may be written: each is failed below, not left QUEUED
            unwritten, not_sent = set(), {item.sample_id: _reason(exc) for item in new + again}
        for sample_id in unwritten:
            self._error(self.inputs[sample_id], ErrorCode.ENQUEUE_FAILED, "DynamoDB did not write the record")
        for action, items in (("queued", new), ("resent", again)):
            for item in items:
                if item.sample_id in not_sent:
                    self._not_sent(item, not_sent[item.sample_id])
                else:
                    self._done(item, Status.QUEUED, action)
        return self

    def _to_send_again(self, existing: dict[str, dict]) -> list[str]:
        """The samples among ``existing`` records whose job is sent again; the others are skipped
        (see the module docstring)."""
        again = []
        for sample_id, record in existing.items():
            status = record["status"]
            if status == Status.FAILED and (record.get("error") or {}).get("code") == ErrorCode.ENQUEUE_FAILED:
                status = Status.QUEUED if self.records.requeue(sample_id) else Status.COMPLETED
            if status == Status.QUEUED:
                again.append(sample_id)
            else:
                self._done(self.inputs[sample_id], status, "skipped")
        return again

    def _uploaded(self, items: list[Input], storage: Storage) -> list[Input]:
        """The items whose audio is in S3: S3 objects as they are, local files uploaded now."""
        present = []
        for item in items:
            try:
                if item.path is not None:
                    storage.upload_input(item.path, item.key)
                present.append(item)
            except JobError as exc:
                self.errors.append({"input": item.source, "error": exc.as_dict()})
        return present

    def _not_sent(self, item: Input, reason: str) -> None:
        message = f"sample {item.sample_id}: could not send the job: {reason}"
        try:
            self.records.fail(item.sample_id, {"code": ErrorCode.ENQUEUE_FAILED, "message": message})
        except RecordNotFound:  # never written: nothing is left QUEUED
            pass
        except Exception as exc:  # DynamoDB failing too: the record stays QUEUED until a re-run sends it
            message += f"; and could not mark its record FAILED: {_reason(exc)}"
        self._error(item, ErrorCode.ENQUEUE_FAILED, message)

    def _done(self, item: Input, status: str, action: str) -> None:
        self.submitted.append({"sample_id": item.sample_id, "input": item.source, "status": status,
                               "action": action})

    def _error(self, item: Input, code: ErrorCode, message: str) -> None:
        self.errors.append(_input_error(item, code, message))


def _input_error(item: Input, code: ErrorCode, message: str) -> dict:
    return {"input": item.source, "sample_id": item.sample_id, "error": {"code": code, "message": message}}


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def wait_for_final(records: SampleRecords, sample_ids: list[str], timeout_s: float,
                   on_final: Callable[[dict], None] = lambda record: None,
                   poll_s: float = 0.25) -> tuple[dict[str, dict], bool]:
    """Poll (100 records per BatchGetItem) until every sample is COMPLETED or FAILED, calling
    ``on_final`` as each gets there. Returns (final records by id, timed_out)."""
    finals: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = [sample_id for sample_id in sample_ids if sample_id not in finals]
        for sample_id, record in records.get_many(waiting).items():
            if record["status"] in FINAL_STATES:
                finals[sample_id] = record
                on_final(record)
        if len(finals) == len(sample_ids):
            return finals, False
        if time.monotonic() >= deadline:
            return finals, True
        time.sleep(poll_s)
