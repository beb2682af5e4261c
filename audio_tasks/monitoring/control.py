"""Remote control calls share one reply queue per process, and return once every expected reply is in.

kombu names a caller's reply queue after an *oid* made of the calling thread's id and the
id of a mailbox object that Celery copies for every call (``Control.broadcast`` binds
``mailbox(connection)``). On SQS a reply queue is a real queue, kept until its process exits
(SQS refuses a deleted queue's name for 60 s, so deleting it after each call is no option),
and every inspect call Flower made — five per page, from a pool of threads — created one
more: eight page loads took the monitoring queues from 19 to 66. ``Mailbox`` (Celery's ``Control.Mailbox``,
installed by ``Control`` as the app's ``control`` class) changes two things:

- the oid is the process's (kombu's ``oid_from`` without the thread part), so a process
  has one reply queue however many calls and threads it runs;
- concurrent calls take turns polling that one queue; every reply is filed under the
  ticket (a message header) of the call it answers, and each call takes its own. A call
  expecting N replies (a ``destination`` of N workers) returns as soon as it has N: kombu
  counted polls rather than replies, and one poll can bring several, so it sometimes sat
  out its whole timeout after the last reply had arrived. Replies no call took (it timed
  out first) are dropped after ``UNCLAIMED_S``.
"""

from __future__ import annotations

import socket
import threading
import time

from celery.app import control
from kombu import Consumer, pidbox
from kombu.common import oid_from

UNCLAIMED_S = 300  # a reply nobody took by then answers a call that gave up long ago

_PROCESS = object()  # kombu mixes an object's id into the oid: one object, one oid per process


class _Replies:
    """The replies this process received, by ticket, and whether some call is polling for them."""

    def __init__(self):
        self._filed: dict[str, tuple[float, list]] = {}  # ticket => (first filed, replies)
        self._changed = threading.Condition()
        self._polling = False

    def file(self, ticket: str, reply: dict) -> None:
        now = time.monotonic()
        with self._changed:
            for stale in [t for t, (since, _) in self._filed.items() if now - since > UNCLAIMED_S]:
                del self._filed[stale]
            self._filed.setdefault(ticket, (now, []))[1].append(reply)
            self._changed.notify_all()

    def take(self, ticket: str) -> list:
        with self._changed:
            return self._filed.pop(ticket, (0.0, []))[1]

    def await_more(self, ticket: str, connection, timeout: float) -> None:
        """Return once a reply may be filed for ``ticket``, or after ``timeout`` seconds: poll the
        reply queue through ``connection`` unless another call is polling it already."""
        with self._changed:
            if ticket in self._filed:
                return
            if self._polling:
                self._changed.wait(timeout)  # woken by a filed reply, or when the poller stops
                return
            self._polling = True
        try:
            connection.drain_events(timeout=timeout)  # returns after one batch of replies (any tickets)
        except socket.timeout:
            pass
        finally:
            with self._changed:
                self._polling = False
                self._changed.notify_all()  # a waiting call takes over the polling


_replies = _Replies()


class Mailbox(pidbox.Mailbox):
    """kombu's mailbox with one reply queue per process (see the module docstring)."""

    @property
    def oid(self) -> str:
        return oid_from(_PROCESS, threads=False)

    def _collect(self, ticket, limit=None, timeout=1, callback=None, channel=None, accept=None):
        """kombu's (private: tests/test_upstream_fences.py pins it): the replies to ``ticket``.

        Unlike kombu's, it leaves the reply queue in place after the call (kombu deletes it through
        ``after_reply_message_received``): other calls of the process are using it. The transport
        deletes it when the process exits.
        """
        chan = channel or self.connection.default_channel

        def on_reply(body, message):
            header = message.headers.get
            self.clock.adjust(header("clock") or 0)
            expires = header("expires")
            if not (expires and time.time() > expires):
                _replies.file(header("ticket", ticket), body)

        responses, deadline = [], time.monotonic() + timeout
        with Consumer(chan, [self.reply_queue], accept=self.accept if accept is None else accept, no_ack=True,
                      callbacks=[on_reply]):
            while True:
                for reply in _replies.take(ticket):
                    if callback:
                        callback(reply)
                    responses.append(reply)
                remaining = deadline - time.monotonic()
                if (limit and len(responses) >= limit) or remaining <= 0:
                    return responses
                _replies.await_more(ticket, self.connection, remaining)


class Control(control.Control):
    """Celery's remote control client, with the mailbox above (the app's ``control`` class)."""

    Mailbox = Mailbox
