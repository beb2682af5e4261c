"""BASELINE, not our design: the hand-written consumer the Celery worker replaces, for comparison only.

``python -m benchmarks.baseline_consumer QUEUE_URL COUNT [--concurrency N] [--warmup W]``:
``N`` processes, each a boto3 loop that long-polls for one message, "processes" it (nothing)
and deletes it, until ``W + COUNT`` messages are done; prints ``start end`` as wall-clock
seconds, from the ``W``-th message done to the last.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

from audio_tasks import aws
from audio_tasks.settings import Settings


def _loop(queue_url: str, total: int, warmup: int, done, start, end) -> None:
    sqs = aws.client("sqs", Settings.from_env())
    while done.value < total:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                           WaitTimeSeconds=20).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            with done.get_lock():
                done.value += 1
                if done.value == warmup:
                    start.value = time.time()
                if done.value == total:
                    end.value = time.time()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue_url")
    parser.add_argument("count", type=int)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args()
    done, start, end = multiprocessing.Value("i", 0), multiprocessing.Value("d", time.time()), multiprocessing.Value("d", 0.0)
    total = args.warmup + args.count
    loops = [multiprocessing.Process(target=_loop, args=(args.queue_url, total, args.warmup, done, start, end))
             for _ in range(args.concurrency)]
    for loop in loops:
        loop.start()
    while done.value < total:
        time.sleep(0.05)
    for loop in loops:  # one may still be waiting in a long poll for a message that will not come
        loop.terminate()
        loop.join()
    print(f"{start.value:.6f} {end.value:.6f}")


if __name__ == "__main__":
    main()
