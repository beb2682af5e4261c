"""What live monitoring costs: the SNS and SQS requests of an idle monitored worker and of Flower.

A monitored stack of its own (``MONITORING_ENABLED=true``): one worker started the
documented way (``celery -A audio_tasks worker``, no ``--heartbeat-interval``, so
``EVENT_HEARTBEAT_SECONDS`` decides, 10 s by default) and Flower (``audio-tasks flower``).
Once both have settled, every SNS and SQS request in a window is taken from the emulator's
request log and told apart by what it names: the events topic (the worker's heartbeat
publishes), the worker's pidbox queue (its remote control polls and lease renewals),
Flower's event and reply queues. Requests on the work queue are the service's own, not
monitoring's. Priced at us-east-1 list prices after the free tiers: SQS $0.40 and SNS
publishes $0.50 per million requests (SNS deliveries to SQS are free).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from audio_tasks.local_stack import LocalStack, StackOptions
from benchmarks.recorder import Recorder
from benchmarks.report import Row

SQS_USD, SNS_PUBLISH_USD = 0.40e-6, 0.50e-6
SETTLE_S = 10  # after Flower serves: its event queue subscribed, the worker's first heartbeats out


def idle_cost(work_dir: Path, window_s: float, poll_s: int) -> list[Row]:
    with LocalStack(work_dir / "logs-monitoring", StackOptions(monitoring=True, wait_time_seconds=poll_s)) as stack:
        stack.start_worker(name="worker")
        stack.start_flower()
        time.sleep(min(SETTLE_S, window_s))  # the smoke run's window is too short to need it all
        recorder = Recorder(stack.env["AWS_ENDPOINT_URL"])
        recorder.start()
        time.sleep(window_s)
        calls = recorder.stop()
        prefix = stack.settings.monitoring_prefix
    per_hour = 3600 / window_s
    by_whom = Counter(_whose(call, prefix) for call in calls)
    publishes, worker_sqs, flower_sqs = (by_whom[k] * per_hour for k in ("publish", "worker", "flower"))
    usd = publishes * SNS_PUBLISH_USD + (worker_sqs + flower_sqs) * SQS_USD
    actions = ", ".join(f"{action} {count}" for action, count in
                        Counter(c.action for c in calls if _whose(c, prefix)).most_common())
    return [
        Row("monitoring: SNS publishes per worker-hour", publishes, "", detail=(
            f"{window_s:.0f} s idle, one worker with the default EVENT_HEARTBEAT_SECONDS: {actions}")),
        Row("monitoring: SQS requests per worker-hour", worker_sqs + flower_sqs, "",
            detail=f"worker {worker_sqs:.0f}, Flower {flower_sqs:.0f}"),
        Row("monitoring: cost per idle worker-hour", usd * 1e6, "µUSD",
            detail=f"${usd:.5f} per worker-hour, ${usd * 730:.2f} per worker-month (730 h)"),
    ]


def _whose(call, prefix: str) -> str | None:
    """Whose monitoring request ``call`` is: the worker's publish, the worker's or Flower's SQS request.

    The worker's own queue is its pidbox (``<prefix><host>-celery-pidbox``); Flower's are its event
    queue and its reply queue (``<prefix><oid>-reply-celery-pidbox``). Only the worker publishes
    while idle: Flower's enable_events broadcasts are off and nobody inspects.
    """
    if not call.target.startswith(prefix):
        return None  # the work queue: not monitoring's
    if call.action == "Publish":
        return "publish"
    own_pidbox = call.target.endswith("-celery-pidbox") and not call.target.endswith("-reply-celery-pidbox")
    return "worker" if own_pidbox else "flower"
