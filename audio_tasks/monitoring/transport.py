"""The worker's SQS transport, extended so Celery events and remote control work on SQS.

Selected by ``broker_transport`` in ``celeryconfig`` only when ``MONITORING_ENABLED`` is
true; with monitoring off this module is never imported. It extends the worker's own
transport (``audio_tasks.worker.transport``: the work queue's bodies read safely, the queue
path fixed), which extends kombu's. kombu 5.7 delivers fanout
exchanges through SNS topics (each subscribed SQS queue gets a copy); on top of that:

- **Events**: the events exchange (``celeryev``) is a fanout exchange here, as Celery
  makes it for Redis (``celery.events.event.get_exchange``). As a topic exchange its
  bindings live only in each receiver's memory, so a worker's events went nowhere.
- **Remote control**: fanout is on (kombu's ``supports_fanout`` transport option, set in
  ``celeryconfig``), so workers start their pidbox; broadcasts go over SNS. A reply published to ``reply.<app>.pidbox`` with routing key
  ``oid`` goes to the caller's queue ``<oid>.reply.<app>.pidbox`` (kombu's naming rule):
  the binding is in the caller's memory, not the replying worker's.
- **Beside predefined queues**: the work queue and DLQ stay ``predefined_queues`` (never
  created); event, pidbox and reply queues ("monitoring queues") are created on demand,
  and they and the SNS topics are named ``<monitoring_prefix><name>`` so IAM can scope
  them by that prefix.
- **No event loop**: where there is no kombu event loop (Flower's event thread,
  ``celery inspect``) no-ack messages are deleted with the blocking client.
- **Encrypted topics**: each SNS topic this transport creates is set to SNS's AWS-managed
  key (``alias/aws/sns``) right after CreateTopic, which kombu calls without it; SNS
  itself can use that key for every principal of the account, so no key policy is kept.
- **Ownership**: a monitoring queue carries a lease tag, renewed while its process polls; the
  queues a process consumes are deleted with their SNS subscriptions when it exits
  cleanly, and ``audio_tasks.monitoring.janitor`` deletes those whose lease ran out.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import re
import threading
import time
from functools import cached_property
from typing import Callable

from botocore.exceptions import ClientError
from kombu.transport import SQS as sqs
from kombu.transport.SQS.SNS import SNS as SnsFanout
from kombu.transport.SQS.exceptions import DoesNotExistQueueException

from audio_tasks.worker import transport as job_transport

log = logging.getLogger(__name__)

LEASE_TAG = "audio-tasks-lease-until"  # epoch seconds after which the janitor may delete the queue
LEASE_S = 300
LEASE_RENEW_S = 100  # polling renews the lease this often
RETENTION_S = 300  # events older than a lease are of no use to anyone
EVENTS = "celeryev"  # Celery's event_exchange and event_queue_prefix
_REPLY_EXCHANGE = re.compile(r"reply\..+\.pidbox")
_REPLY_QUEUE = re.compile(r"[^.]+\.reply\..+\.pidbox")
_MAX_NAME = 80  # SQS queue / SNS topic name limit
_QUEUE_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
TOPIC_KMS_KEY = "alias/aws/sns"



def monitoring_name(prefix: str, name: str) -> str:
    """The SQS/SNS name of a monitoring queue or exchange: prefixed, SQS-safe, at most 80 characters."""
    full = prefix + name.translate(sqs.CHARS_REPLACE_TABLE)
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha1(full.encode()).hexdigest()[:12]  # long host names: unique and within the limit
    return f"{full[:_MAX_NAME - 13]}-{digest}"


class _OwnedQueues:
    """The monitoring queues this process consumes: leased while it polls any of them, deleted at exit.

    Renewing them all together keeps an idle reply queue (polled only during a control call)
    alive as long as its process polls anything, e.g. Flower's event queue.
    """

    def __init__(self):
        self._queues: dict[str, tuple[str, object, Callable[[], None]]] = {}  # name => (url, client, drop)
        self._renewed = float("-inf")
        self._lock = threading.Lock()
        self.exiting = threading.Event()

    def add(self, name: str, url: str, client, drop: Callable[[], None]) -> None:
        self._queues[name] = (url, client, drop)

    def forget(self, name: str) -> None:
        self._queues.pop(name, None)

    def renew_leases(self) -> None:
        with self._lock:
            if time.monotonic() - self._renewed < LEASE_RENEW_S:
                return
            self._renewed = time.monotonic()
        for name, (url, client, _) in list(self._queues.items()):
            try:
                client.tag_queue(QueueUrl=url, Tags={LEASE_TAG: str(int(time.time()) + LEASE_S)})
            except ClientError as exc:  # e.g. swept after its process stopped polling for a lease
                log.warning("could not renew the lease of monitoring queue %s: %s", name, exc)

    def drop_all(self) -> None:
        self.exiting.set()
        for name, (_, _, drop) in list(self._queues.items()):
            try:
                drop()
            except Exception as exc:  # the janitor removes it once its lease runs out
                log.warning("could not delete monitoring queue %s at exit: %s", name, exc)


_owned = _OwnedQueues()
atexit.register(_owned.drop_all)  # on a clean exit


class EncryptedTopics(SnsFanout):
    """kombu's SNS fanout, whose topics are encrypted at rest once created.

    ``_create_sns_topic`` is kombu's (private, 5.7): tests/test_upstream_fences.py pins it.
    """

    def _create_sns_topic(self, exchange_name: str) -> str:
        arn = super()._create_sns_topic(exchange_name)
        self.get_client().set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId",
                                               AttributeValue=TOPIC_KMS_KEY)
        return arn


class Channel(job_transport.Channel):
    """An SQS channel that also carries Celery events and remote control (see module doc)."""

    @property
    def fanout(self) -> EncryptedTopics:
        if not self._fanout:
            self._fanout = EncryptedTopics(self)
        return self._fanout

    @cached_property
    def monitoring_prefix(self) -> str:
        return self.transport_options["monitoring_prefix"]  # read once, as ``job_queue`` (a closed channel has none)

    def is_monitoring(self, name: str) -> bool:
        """Whether ``name`` (AMQP or SQS spelling) is an event/pidbox/reply queue or exchange."""
        return (name == EVENTS or name.startswith(f"{EVENTS}.") or name.endswith(".pidbox")
                or name.startswith(self.monitoring_prefix))

    def canonical_queue_name(self, queue_name):
        """SQS name of a queue (and, through kombu's SNS code, of a fanout exchange's topic)."""
        if not self.is_monitoring(queue_name) or queue_name.startswith(self.monitoring_prefix):
            return super().canonical_queue_name(queue_name)
        return monitoring_name(self.monitoring_prefix, queue_name)

    # -- events: the events exchange is fanout --------------------------------------
    def exchange_declare(self, exchange=None, type="direct", *args, **kwargs):
        return super().exchange_declare(exchange, "fanout" if exchange == EVENTS else type, *args, **kwargs)

    def typeof(self, exchange, default="direct"):
        # The event dispatcher publishes without declaring the exchange.
        return self.exchange_types["fanout"] if exchange == EVENTS else super().typeof(exchange, default)

    # -- remote control: replies reach the caller's queue ---------------------------
    def _lookup(self, exchange, routing_key, default=None):
        queues = super()._lookup(exchange, routing_key, default)
        if queues or not _REPLY_EXCHANGE.fullmatch(exchange or ""):
            return queues
        queue = f"{routing_key}.{exchange}"  # kombu.pidbox.Mailbox.get_reply_queue
        try:
            self._resolve_queue_url(queue)
        except DoesNotExistQueueException:
            log.info("reply dropped: the caller's queue %s is gone", queue)
            return []
        return [queue]

    # -- monitoring queues beside predefined queues ---------------------------------
    def sqs(self, queue=None):
        return super().sqs(None if queue is not None and self.is_monitoring(queue) else queue)

    def asynsqs(self, queue=None):
        return super().asynsqs(None if queue is not None and self.is_monitoring(queue) else queue)

    def _resolve_queue_url(self, queue):
        if not self.is_monitoring(queue):
            return super()._resolve_queue_url(queue)
        name = self.canonical_queue_name(queue)
        if name not in self._queue_cache:
            try:
                self._queue_cache[name] = self.sqs(queue=name).get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] in _QUEUE_MISSING:
                    raise DoesNotExistQueueException(f"Queue with name '{name}' doesn't exist in SQS") from None
                raise
        return self._queue_cache[name]

    def _create_queue(self, queue_name, attributes):
        if not self.is_monitoring(queue_name):
            return super()._create_queue(queue_name, attributes)
        if _owned.exiting.is_set():  # a receiver thread reconnecting while the process exits
            raise DoesNotExistQueueException(f"not creating {queue_name}: the process is exiting")
        return self.sqs(queue=queue_name).create_queue(
            QueueName=queue_name, Attributes={**attributes, "MessageRetentionPeriod": str(RETENTION_S)},
            tags={LEASE_TAG: str(int(time.time()) + LEASE_S)})

    # -- no event loop: blocking deletes ---------------------------------------------
    def _delete_message(self, queue_name, message):
        if self.hub is not None:
            return super()._delete_message(queue_name, message)
        self.sqs(queue=queue_name).delete_message(QueueUrl=self._new_queue(queue_name),
                                                  ReceiptHandle=message["ReceiptHandle"])

    # -- ownership: lease while polled, delete at exit --------------------------------
    def basic_consume(self, queue, no_ack, callback, consumer_tag, *args, **kwargs):
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, *args, **kwargs)
        if self.is_monitoring(queue):
            _owned.add(self.canonical_queue_name(queue), self._resolve_queue_url(queue), self.sqs(queue=queue),
                       self._dropper(queue))
        return result

    def _delete(self, queue, exchange=None, *args, **kwargs):
        if not self.is_monitoring(queue):
            return super()._delete(queue, exchange, *args, **kwargs)
        try:
            self._dropper(queue)()
        except DoesNotExistQueueException:
            pass

    def _dropper(self, queue: str) -> Callable[[], None]:
        """A function deleting ``queue`` and its SNS subscriptions, usable after the channel closed."""
        name, url, client = self.canonical_queue_name(queue), self._resolve_queue_url(queue), self.sqs(queue=queue)
        exchanges = [b.exchange for b in self.state.queue_index.get(queue, ()) if self._exchange_is_fanout(b.exchange)]
        subscriptions, cache = self.fanout.subscriptions, self._queue_cache

        def drop() -> None:
            _owned.forget(name)
            cache.pop(name, None)
            for exchange in exchanges:
                subscriptions.unsubscribe_queue(queue_name=queue, exchange_name=exchange)
            try:
                client.delete_queue(QueueUrl=url)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in _QUEUE_MISSING:
                    raise
        return drop

    def _receive_message(self, queue, max_number_of_messages=1, wait_time_seconds=None):
        """A blocking receive; reply queues wait at most 1 s, as a control call's timeout is short."""
        _owned.renew_leases()
        if _REPLY_QUEUE.fullmatch(queue):
            wait_time_seconds = 1
        return super()._receive_message(queue, max_number_of_messages, wait_time_seconds)

    def _get_async(self, queue, count=1, callback=None):
        _owned.renew_leases()
        return super()._get_async(queue, count, callback)


class Transport(job_transport.Transport):
    """The worker's SQS transport with ``Channel`` above; advertises fanout (remote control)."""

    Channel = Channel
    implements = sqs.Transport.implements.extend(exchange_type=frozenset(["direct", "fanout"]))
