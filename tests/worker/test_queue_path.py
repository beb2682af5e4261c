"""The worker's queue path: the poll after an ack is never left behind a sleeping event loop.

The first two tests pin the kombu event-loop behaviour the transport is built around (if
kombu changes it, the reasoning in audio_tasks/worker/queue_path.py must be revisited); the
others drive the transport's channel with a real kombu event loop against the emulator.
No test times anything: they record the order of events (receives issued, loop polls).
"""

import logging
import socket
import uuid
from urllib.parse import urlparse

import pytest
from kombu import Connection
from kombu.asynchronous import Hub, set_event_loop

from audio_tasks import aws
from audio_tasks.worker import curl_timer
from audio_tasks.worker.transport import Transport
from tests.support import celery_message, eventually


class _RecordingPoller:
    """The hub's poller, noting each poll and its timeout in ``events``."""

    def __init__(self, poller, events: list):
        self._poller, self._events = poller, events

    def poll(self, timeout):
        self._events.append(("poll", timeout))
        return self._poller.poll(timeout)

    def __getattr__(self, name):
        return getattr(self._poller, name)


@pytest.fixture
def hub():
    """A kombu event loop with a readable socket (its polls return at once) and the curl client's
    repeating 1 s timer, as in a worker."""
    loop = Hub()
    readable, writer = socket.socketpair()
    writer.send(b"x")
    loop.add_reader(readable, lambda: None)
    loop.call_repeatedly(1.0, lambda: None)
    loop.events = []
    loop.poller = _RecordingPoller(loop.poller, loop.events)
    yield loop
    loop.close()
    readable.close()
    writer.close()


def test_kombu_hub_polls_with_a_timeout_while_a_callback_it_just_added_is_ready(hub):
    hub.call_soon(lambda: hub.call_soon(lambda: hub.events.append("inner")))
    next(hub.create_loop())
    assert hub.events[0][0] == "poll" and hub.events[0][1] > 0.5  # the inner callback waits for the timeout
    assert "inner" not in hub.events


def test_kombu_hub_runs_a_timer_due_now_before_it_polls(hub):
    hub.call_soon(lambda: hub.call_later(0, lambda: hub.events.append("inner")))
    next(hub.create_loop())
    assert hub.events[0] == "inner" and hub.events[1][0] == "poll"


@pytest.fixture
def queue(stack):
    """A queue of its own (the session worker consumes the stack's work queue)."""
    sqs = aws.client("sqs", stack.settings)
    name = f"transport-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    yield name, url, sqs
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def channel(stack, hub, queue):
    """Our transport's channel on ``hub``, consuming ``queue`` into ``channel.received``."""
    name, url, _ = queue
    set_event_loop(hub)
    curl_timer.install(hub)
    endpoint = urlparse(stack.env["AWS_ENDPOINT_URL"])
    key, secret = aws.local_credentials()
    connection = Connection(f"sqs://{key}:{secret}@{endpoint.hostname}:{endpoint.port}", transport=Transport,
                            transport_options={"region": stack.settings.region, "is_secure": False,
                                               "wait_time_seconds": 20, "polling_interval": 0,
                                               "predefined_queues": {name: {"url": url}}})
    chan = connection.default_channel
    chan.received = []
    http = hub._current_http_client
    add_request = http.add_request

    def record_receive(request):
        hub.events.append("receive")
        return add_request(request)

    http.add_request = record_receive
    yield chan
    connection.release()
    set_event_loop(None)


def _send(queue, count):
    name, url, sqs = queue
    for job in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=celery_message("bench.noop", [job, 0.0], queue=name))


def _run_until(hub, loop, probe, what):
    def step():
        next(loop)
        return probe()
    return eventually(step, what, timeout_s=60, interval_s=0)


def test_the_ack_that_frees_the_only_slot_issues_the_next_receive_before_the_loop_polls(hub, channel, queue):
    _send(queue, 2)
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue[0], no_ack=False, callback=channel.received.append, consumer_tag="test")
    loop = hub.create_loop()
    _run_until(hub, loop, lambda: channel.received, "the first message")
    for _ in range(5):  # the channel is full: no receive may be issued, however often the loop turns
        next(loop)
    assert "receive" not in hub.events[hub.events.index("receive") + 1:]
    assert not hub._ready  # parked: kombu's channel keeps re-adding its poll here, where an ack can strand it
    del hub.events[:]
    hub.call_soon(channel.received[0].ack)  # as Celery acks: a ready callback
    _run_until(hub, loop, lambda: len(channel.received) == 2, "the second message")
    assert hub.events[0] == "receive"  # kombu's channel could sleep up to 1 s here first


def test_receives_ask_for_free_slots_only_and_the_ack_frees_one(hub, channel, queue):
    _send(queue, 3)
    channel.basic_qos(prefetch_count=2)
    channel.basic_consume(queue[0], no_ack=False, callback=channel.received.append, consumer_tag="test")
    loop = hub.create_loop()
    _run_until(hub, loop, lambda: len(channel.received) == 2, "two messages")
    for _ in range(20):
        next(loop)
    assert len(channel.received) == 2  # the third waits for a free slot
    channel.received[0].ack()
    _run_until(hub, loop, lambda: len(channel.received) == 3, "the third message")


def test_a_receive_answered_after_its_channel_closed_is_left_to_sqs(hub, channel, queue, caplog):
    # Celery closes a consumer's channel when it resets it (e.g. its remote control met a body it could
    # not read) while a receive of that channel may be in flight. Its answer used to end the worker.
    name, url, sqs = queue
    channel.basic_consume(name, no_ack=True, callback=channel.received.append, consumer_tag="test")
    loop = hub.create_loop()
    _run_until(hub, loop, lambda: "receive" in hub.events, "the long poll to be issued")
    channel.close()
    _send(queue, 1)
    with caplog.at_level(logging.ERROR):
        _run_until(hub, loop, lambda: not channel._receives, "the long poll's answer")
    assert not channel.received and not [record for record in caplog.records if record.levelno >= logging.ERROR]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"  # received, neither run nor deleted


def test_a_consumer_that_closes_its_channel_gets_no_more_of_the_batch(hub, channel, queue, caplog):
    # As Celery's remote control does when a message cannot be read: it resets, closing the channel.
    name, url, sqs = queue
    _send(queue, 3)

    def receive_then_close(message):
        channel.received.append(message)
        channel.close()

    channel.basic_consume(name, no_ack=False, callback=receive_then_close, consumer_tag="test")
    loop = hub.create_loop()
    with caplog.at_level(logging.ERROR):
        _run_until(hub, loop, lambda: channel.received and not channel._receives, "the batch's first message")
    assert len(channel.received) == 1 and not [record for record in caplog.records if record.levelno >= logging.ERROR]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "3"  # one batch; two left to SQS
