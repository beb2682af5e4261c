"""BASELINE, not our design: the seed's minimal boto3 consumer, for comparison only.

``python -m benchmarks.baseline_consumer QUEUE_URL COUNT``: long-polls the queue,
"processes" each message (nothing) and deletes it, one by one, until COUNT messages
are done; prints ``first_receive last_delete`` as wall-clock seconds.
"""

from __future__ import annotations

import sys
import time

from audio_tasks import aws
from audio_tasks.settings import Settings


def main() -> None:
    queue_url, count = sys.argv[1], int(sys.argv[2])
    sqs = aws.client("sqs", Settings.from_env())
    done, first = 0, None
    while done < count:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=20).get("Messages", [])
        first = first or time.time()
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
    print(f"{first:.6f} {time.time():.6f}")


if __name__ == "__main__":
    main()
