"""BASELINE, not our design: the fastest way to put jobs on the queue, for comparison with ``audio-tasks submit``.

``python -m benchmarks.raw_send BUCKET PREFIX COUNT``: makes the very messages ``submit``
would send for ``COUNT`` objects under ``s3://BUCKET/PREFIX`` (untimed; no record is
written), then sends them with a plain ``send_message_batch`` loop, 10 a request, one after
another, to ``SQS_QUEUE_URL``; prints the seconds the loop took.
"""

from __future__ import annotations

import sys
import time
import uuid

from audio_tasks import aws
from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings
from producer.job_batches import JobBatches


def main() -> None:
    bucket, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = Settings.from_env()
    with JobBatches(settings).open() as jobs:
        messages = [jobs.message(JobArguments(str(uuid.uuid4()), bucket, f"{prefix}{n:05d}.wav"))
                    for n in range(count)]
    sqs = aws.client("sqs", settings)
    began = time.perf_counter()
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=settings.queue_url, Entries=[
            {"Id": str(number), **{k: v for k, v in message.items() if k != "QueueUrl"}}
            for number, message in enumerate(messages[start:start + 10])])
    print(f"{time.perf_counter() - began:.6f}")


if __name__ == "__main__":
    main()
