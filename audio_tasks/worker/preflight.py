"""Start-up checks that turn an unreachable or missing queue into one clear line."""

from __future__ import annotations

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from audio_tasks import aws
from audio_tasks.settings import Settings

_FAST = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})


def check_queue(settings: Settings) -> None:
    """Raise SystemExit naming the setting at fault if the work queue is unusable."""
    sqs = aws.client("sqs", settings, _FAST)
    where = settings.endpoint_url or f"SQS in {settings.region}"
    try:
        if settings.queue_url:
            sqs.get_queue_attributes(QueueUrl=settings.queue_url, AttributeNames=["QueueArn"])
        else:
            sqs.get_queue_url(QueueName=settings.queue_name)
    except ClientError as exc:
        variable = "SQS_QUEUE_URL" if settings.queue_url else "SQS_QUEUE_NAME"
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SystemExit(f"audio_tasks: the queue named by {variable} is not usable at {where}: {code}") from None
    except BotoCoreError as exc:
        variable = "AWS_ENDPOINT_URL" if settings.local else "AWS_REGION"
        raise SystemExit(f"audio_tasks: cannot reach SQS ({variable}={where}): {exc}") from None
