"""``audio-tasks reconcile``, and the scheduled Lambda that runs it: no sample is left unfinished for good.

A record can be left QUEUED or PROCESSING with nothing left to move it on. Each such
record is found here and settled:

- its message is in the dead-letter queue (its worker died, main process and all, on
  the last delivery): FAILED ``dead_lettered`` — ``audio-tasks dlq redrive`` retries it;
- PROCESSING, unchanged for longer than ``TASK_TIME_LIMIT`` + ``SQS_VISIBILITY_TIMEOUT``
  + ``RECONCILE_GRACE_SECONDS`` (5400 s by default): it cannot still be running, and a
  redelivery would have touched it — its message is gone (or a one-off task died):
  dispatched again;
- QUEUED and never dispatched for ``RECONCILE_GRACE_SECONDS`` (900 s): its producer died
  between writing the record and sending the job: dispatched;
- QUEUED since a RunTask dispatch for ``RECONCILE_GRACE_SECONDS``: the task never started
  the job, or a transient failure put it back: dispatched again.

A record is dispatched again at most ``MAX_REDISPATCHES`` times, then FAILED ``stranded``.
Every write is conditional on the record being as it was read (status and
``updated_at``): a worker that moves it meanwhile wins, and the reconciler leaves it be.
QUEUED records dispatched to the queue are never touched: they wait for a worker, however
long the backlog (and, in ``run-task`` mode, for the service to come back).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import lru_cache

from audio_tasks import logs
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from audio_tasks.errors import PermanentError
from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode, Status
from producer.dispatch import DispatchFailed, RunTaskDispatch, dispatcher, hand_over
from producer.dlq import DeadLetters

MAX_REDISPATCHES = 2

log = logging.getLogger("producer.reconcile")


@dataclass(frozen=True)
class Finding:
    """A record that could not finish, and what was done: ``failed``, ``dispatched``, ``left`` (it
    changed meanwhile), ``not dispatched`` (tried again next time); ``would …`` in a dry run."""

    sample_id: str
    status: str
    action: str
    reason: str
    code: str | None = None


@dataclass(frozen=True)
class Verdict:
    fail: ErrorCode | None  # None: dispatch it again
    reason: str


def verdict(record: dict, dead_letter: dict | None, now: datetime, settings: Settings) -> Verdict | None:
    """What to do with a non-final ``record`` (``dead_letter``: its DLQ message described, if any)."""
    if dead_letter is not None:
        return Verdict(ErrorCode.DEAD_LETTERED, f"its message {dead_letter['message_id']} is in the dead-letter "
                                                f"queue after {dead_letter['receive_count']} receives")
    age = (now - datetime.fromisoformat(record["updated_at"])).total_seconds()
    processing_s = settings.task_time_limit + settings.visibility_timeout + settings.reconcile_grace_s
    grace = settings.reconcile_grace_s
    if record["status"] == Status.PROCESSING and age > processing_s:
        reason = f"PROCESSING for {age:.0f} s, longer than a job can run and be redelivered ({processing_s} s)"
    elif record["status"] == Status.QUEUED and "dispatched_at" not in record and age > grace:
        reason = f"QUEUED for {age:.0f} s and never dispatched"
    elif record["status"] == Status.QUEUED and record.get("dispatched_via") == RunTaskDispatch.via and age > grace:
        reason = f"QUEUED for {age:.0f} s since its task was started, which never ran it"
    else:
        return None
    if record.get("redispatches", 0) >= MAX_REDISPATCHES:
        return Verdict(ErrorCode.STRANDED, f"{reason}; already dispatched again {MAX_REDISPATCHES} times")
    return Verdict(None, reason)


class Reconciler:
    def __init__(self, settings: Settings, records: SampleRecords | None = None):
        self.settings = settings
        self.records = records or SampleRecords(settings)

    def run(self, dry_run: bool = False, now: datetime | None = None) -> list[Finding]:
        """Find and settle every record that cannot finish (see the module docstring)."""
        now = now or datetime.now(timezone.utc)
        with DeadLetters(self.settings) as dlq:
            dead = {info["sample_id"]: info for _, info in dlq.messages if info["sample_id"] and not info["problem"]}
            findings = []
            for record in self.records.unfinished():
                found = verdict(record, dead.get(record["sample_id"]), now, self.settings)
                if found is not None:
                    findings.append(self._settle(record, found, dry_run))
        return findings

    def _settle(self, record: dict, found: Verdict, dry_run: bool) -> Finding:
        sample_id = record["sample_id"]
        with logs.job_context(sample_id, None):
            if dry_run:
                action = "would fail" if found.fail else "would dispatch"
            else:
                action = self._fail(record, found) if found.fail else self._dispatch(record)
            details = {"error": {"code": found.fail, "message": found.reason}} if found.fail else {}
            log.warning("%s (was %s): %s", action, record["status"], found.reason,
                        extra={"event": "reconciled", **details})
        return Finding(sample_id, record["status"], action, found.reason, found.fail)

    def _fail(self, record: dict, found: Verdict) -> str:
        error = {"code": found.fail, "message": found.reason}
        return "failed" if self.records.fail(record["sample_id"], error, seen=record) else "left"

    def _dispatch(self, record: dict) -> str:
        try:
            bucket, key = parse_s3_uri(record["input_uri"])
        except PermanentError as error:  # no job can be made of it: fail it rather than claim it each run
            return "failed" if self.records.fail(record["sample_id"], error.as_dict(), seen=record) else "left"
        if self.records.redispatch(record) is None:
            return "left"
        try:
            hand_over(self.records, JobArguments(record["sample_id"], bucket, key), dispatcher(self.settings))
        except DispatchFailed as exc:  # it stays QUEUED, not dispatched: the next run tries again
            log.error("could not dispatch the job again: %s", exc)
            return "not dispatched"
        return "dispatched"


# -- entrances ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _settings() -> Settings:
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return settings


def handler(event, context=None) -> dict:
    """The scheduled Lambda (``producer.reconcile.handler``): one run; returns the count per action."""
    findings = Reconciler(_settings()).run()
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.action] = counts.get(finding.action, 0) + 1
    return {"found": len(findings), **counts}


def add_parser(commands) -> None:
    parser = commands.add_parser("reconcile", help="settle samples that can no longer finish (see the README)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    parser.add_argument("--json", action="store_true", help="one JSON object per sample")
    parser.set_defaults(command=_command)


def _command(args) -> int:
    findings = Reconciler(Settings.from_env()).run(dry_run=args.dry_run)
    for finding in findings:
        print(json.dumps(asdict(finding), sort_keys=True) if args.json else
              f"{finding.sample_id}  {finding.status:<10} {finding.action}: {finding.reason}")
    print(f"{len(findings)} sample(s) could not finish", file=sys.stderr)
    return 1 if any(f.action == "not dispatched" for f in findings) else 0
