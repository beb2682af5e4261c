"""The worker's SQS channel with kombu's queue path fixed: no 1 s stalls, deletes in batches.

Three things in kombu 5.7's SQS channel cost a worker latency, throughput and requests
(measured against the emulator; the write-up for upstream is
``docs/upstream/kombu-sqs-poll-stalls.md``):

- **Polls that start up to 1 s late.** Once every prefetch slot is taken, kombu re-checks
  by re-scheduling its poll with ``hub.call_soon``. A callback the event loop adds to itself
  while it runs its ready callbacks or its timers waits for the loop's next poll timeout
  (up to 1 s), so the first poll after an ack often started ~1 s late: one job in twenty
  sent to an idle worker started ~1 s after it was sent (p99 ≈ 1 s). Here a channel with
  no free slot schedules nothing; the ack, reject or QoS change that frees one schedules
  the next receive as a timer due at once, which the loop runs before it sleeps. A queue
  left without a receive in flight is also re-checked every second, so no unforeseen path
  can stall it.
- **One receive at a time.** kombu asks for the slots free when it issues a receive; a
  slot freed while that receive is in flight waits for it to return. Here a receive asks
  for the free slots not already asked for by receives in flight, and may go beside them:
  never more messages than free slots, and no slot idle for a round trip.
- **One blocking DeleteMessage per job** in the event loop. Here an ack frees its prefetch
  slot at once and hands the delete to ``BatchedDeletes`` (DeleteMessageBatch from a thread
  of its own). Acks-late semantics are kept: Celery acks only once a job has ended with its
  record final, and a worker that dies before the batch is sent leaves the message to SQS,
  which redelivers it; the job then finds its record final and does nothing. A message of a
  no-ack queue (the monitoring transport's event and control queues) is not acked: kombu
  deletes it as it is received, as before.

``audio_tasks.worker.transport`` composes this channel with the job reading.
"""

from __future__ import annotations

import itertools
import logging
import time

from kombu.transport import SQS as sqs
from kombu.transport import virtual
from vine import promise

from audio_tasks.worker.batched_deletes import BatchedDeletes

log = logging.getLogger(__name__)

RECHECK_S = 1.0  # kombu's own worst case, kept as a safety net for a queue left without a receive
STALE_RECEIVE_S = 120.0  # no receive outlives this (20 s long poll, kombu's 20 s timeouts): count it lost


class QueuePathChannel(sqs.Channel):
    """kombu's SQS channel with receives sized to free slots and batched deletes (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        self._receives: dict[int, tuple[str, int, float]] = {}  # in flight: id => (queue, asked for, started)
        self._receive_ids = itertools.count()
        super().__init__(*args, **kwargs)
        self._deletes = BatchedDeletes(self._client_for)
        self._recheck = self.hub.call_repeatedly(RECHECK_S, self._recheck_room) if self.hub else None

    # -- receives: as many messages as there are free slots, never more ---------------
    def _schedule_queue(self, queue):
        if self.closed:
            return
        room = min(self._room(), sqs.SQS_MAX_MESSAGES)
        if queue not in self._active_queues or room <= 0:
            return  # an ack or reject that frees a slot schedules it again
        receive = next(self._receive_ids)
        self._receives[receive] = (queue, room, time.monotonic())
        self._get_async(queue, room, callback=promise(self._received, (queue, receive)))

    def _room(self) -> int:
        """Messages this channel may still ask for: free prefetch slots minus those receives in flight asked for."""
        free = self.qos.can_consume_max_estimate()
        return (sqs.SQS_MAX_MESSAGES if free is None else free) - sum(n for _, n, _ in self._receives.values())

    def _received(self, queue, receive, count=0):
        self._receives.pop(receive, None)
        if self.closed:
            return
        if count:
            self.hub.call_later(0, self._schedule_queue, queue)
        elif not self._receiving(queue):  # an empty long poll: the queue's last receive polls again
            self.hub.call_later(self.connection.polling_interval or 0, self._schedule_queue, queue)

    def _on_messages_ready(self, queue, qname, messages):
        """kombu's, one message at a time, and none once this channel is closed.

        kombu's list-parser answers a timed-out or failed receive with [] instead of a response.
        Celery closes a consumer's channel when it resets it (its remote control met a body it
        could not read), maybe while a receive of it is in flight or while it delivers the
        receive's first messages; kombu then reads the rest with no connection left and ends the
        worker. The messages not delivered are left to SQS, which delivers them again once their
        visibility timeout ends.
        """
        delivered = 0
        for message in messages.get("Messages") or [] if isinstance(messages, dict) else []:
            if self.closed:
                break
            delivered += super()._on_messages_ready(queue, qname, {"Messages": [message]})
        return delivered

    def _receiving(self, queue) -> bool:
        return any(q == queue for q, _, _ in self._receives.values())

    def _on_room(self):
        """A slot was freed: every consumed queue may receive into it, beside any receive in flight."""
        if self.hub is not None:
            self._schedule(self._active_queues)

    def _recheck_room(self):
        """The safety net: forget receives that never completed, poll queues left without one."""
        now = time.monotonic()
        for receive, (queue, _, started) in list(self._receives.items()):
            if now - started > STALE_RECEIVE_S:
                log.warning("a receive from %s never completed; polling it again", queue)
                del self._receives[receive]
        self._schedule([queue for queue in self._active_queues if not self._receiving(queue)])

    def _schedule(self, queues):
        if self._room() > 0:
            for queue in queues:
                self.hub.call_later(0, self._schedule_queue, queue)

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)
        self._on_room()

    def basic_qos(self, *args, **kwargs):
        super().basic_qos(*args, **kwargs)
        self._on_room()

    # -- acks: the slot freed at once, the delete batched ---------------------------
    def basic_ack(self, delivery_tag, multiple=False):
        try:
            info = self.qos.get(delivery_tag).delivery_info
            queue_url, receipt = info["sqs_queue"], info["sqs_message"]["ReceiptHandle"]
        except KeyError:  # not an SQS delivery: kombu's own path
            return super().basic_ack(delivery_tag, multiple)
        virtual.Channel.basic_ack(self, delivery_tag, multiple)  # kombu's SQS ack minus its blocking delete
        self._deletes.add(queue_url, receipt)
        self._on_room()

    def _client_for(self, queue_url: str):
        """The blocking client kombu uses for the queue at ``queue_url`` (a predefined queue has its own)."""
        name = next((name for name, queue in self.predefined_queues.items() if queue["url"] == queue_url), None)
        return self.sqs(queue=name)

    def close(self):
        self._deletes.close()
        if self._recheck is not None:
            self._recheck.cancel()
        super().close()

