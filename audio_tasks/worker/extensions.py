"""Everything audio_tasks adds to a Celery worker, in one list: read it to know what runs around a job.

Only Celery's own extension points are used — bootsteps, the consumer class, the task's
request class, signals — so an upgrade stays cheap. Entries are ``module:name`` strings,
loaded by the worker when it starts (producers that import the app load none of them);
each module's docstring says what it does and why.
"""

from __future__ import annotations

from celery import signals
from kombu.utils.imports import symbol_by_name

#: Bootsteps of the worker's main process.
WORKER_STEPS = (
    "audio_tasks.worker.curl_timer:CurlTimerFix",  # kombu's curl timer in ms, not s: polls start at once
    "audio_tasks.worker.heartbeat:Heartbeat",  # a running job's message stays hidden until the job ends
    "audio_tasks.worker.protection:TaskProtection",  # ECS does not stop the task while a job runs
    "audio_tasks.worker.shutdown:GracefulShutdown",  # SIGTERM: stop polling, hand jobs over, bound running ones
)

#: Bootsteps of the worker's consumer.
CONSUMER_STEPS = (
    "audio_tasks.worker.liveness:Liveness",  # the container health check's file, touched by the event loop
)

#: The broker transport (celeryconfig's ``broker_transport``): kombu's SQS transport reading the work
#: queue's raw bodies — Celery envelopes, plain JSON jobs, S3 notifications — so that only well-formed
#: jobs reach Celery, whose polls resume the moment an ack frees a pool slot (kombu's could start ~1 s
#: late) and whose deletes go out in batches. With MONITORING_ENABLED, ``MONITORING_TRANSPORT`` (a
#: subclass of it) instead.
TRANSPORT = "audio_tasks.worker.transport:Transport"
MONITORING_TRANSPORT = "audio_tasks.monitoring.transport:Transport"

#: The consumer class (celeryconfig's ``worker_consumer``): a message that cannot be a job is
#: logged with its SQS id and dead-lettered, never run or dropped; S3's test event is acked.
CONSUMER = "audio_tasks.worker.consumer:Consumer"

#: ``process_sample``'s request class: argument checks, lost workers and the hard time limit recorded.
REQUEST = "audio_tasks.worker.request:JobRequest"

#: Signal handlers, in the order a worker meets them.
SIGNAL_HANDLERS = (
    (signals.setup_logging, "audio_tasks.worker.startup:configure_logging"),  # one JSON object per line
    (signals.worker_init, "audio_tasks.worker.startup:start"),  # the process's context; fail fast on bad queues
    (signals.worker_process_init, "audio_tasks.worker.context:open_context"),  # fresh clients per pool process
    (signals.worker_process_init, "audio_tasks.worker.hygiene:start_pool_process"),  # dead processes' files go
)


def install(app) -> None:
    """Add the steps and signal handlers above to ``app``."""
    app.steps["worker"].update(WORKER_STEPS)
    app.steps["consumer"].update(CONSUMER_STEPS)
    for signal, handler in SIGNAL_HANDLERS:
        signal.connect(_deferred(handler), weak=False, dispatch_uid=handler)


def _deferred(handler: str):
    def receive(**kwargs):
        return symbol_by_name(handler)(**kwargs)
    return receive
