"""The private parts of kombu and Celery this project overrides or reads, pinned to what we expect.

pyproject.toml bounds celery and kombu to the series they were tested with; this test is
the other half of that fence. Each row names a private (or semi-private) name, the
signature we override or call, and who relies on it: an upgrade that renames or
re-signs one fails here, in CI, instead of misbehaving in production.
"""

import inspect

import pytest
from billiard import common as billiard_common
from celery.worker import state
from celery.worker.consumer import Consumer
from celery.worker.request import Request
from kombu import pidbox
from kombu.asynchronous import http
from kombu.asynchronous.aws import connection as aws_connection
from kombu.asynchronous.http import curl
from kombu.transport import SQS as sqs
from kombu.transport import virtual
from kombu.transport.SQS.SNS import SNS, _SnsSubscription

METHODS = [
    # (owner, name, parameters, who relies on it)
    (sqs.Channel, "_lookup", "self, exchange, routing_key, default", "monitoring.transport: replies"),
    (sqs.Channel, "_resolve_queue_url", "self, queue", "monitoring.transport: queue URLs"),
    (sqs.Channel, "_create_queue", "self, queue_name, attributes", "monitoring.transport: leases"),
    (sqs.Channel, "_delete_message", "self, queue_name, message", "monitoring.transport: no event loop"),
    (sqs.Channel, "_delete", "self, queue, exchange, *args, **kwargs", "monitoring.transport: ownership"),
    (sqs.Channel, "_receive_message", "self, queue, max_number_of_messages, wait_time_seconds",
     "monitoring.transport: reply waits"),
    (sqs.Channel, "_get_async", "self, queue, count, callback", "monitoring.transport: leases; worker.queue_path"),
    (sqs.Channel, "_schedule_queue", "self, queue", "worker.queue_path: receives sized to free slots"),
    (sqs.Channel, "_on_messages_ready", "self, queue, qname, messages", "worker.queue_path: a failed receive"),
    (sqs.Channel, "_new_queue", "self, queue, **kwargs", "monitoring.transport: deletes"),
    (sqs.Channel, "_exchange_is_fanout", "self, exchange_name", "monitoring.transport: subscriptions"),
    (sqs.Channel, "canonical_queue_name", "self, queue_name", "monitoring.transport: names"),
    (sqs.Channel, "basic_consume", "self, queue, no_ack, callback, consumer_tag, *args, **kwargs",
     "monitoring.transport: ownership"),
    (sqs.Channel, "sqs", "self, queue", "monitoring.transport: clients; producer.job_batches: kept sends"),
    (sqs.Channel, "_message_to_python", "self, message, queue_name, q_url",
     "worker.job_reading: the work queue's bodies read by audio_tasks.inbound"),
    (sqs.Channel, "asynsqs", "self, queue", "monitoring.transport: clients"),
    (SNS, "_create_sns_topic", "self, exchange_name", "monitoring.transport: encrypted topics"),
    (SNS, "get_client", "self, exchange_name", "monitoring.transport: encrypted topics"),
    (_SnsSubscription, "unsubscribe_queue", "self, queue_name, exchange_name", "monitoring.transport: exit"),
    (curl.CurlClient, "_set_timeout", "self, msecs", "worker.curl_timer: the fix itself"),
    (curl.CurlClient, "_timeout_check", "self, _pycurl", "worker.curl_timer"),
    (Consumer, "on_decode_error", "self, message, exc", "worker.consumer"),
    (Consumer, "on_unknown_message", "self, body, message", "worker.consumer"),
    (Consumer, "on_unknown_task", "self, body, message, exc", "worker.consumer"),
    (Consumer, "on_invalid_task", "self, body, message, exc", "worker.consumer"),
    (Request, "on_failure", "self, exc_info, send_failed_event, return_ok", "worker.request"),
    (Request, "on_timeout", "self, soft, timeout", "worker.request"),
    (Request, "_announce_revoked", "self, reason, terminated, signum, expired",
     "worker.request: a revoked job is recorded before its message is acked"),
    (pidbox.Mailbox, "_collect", "self, ticket, limit, timeout, callback, channel, accept",
     "monitoring.control: one reply queue per process"),
]

ATTRIBUTES = [
    # (owner, name, who relies on it)
    (Request, "_already_cancelled", "worker.request: a job we stopped is not a lost worker"),
    (Request, "_already_revoked", "worker.request"),
    (sqs.Channel, "_fanout", "monitoring.transport: its fanout property caches EncryptedTopics there"),
    (virtual.Channel, "do_restore", "worker.shutdown: kombu restores nothing at close"),
    (sqs, "SQS_MAX_MESSAGES", "worker.queue_path: the most a receive may ask for"),
    (state, "active_requests", "worker.heartbeat, worker.shutdown"),
    (state, "reserved_requests", "worker.shutdown"),
    (state, "task_ready", "worker.request: a released job leaves the worker's books"),
]


