"""The retry policy's arithmetic: bounded attempts, exponential backoff with jitter, SQS's cap."""

import random

from audio_tasks.worker.retry_policy import RetryPolicy


def test_attempts_are_bounded():
    policy = RetryPolicy(max_attempts=3, base_delay_s=10, max_delay_s=900)
    assert policy.next_delay(1) is not None and policy.next_delay(2) is not None
    assert policy.next_delay(3) is None and policy.next_delay(7) is None


def test_backoff_grows_exponentially_with_jitter_and_never_exceeds_what_sqs_can_delay():
    policy = RetryPolicy(max_attempts=20, base_delay_s=10, max_delay_s=900)
    rng = random.Random(4)
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (6, 320), (7, 640), (8, 900), (15, 900)):
        delays = {policy.next_delay(attempt, rng) for _ in range(200)}
        assert min(delays) >= 10 and max(delays) <= ceiling
        if ceiling > 10:
            assert len(delays) > 1  # jittered, so retries of many jobs do not stampede together
    assert RetryPolicy(20, 10, 2000).next_delay(10) <= 900
