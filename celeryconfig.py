"""Every Celery setting of audio_tasks, driven by environment variables.

Loaded by the app in ``audio_tasks/celery.py``; the variables are parsed and validated by
``audio_tasks.settings`` and listed in the README. Broker: Amazon SQS through kombu.
Locally ``AWS_ENDPOINT_URL`` points kombu and boto3 at the emulator; in production the
queue made by CloudFormation is given by ``SQS_QUEUE_URL`` as a predefined queue, so the
worker never creates queues.
"""

# Every module-level name without a leading underscore is a Celery setting.
from urllib.parse import quote as _quote
from urllib.parse import urlparse as _urlparse

from audio_tasks.settings import Settings as _Settings
from audio_tasks.settings import load as _load
from audio_tasks.worker.extensions import CONSUMER as _CONSUMER
from audio_tasks.worker.extensions import MONITORING_TRANSPORT as _MONITORING_TRANSPORT
from audio_tasks.worker.extensions import TRANSPORT as _TRANSPORT

_settings = _load()


def _broker_url(settings: _Settings) -> str:
    """``sqs://`` for AWS (IAM credentials); ``sqs://KEY:SECRET@host:port`` for an emulator."""
    if not settings.local:
        return "sqs://"
    from audio_tasks.aws import local_credentials

    endpoint = _urlparse(settings.endpoint_url)
    key, secret = local_credentials()
    port = f":{endpoint.port}" if endpoint.port else ""
    return f"sqs://{_quote(key, safe='')}:{_quote(secret, safe='')}@{endpoint.hostname}{port}"


def _transport_options(settings: _Settings) -> dict:
    options = {
        "region": settings.region,
        # Long polling with no client-side pause: a job starts within ~0.1 s of being
        # sent, and an idle worker makes one ReceiveMessage per 20 s (kombu's defaults,
        # 10 s + 1 s, measured ~12 s p50 start latency).
        "wait_time_seconds": settings.wait_time_seconds,
        "polling_interval": settings.polling_interval,
        # Equal to the queue's own VisibilityTimeout (900 s in CloudFormation).
        "visibility_timeout": settings.visibility_timeout,
        # Whose raw bodies are read as jobs in any of their shapes (audio_tasks.worker.job_reading).
        "job_queue": settings.queue_name,
    }
    if settings.local:
        options["is_secure"] = _urlparse(settings.endpoint_url).scheme == "https"
    if settings.queue_url:
        # The DLQ is listed so exhausted jobs can be published to it (audio_tasks.worker.tasks); the
        # worker consumes only the work queue. The worker refuses to start without SQS_DLQ_URL.
        options["predefined_queues"] = {settings.queue_name: {"url": settings.queue_url}}
        if settings.dlq_url:
            options["predefined_queues"][settings.dlq_name] = {"url": settings.dlq_url}
    return options


broker_url = _broker_url(_settings)
# kombu's SQS transport with the worker's changes (audio_tasks.worker.transport).
broker_transport = _TRANSPORT
broker_transport_options = _transport_options(_settings)
broker_connection_retry_on_startup = True
broker_connection_max_retries = 10

task_default_queue = _settings.queue_name
task_create_missing_queues = not bool(_settings.queue_url)

# JSON only: a pickled message is refused, never executed.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# At-least-once: ack after the job ran, hold one message per process at a time. A job
# whose pool process dies is not acked (SQS redelivers it, then dead-letters it after
# maxReceiveCount); neither is one that fails unexpectedly (an unclassified exception
# escaping the task shell), for the same reason. A job that ended FAILED raises JobFailed, a
# failure Flower shows, and is acked by audio_tasks.worker.request.JobRequest. Retry policy:
# audio_tasks.worker.retry_policy.
task_acks_late = True
worker_concurrency = _settings.worker_concurrency
worker_prefetch_multiplier = _settings.prefetch_multiplier
task_reject_on_worker_lost = True
task_acks_on_failure = False
task_acks_on_timeout = False
# The maximum job duration; the visibility heartbeat (audio_tasks.worker.heartbeat) keeps the
# message hidden until then, so these are independent of the visibility timeout.
task_soft_time_limit = _settings.task_soft_time_limit
task_time_limit = _settings.task_time_limit

# Bad messages are logged with their SQS id and dead-lettered, never run or dropped; this and
# everything else the worker adds to Celery is listed in audio_tasks.worker.extensions.
worker_consumer = _CONSUMER

# Outcomes live in the sample records (DynamoDB), not in a result backend.
task_ignore_result = True
result_backend = None

# Live monitoring (Flower). SQS supports neither events nor remote control out of the box;
# with MONITORING_ENABLED the transport extension in audio_tasks.monitoring.transport
# carries both over SNS fanout. The work queue stays predefined either way. Producers send
# no "task-sent" events (they would need SNS permissions for a field Flower can live without).
task_send_sent_event = False
worker_send_task_events = _settings.monitoring
worker_enable_remote_control = _settings.monitoring
if _settings.monitoring:
    broker_transport = _MONITORING_TRANSPORT
    broker_transport_options.update(supports_fanout=True, monitoring_prefix=_settings.monitoring_prefix)

worker_hijack_root_logger = False
worker_log_color = False