def _parameters(function) -> str:
    parts = []
    for parameter in inspect.signature(function).parameters.values():
        prefix = {parameter.VAR_POSITIONAL: "*", parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
        parts.append(prefix + parameter.name)
    return ", ".join(parts)


@pytest.mark.parametrize("owner, name, parameters, relied_on_by", METHODS,
                         ids=[f"{o.__name__}.{n}" for o, n, *_ in METHODS])
def test_private_methods_keep_the_signature_we_override_or_call(owner, name, parameters, relied_on_by):
    assert _parameters(getattr(owner, name)) == parameters, relied_on_by


@pytest.mark.parametrize("owner, name, relied_on_by", ATTRIBUTES, ids=[n for _, n, _ in ATTRIBUTES])
def test_private_attributes_still_exist(owner, name, relied_on_by):
    assert hasattr(owner, name), relied_on_by


def test_internals_read_from_source_are_still_there():
    # kombu's get_client(hub) returns hub._current_http_client: worker.curl_timer installs ours there.
    assert "_current_http_client" in inspect.getsource(http.get_client)
    # The SQS channel's _queue_cache (its transport's dict of queue URLs): monitoring.transport fills and
    # drops entries.
    assert isinstance(inspect.getattr_static(sqs.Channel, "_queue_cache"), property)
    assert "self._queue_cache = {}" in inspect.getsource(sqs.Transport.__init__)
    # A poll answered after its consumer was cancelled is released by kombu, not delivered: worker.shutdown
    # cancels the consumer, then settles the last poll so that kombu releases what it brought in.
    assert "self._release_messages(" in inspect.getsource(sqs.Channel._on_messages_ready)
    # kombu adds its answer's callback before handing the request to the client: worker.curl_timer
    # counts a request as answered in a callback of its own, which therefore runs after kombu's.
    source = inspect.getsource(aws_connection.AsyncHTTPSConnection.getresponse)
    assert source.index("request.then(") < source.index("add_request(request)")
    # worker.queue_path: kombu starts each consumed queue's polling with _schedule_queue, hands a receive's
    # answer to _on_messages_ready (whose count reaches the callback), and lists consumed queues in
    # _active_queues; the ack it replaces frees the prefetch slot in virtual.Channel.basic_ack.
    assert "self._schedule_queue" in inspect.getsource(sqs.Channel.basic_consume)
    assert "self._on_messages_ready" in inspect.getsource(sqs.Channel._get_async)
    assert "self._active_queues = []" in inspect.getsource(virtual.Channel.__init__)
    assert "self.qos.ack(delivery_tag)" in inspect.getsource(virtual.Channel.basic_ack)
    # worker.queue_path: a channel closed meanwhile is told by ``closed``, set at once by close().
    assert "self.closed = True" in inspect.getsource(virtual.Channel.close)
    # The consumer hands its worker options to its steps: worker.consumer sets the heartbeat interval there.
    assert "worker_options" in inspect.signature(Consumer.__init__).parameters
    # A terminated job's kill that was not announced yet is announced once its process is gone:
    # worker.request defers Celery's first announcement to that one.
    assert "if not self._already_cancelled and not self._already_revoked" in inspect.getsource(Request.on_failure)
    # billiard turns SIGTERM in a pool process into SystemExit, so a terminated job unwinds (its ffmpeg
    # processes and temporary files are cleaned up): worker.cancellation says so.
    assert "sys.exit(" in inspect.getsource(billiard_common._shutdown_cleanup)
    # Replies are collected by _collect, and the reply queue is named after the oid: monitoring.control.
    assert "self._collect(" in inspect.getsource(pidbox.Mailbox._broadcast)
    assert "oid = self.oid" in inspect.getsource(pidbox.Mailbox.get_reply_queue)
    # worker.job_reading deletes a no-ack queue's message as kombu's _message_to_python does, and every
    # received message goes through _message_to_python (async and blocking receives alike).
    assert isinstance(inspect.getattr_static(sqs.Channel, "_noack_queues"), property)
    assert "self._noack_queues = set()" in inspect.getsource(sqs.Transport.__init__)
    assert "self._message_to_python(" in inspect.getsource(sqs.Channel._on_messages_ready)
    assert "self._message_to_python(" in inspect.getsource(sqs.Channel._messages_to_python)
    # worker.consumer: Celery gives a message without a task header to on_unknown_message.
    assert "on_unknown_message(" in inspect.getsource(Consumer.create_task_handler)
