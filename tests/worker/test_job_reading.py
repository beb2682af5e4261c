"""The work queue's transport, in-process: any body becomes a well-formed job or an empty message.

Each body takes the path a worker's main process gives it before a job runs: our kombu SQS
channel (``_message_to_python``), kombu's message, then Celery's request for a job
(``JobRequest``: header types, time limits, ETA, arguments) — the places where one message
used to end the worker (the hostile cases are reproduced in ``test_hostile_messages``).
Property-based (hypothesis): a few thousand generated bodies — arbitrary text, JSON objects
shaped like jobs, and real Celery envelopes and S3 events with a field replaced by anything.
"""

import base64
import functools
import json
import tracemalloc
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Connection

from audio_tasks.message import TASK_NAME, JobArguments
from tests.support import celery_message, s3_record

QUEUE = "audio-processing"
URL = f"http://127.0.0.1:9/123456789012/{QUEUE}"
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def worker_side():
    """Our SQS channel (no AWS call is made) and the task whose requests the worker would build."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the app's settings; nothing is sent
        from audio_tasks.worker.tasks import process_sample

        connection = Connection("sqs://key:secret@127.0.0.1:9", transport="audio_tasks.worker.transport:Transport",
                                transport_options={"region": "us-east-1", "job_queue": QUEUE,
                                                   "predefined_queues": {QUEUE: {"url": URL}}})
        yield connection.default_channel, process_sample
        connection.release()


def receive(worker_side, body: str) -> JobArguments | None:
    """What the worker's main process makes of ``body``: the job Celery would run, or None (not a job)."""
    from audio_tasks.worker.request import JobRequest

    channel, task = worker_side
    sqs_message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "handle-1", "Body": body,
                   "Attributes": {"ApproximateReceiveCount": "1"}}
    message = channel.Message(channel._message_to_python(sqs_message, QUEUE, URL), channel=channel)
    assert message.delivery_info == {"exchange": "", "routing_key": QUEUE, "sqs_message": sqs_message,
                                     "sqs_queue": URL}
    if not message.headers:  # Celery hands it to the consumer's on_unknown_message
        assert not message.body
        return None
    assert message.content_type == "application/json"
    if message.headers["task"] != TASK_NAME:  # another task: Celery runs it if registered, else on_unknown_task
        args, kwargs, _ = message.decode()
        assert isinstance(message.headers["task"], str) and isinstance(args, list) and isinstance(kwargs, dict)
        return None
    request = JobRequest(message, app=task.app, task=task)
    assert (request.id, request.time_limits, request.eta, request.expires) == (
        message.headers["id"], [None, None], None, None)
    return JobArguments.bind(request.args, request.kwargs)


def test_each_shape_of_a_job_becomes_the_same_celery_request(worker_side):
    job = JobArguments("s-1", "audio-in", "incoming/a b.wav")
    assert receive(worker_side, celery_message(TASK_NAME, ["s-1", "audio-in", "incoming/a b.wav"])) == job
    assert receive(worker_side, json.dumps({"sample_id": "s-1", "bucket": "audio-in", "key": "incoming/a b.wav"})) == job
    s3 = receive(worker_side, json.dumps({"Records": [s3_record("incoming/a b.wav", sequencer="0A")]}))
    assert (s3.bucket, s3.key) == (job.bucket, job.key)
    assert receive(worker_side, json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) is None


def test_the_routing_key_a_body_names_is_ignored(worker_side):
    envelope = json.loads(base64.b64decode(celery_message(TASK_NAME, ["s-1", "b", "k"], queue="messages")))
    assert envelope["properties"]["delivery_info"]["routing_key"] == "messages"
    assert receive(worker_side, celery_message(TASK_NAME, ["s-1", "b", "k"], queue="messages")) is not None


# -- generated bodies -------------------------------------------------------------------------
def _json_values(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                              inner, max_size=3),
                        max_leaves=10)


ANY_JSON = _json_values(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30))
FIELDS = st.sampled_from(["bucket", "key", "sample_id", "version_id", "options", "Records", "headers", "properties",
                          "body", "content-type", "Event", "Service", "size"])
JOB_LIKE = st.dictionaries(FIELDS, ANY_JSON | st.text(max_size=40), max_size=5)


def _replace(document: dict, path: tuple, value):
    target = document
    for name in path[:-1]:
        target = target.setdefault(name, {}) if isinstance(target, dict) else {}
    if isinstance(target, dict):
        target[path[-1]] = value
    return document


ENVELOPE_PATHS = st.sampled_from([("headers",), ("headers", "task"), ("headers", "id"), ("headers", "retries"),
                                  ("headers", "timelimit"), ("headers", "eta"), ("headers", "expires"),
                                  ("headers", "shadow"), ("properties",), ("properties", "body_encoding"),
                                  ("properties", "delivery_info"), ("properties", "delivery_info", "routing_key"),
                                  ("body",), ("content-type",), ("content-encoding",)])
S3_PATHS = st.sampled_from([("eventName",), ("eventSource",), ("s3",), ("s3", "bucket"), ("s3", "bucket", "name"),
                            ("s3", "object"), ("s3", "object", "key"), ("s3", "object", "versionId"),
                            ("s3", "object", "sequencer"), ("s3", "object", "size")])


@functools.cache
def _real_envelope() -> str:
    return base64.b64decode(celery_message(TASK_NAME, ["s-1", "audio-in", "incoming/a.wav"])).decode()


@st.composite
def mutated_envelopes(draw):
    envelope = json.loads(_real_envelope())
    for _ in range(draw(st.integers(1, 3))):
        _replace(envelope, draw(ENVELOPE_PATHS), draw(ANY_JSON))
    text = json.dumps(envelope)
    return base64.b64encode(text.encode()).decode() if draw(st.booleans()) else text


@st.composite
def mutated_s3_events(draw):
    record = s3_record("incoming/a b.wav", sequencer="0A")
    for _ in range(draw(st.integers(1, 2))):
        _replace(record, draw(S3_PATHS), draw(ANY_JSON))
    return json.dumps({"Records": [record]})


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=100).map(lambda b: base64.b64encode(b).decode()))
def test_any_text_is_a_job_or_not_a_task_never_an_exception(worker_side, body):
    receive(worker_side, body)


@FUZZ
@given(JOB_LIKE.map(json.dumps) | ANY_JSON.map(json.dumps))
def test_any_json_is_a_job_or_not_a_task_never_an_exception(worker_side, body):
    receive(worker_side, body)


@FUZZ
@given(mutated_envelopes() | mutated_s3_events())
def test_any_damage_to_a_real_envelope_or_s3_event_leaves_a_job_or_not_a_task(worker_side, body):
    receive(worker_side, body)


# -- the largest bodies SQS accepts -------------------------------------------------------------
MIB = 1024 * 1024
HUGE = {
    "1 MiB of nesting": "[" * (MIB - 1),
    "1 MiB array": "[" + "0," * (MIB // 2 - 2) + "0]",
    "1 MiB string in a job": json.dumps({"bucket": "b", "key": "k", "sample_id": "x" * (MIB - 100)}),
    "1 MiB base64": base64.b64encode(b"\xff" * (MIB * 3 // 4 - 3)).decode(),
}


@pytest.mark.parametrize("body", HUGE.values(), ids=HUGE.keys())
def test_a_1_mib_body_is_refused_unread_without_a_copy(worker_side, body):
    assert len(body.encode()) < MIB
    tracemalloc.start()
    try:
        assert receive(worker_side, body) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MIB // 4, f"reading a {len(body)}-character body allocated {peak} bytes at its peak"
