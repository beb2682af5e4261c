"""Handing a job to what runs it, by ``DISPATCH_MODE``: the work queue, or one Fargate task per sample.

``service`` (the default): ``process_sample`` goes to the work queue, where the worker
service picks it up. ``run-task`` (the rollback path, chosen by the stack's
``DispatchMode``): ``ecs:RunTask`` starts one task of the worker's task definition with
``PROCESSING_MODE=task`` and the sample in its environment (``audio_tasks.worker.oneshot``),
while the service is scaled to 0. A dispatcher's ``via`` is recorded in the sample record
(``dispatched_via``), so the reconciler knows what to expect. ``audio-tasks submit`` sends
in batches to the queue (``producer.job_batches``), but under ``run-task`` hands its jobs
over here one at a time (``OneAtATime``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings

log = logging.getLogger(__name__)

CONTAINER = "worker"  # the task definition's container


class DispatchFailed(Exception):
    """The job could not be handed over; the text says why."""


class QueueDispatch:
    via = "sqs"
    options_refusal = None  # it takes job options

    def __call__(self, job: JobArguments) -> None:
        from audio_tasks.worker.tasks import process_sample  # imports Celery: kept out of module import

        try:
            args, kwargs = job.call()
            process_sample.apply_async(args=args, kwargs=kwargs, retry=True,
                                       retry_policy={"max_retries": 3, "interval_start": 0.2,
                                                     "interval_step": 0.5, "interval_max": 2})
        except Exception as exc:
            raise DispatchFailed(f"{type(exc).__name__}: {exc}") from exc


class RunTaskDispatch:
    via = "run-task"
    # PROCESSING_MODE=task reads no options: a job with some is refused rather than dropped
    options_refusal = "a one-off task (DispatchMode=run-task) takes no job options"

    def __init__(self, settings: Settings, ecs=None):
        self.target = settings.dispatch
        self.ecs = ecs or aws.client("ecs", settings)

    def __call__(self, job: JobArguments) -> str:
        """Start the job's task; returns its ARN."""
        if job.options:
            raise DispatchFailed(self.options_refusal)
        environment = {"PROCESSING_MODE": "task", "SAMPLE_ID": job.sample_id, "S3_BUCKET": job.bucket,
                       "S3_KEY": job.key}
        try:
            response = self.ecs.run_task(
                cluster=self.target.cluster, taskDefinition=self.target.task_definition, launchType="FARGATE",
                count=1, startedBy="audio-tasks-dispatch",
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": list(self.target.subnets), "securityGroups": list(self.target.security_groups),
                    "assignPublicIp": "DISABLED"}},
                overrides={"containerOverrides": [{"name": CONTAINER, "environment": [
                    {"name": name, "value": value} for name, value in environment.items()]}]})
        except Exception as exc:
            raise DispatchFailed(f"RunTask: {type(exc).__name__}: {exc}") from exc
        if response.get("failures") or not response.get("tasks"):
            reasons = "; ".join(f"{f.get('reason')} {f.get('detail') or ''}".strip()
                                for f in response.get("failures") or [])
            raise DispatchFailed(f"RunTask started no task: {reasons or 'no reason given'}")
        return response["tasks"][0]["taskArn"]


Dispatcher = QueueDispatch | RunTaskDispatch


@lru_cache(maxsize=4)
def dispatcher(settings: Settings) -> Dispatcher:
    """The dispatcher ``settings`` ask for, made once per process (a Lambda container)."""
    return RunTaskDispatch(settings) if settings.dispatch.mode == RunTaskDispatch.via else QueueDispatch()


def hand_over(records: SampleRecords, job: JobArguments, dispatch: Dispatcher) -> None:
    """Dispatch ``job`` (DispatchFailed if it could not be), then note it in the record. A note that
    cannot be written only means the reconciler may dispatch the job again: a harmless duplicate."""
    dispatch(job)
    try:
        records.mark_dispatched(job.sample_id, dispatch.via)
    except (BotoCoreError, ClientError) as exc:
        log.warning("dispatched, but could not note it in the record: %s", exc)


class OneAtATime:
    """``audio-tasks submit``'s jobs under ``run-task``: ``hand_over`` each in turn (one RunTask call gives
    every task it starts the same overrides, and each job needs its own environment); the interface of
    ``producer.job_batches.JobBatches``."""

    def __init__(self, records: SampleRecords, dispatch: Dispatcher):
        self.records, self.dispatch = records, dispatch

    @contextmanager
    def open(self) -> Iterator["OneAtATime"]:
        yield self

    def send(self, jobs: list[JobArguments]) -> dict[str, str]:
        """Dispatch ``jobs``; returns {sample_id: reason} for those that could not be."""
        not_sent = {}
        for job in jobs:
            try:
                hand_over(self.records, job, self.dispatch)
            except DispatchFailed as exc:
                not_sent[job.sample_id] = str(exc)
        return not_sent
