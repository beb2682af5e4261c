"""What happens to a job's message after each outcome — the one place that decides.

``RetryPolicy.next_delay`` answers for a transient failure: retry after N seconds (an SQS
``DelaySeconds`` on a new message, never an in-memory ETA: a countdown held by the worker
keeps the old message in flight and duplicates it once the visibility timeout expires)
or give up (``None``: the task shell records FAILED and moves the job to the DLQ).

The rest of the policy, for reference (applied where the outcome is known):

- success, or a permanent error (record FAILED with its reason): ack.
- a message that cannot become a job (undecodable, pickled, unknown task, bad arguments):
  never executed, released at once so SQS counts the receive and dead-letters it after
  ``maxReceiveCount`` (``audio_tasks.worker.consumer``).
- the worker process dies mid-job: not acked; SQS redelivers it, and on the delivery
  that reaches ``maxReceiveCount`` the record is marked FAILED (``worker_lost``) before
  SQS moves the message to the DLQ (``audio_tasks.worker.tasks.JobRequest``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from audio_tasks.settings import Settings

SQS_MAX_DELAY_SECONDS = 900


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_s: int
    max_delay_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(settings.max_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s)

    def next_delay(self, attempt: int, rng: random.Random | None = None) -> int | None:
        """Seconds before attempt ``attempt + 1`` after a transient failure, or None if exhausted.

        Exponential backoff with full jitter: uniform in [base, min(cap, base * 2**(attempt-1))].
        """
        if attempt >= self.max_attempts:
            return None
        cap = min(self.max_delay_s, SQS_MAX_DELAY_SECONDS, self.base_delay_s * 2 ** (attempt - 1))
        return round((rng or random).uniform(min(self.base_delay_s, cap), cap))
