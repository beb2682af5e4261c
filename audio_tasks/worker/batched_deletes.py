"""Deletes of acked SQS messages, sent in batches by a thread of their own.

kombu deletes each acked message with a blocking DeleteMessage in the worker's event loop:
one request per job, and the loop waits for it before it can poll again. ``BatchedDeletes``
takes the (queue URL, receipt handle) of each acked message and a thread sends them as
``DeleteMessageBatch`` requests of up to 10 per queue: a batch waits at most ``linger_s``
for more acks to join it (at load, batches fill up; an idle worker's one ack is deleted
``linger_s`` later). ``close()`` sends whatever is pending and stops the thread.

A delete that fails is logged: SQS redelivers that message once its visibility timeout
expires, and the job finds its record final and does nothing (every job is idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Callable

log = logging.getLogger(__name__)

BATCH_MAX = 10  # SQS's limit per DeleteMessageBatch

#: ``client_for(queue_url)``: the boto3 SQS client that may delete from that queue.
ClientFor = Callable[[str], object]


class BatchedDeletes:
    """Parameters: ``client_for`` picks the client per queue; ``linger_s`` bounds how long an
    acked message waits for its batch to fill."""

    def __init__(self, client_for: ClientFor, linger_s: float = 0.5):
        self._client_for = client_for
        self._linger_s = linger_s
        self._pending: dict[str, list[str]] = defaultdict(list)  # queue URL => receipt handles
        self._first_at: float | None = None  # when the oldest pending ack arrived
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, queue_url: str, receipt_handle: str) -> None:
        """Queue one acked message for deletion (called by the event loop; never waits for SQS)."""
        with self._changed:
            closed = self._closed
            if not closed:
                self._pending[queue_url].append(receipt_handle)
                self._first_at = self._first_at or time.monotonic()
                self._changed.notify()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="sqs-batched-deletes", daemon=True)
                    self._thread.start()
        if closed:  # an ack that comes after close(): deleted here and now
            self._send(queue_url, [receipt_handle])

    def close(self, timeout_s: float = 10.0) -> None:
        """Send every pending delete now and stop the thread (at most ``timeout_s``)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._batch_ready():
                    self._changed.wait(self._time_left())
                pending, self._pending, self._first_at = self._pending, defaultdict(list), None
                done = self._closed
            for queue_url, receipts in pending.items():
                for start in range(0, len(receipts), BATCH_MAX):
                    self._send(queue_url, receipts[start:start + BATCH_MAX])
            if done:
                return

    def _batch_ready(self) -> bool:
        if self._closed:
            return True
        if self._first_at is None:
            return False
        full = any(len(receipts) >= BATCH_MAX for receipts in self._pending.values())
        return full or time.monotonic() - self._first_at >= self._linger_s

    def _time_left(self) -> float | None:
        return None if self._first_at is None else max(0.0, self._first_at + self._linger_s - time.monotonic())

    def _send(self, queue_url: str, receipts: list[str]) -> None:
        entries = [{"Id": str(number), "ReceiptHandle": receipt} for number, receipt in enumerate(receipts)]
        try:
            failed = self._client_for(queue_url).delete_message_batch(QueueUrl=queue_url,
                                                                      Entries=entries).get("Failed", [])
        except Exception as exc:
            log.warning("could not delete %d acked message(s) from %s; SQS will redeliver them: %s",
                        len(entries), queue_url, exc)
            return
        for entry in failed:
            log.warning("could not delete an acked message from %s; SQS will redeliver it: %s %s",
                        queue_url, entry.get("Code"), entry.get("Message"))
