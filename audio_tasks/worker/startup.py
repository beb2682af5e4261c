"""A worker's start: JSON logging, its context, and checks that fail fast with one line.

Run from Celery's signals (listed in ``audio_tasks.worker.extensions``). A queue that does not
exist or may not be used, or a missing ``SQS_DLQ_URL`` in production, stops the worker at
once with one JSON line and exit code 78 (``EX_CONFIG``); an endpoint that does not answer,
with 69 (``EX_UNAVAILABLE``) — rather than a worker that retries forever.
"""

from __future__ import annotations

import logging
import os
import sys

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from audio_tasks import aws, logs, settings
from audio_tasks.worker.context import open_context

log = logging.getLogger(__name__)
_FAST = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})


def configure_logging(loglevel=None, **_) -> None:
    """One JSON object per line, at the more verbose of ``--loglevel`` and ``LOG_LEVEL``."""
    configured = logging.getLevelName(settings.load().log_level)
    logs.configure(min(configured, loglevel) if isinstance(loglevel, int) else configured)


def start(**_) -> None:
    """Make the main process's context and check its queues (``worker_init``)."""
    context = open_context()
    _check_queue(context.settings)
    if context.settings.queue_url and not context.settings.dlq_url:
        _refuse("SQS_DLQ_URL is not set: the worker moves jobs whose retries are exhausted to the work "
                "queue's dead-letter queue")
    if context.max_receive_count is None:
        log.warning("the work queue has no redrive policy: a job that kills its worker is redelivered forever")


def _check_queue(worker_settings) -> None:
    sqs = aws.client("sqs", worker_settings, _FAST)
    where = worker_settings.endpoint_url or f"SQS in {worker_settings.region}"
    try:
        if worker_settings.queue_url:
            sqs.get_queue_attributes(QueueUrl=worker_settings.queue_url, AttributeNames=["QueueArn"])
        else:
            sqs.get_queue_url(QueueName=worker_settings.queue_name)
    except ClientError as exc:
        variable = "SQS_QUEUE_URL" if worker_settings.queue_url else "SQS_QUEUE_NAME"
        code = exc.response.get("Error", {}).get("Code", "error")
        _refuse(f"the queue named by {variable} is not usable at {where}: {code}")
    except BotoCoreError as exc:
        variable = "AWS_ENDPOINT_URL" if worker_settings.local else "AWS_REGION"
        _refuse(f"cannot reach SQS ({variable}={where}): {exc}", os.EX_UNAVAILABLE)


def _refuse(reason: str, exit_code: int = os.EX_CONFIG) -> None:
    print(logs.error_line(__name__, f"configuration error: {reason}", event="configuration_error"),
          file=sys.stderr, flush=True)
    raise SystemExit(exit_code)
