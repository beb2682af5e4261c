"""One reply queue per process, shared by concurrent remote control calls (``audio_tasks.monitoring.control``).

In-process, on kombu's in-memory transport (a real kombu transport, not a stub): two
pidbox nodes answer ``ping`` as workers do, and callers in many threads at once must each
get exactly their own replies through the one reply queue. The SQS side (Flower's pages,
``celery inspect -d``) is tested end to end in test_flower.py.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from kombu import Connection

from audio_tasks.monitoring.control import Mailbox

WORKERS = ("w1@test", "w2@test")
# Longer than pytest's own timeout (300 s, pyproject.toml): a call that sat out its timeout after
# the replies it expected had arrived fails the test instead of passing slowly.
CALL_TIMEOUT_S = 600
MEMORY = {"polling_interval": 0.01}  # kombu's in-memory transport otherwise sleeps 1 s after an empty poll


@pytest.fixture
def mailbox():
    """A mailbox whose two nodes answer ``ping`` with their own name and the caller's number."""
    mailbox = Mailbox(f"test-{uuid.uuid4()}", type="fanout", accept=["json"])  # kombu's memory is global
    stop, threads, connections = threading.Event(), [], []
    for name in WORKERS:
        connection = Connection("memory://", transport_options=MEMORY)
        node = mailbox(connection).Node(name, handlers={"ping": lambda state, n, name=name: f"pong {n} from {name}"})
        node.listen(channel=connection.channel())
        threads.append(threading.Thread(target=_serve, args=(connection, stop), daemon=True))
        connections.append(connection)
    for thread in threads:
        thread.start()
    yield mailbox
    stop.set()
    for thread, connection in zip(threads, connections):
        thread.join()
        connection.close()


def _serve(connection, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            connection.drain_events(timeout=0.05)
        except TimeoutError:
            pass


def _ping(mailbox, n: int, destination=WORKERS) -> tuple[str, list]:
    with Connection("memory://", transport_options=MEMORY) as connection:
        bound = mailbox(connection)
        replies = bound.call(list(destination), "ping", {"n": n}, timeout=CALL_TIMEOUT_S)
        return bound.reply_queue.name, replies


def test_concurrent_calls_share_one_reply_queue_and_each_gets_its_own_replies(mailbox):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: _ping(mailbox, n), range(24)))
    assert len({queue for queue, _ in results}) == 1
    for n, (_, replies) in enumerate(results):
        assert sorted(replies, key=str) == [{name: f"pong {n} from {name}"} for name in WORKERS]


def test_a_call_to_one_named_worker_returns_with_its_reply(mailbox):
    _, replies = _ping(mailbox, 7, destination=WORKERS[:1])
    assert replies == [{WORKERS[0]: f"pong 7 from {WORKERS[0]}"}]
