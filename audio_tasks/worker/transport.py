"""The worker's SQS transport: kombu's, with each thing the worker changes in a channel class of its own.

- ``audio_tasks.worker.job_reading``: the work queue's raw bodies — Celery envelopes, plain
  JSON jobs, S3 notifications — read so that only well-formed jobs reach Celery.
- ``audio_tasks.worker.queue_path``: receives sized to free prefetch slots and issued the
  moment an ack frees one (kombu's could start ~1 s late), deletes of acked messages sent
  in batches.

The two override disjoint kombu methods (``_message_to_python``; the receive scheduling and
``basic_ack``), so their order in ``Channel`` does not matter. ``celeryconfig`` selects
this transport (``audio_tasks.worker.extensions.TRANSPORT``); the monitoring transport
extends it. The private kombu names the channels override are pinned in
``tests/test_upstream_fences.py``.
"""

from __future__ import annotations

from kombu.transport import SQS as sqs

from audio_tasks.worker.job_reading import JobReadingChannel
from audio_tasks.worker.queue_path import QueuePathChannel


class Channel(JobReadingChannel, QueuePathChannel):
    """kombu's SQS channel with the worker's changes (see the module docstring)."""


class Transport(sqs.Transport):
    """kombu's SQS transport with the ``Channel`` above."""

    Channel = Channel
