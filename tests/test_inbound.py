"""inbound.read: the three shapes of a job, S3's other messages, and every way a body is not a job.

Celery envelopes are made by Celery's own producer (``tests.support.celery_message``); the
S3 bodies follow the documented event structure (keys URL-encoded, '+' for spaces).
"""

import base64
import json

import pytest

from audio_tasks.inbound import MAX_BODY_BYTES, Job, OtherTask, Refused, S3Records, S3TestEvent, read
from audio_tasks.message import JobArguments, derived_sample_id
from tests.support import celery_message, s3_record

MESSAGE_ID = "0b3a9b8e-1c1e-4a59-9f0a-3f0d6e1f2a11"
JOB = ["s-1", "audio-in", "incoming/s-1/a.wav"]


def envelope(**changes) -> str:
    """A real Celery envelope for JOB with some of its fields replaced (None removes one)."""
    message = json.loads(base64.b64decode(celery_message("audio_tasks.process_sample", JOB)))
    for path, value in changes.items():
        *parents, name = path.split("__")
        target = message
        for parent in parents:
            target = target[parent]
        target.pop(name) if value is None else target.__setitem__(name, value)
    return base64.b64encode(json.dumps(message).encode()).decode()


# -- plain JSON ----------------------------------------------------------------------------
def test_a_plain_job_with_its_sample_id_is_that_job_with_the_message_id_as_task_id():
    reading = read(json.dumps({"sample_id": "s-1", "bucket": "audio-in", "key": "incoming/a b.wav", "size": 3}),
                   MESSAGE_ID)
    assert reading == Job(JobArguments("s-1", "audio-in", "incoming/a b.wav"), MESSAGE_ID, 0, "json")


def test_a_plain_job_without_a_sample_id_gets_the_derived_one_for_its_object_or_version():
    plain = read(json.dumps({"bucket": "audio-in", "key": "incoming/a.wav"}), MESSAGE_ID)
    versioned = read(json.dumps({"bucket": "audio-in", "key": "incoming/a.wav", "version_id": "v7"}), MESSAGE_ID)
    assert plain.arguments.sample_id == derived_sample_id("audio-in", "incoming/a.wav")
    assert versioned.arguments.sample_id == derived_sample_id("audio-in", "incoming/a.wav", "v7")


def test_a_plain_job_carries_its_options_and_base64_is_unwrapped():
    body = json.dumps({"bucket": "audio-in", "key": "k.wav", "options": {"preset": "streaming"}})
    reading = read(base64.b64encode(body.encode()).decode(), MESSAGE_ID)
    assert reading.arguments.options == {"preset": "streaming"}


@pytest.mark.parametrize("job, reason", [
    ({"bucket": "audio-in"}, 'needs "bucket" and "key" strings'),
    ({"bucket": 7, "key": "k"}, 'needs "bucket" and "key" strings'),
    ({"bucket": "b", "key": ""}, "missing or empty fields: key"),
    ({"bucket": "b", "key": "k", "sample_id": "a/b"}, "sample_id must be 1-128 letters"),
    ({"bucket": "b", "key": "k", "sample_id": ""}, "missing or empty fields: sample_id"),
    ({"bucket": "b", "key": "k", "version_id": 3}, "version_id must be a string"),
    ({"bucket": "b", "key": "k", "options": ["preset"]}, "options must be an object"),
    ({"bucket": "b", "key": "k" * 1025}, "key is longer than 1024 bytes"),
])
def test_a_bad_plain_job_is_refused_with_the_field_it_gets_wrong(job, reason):
    reading = read(json.dumps(job), MESSAGE_ID)
    assert isinstance(reading, Refused) and reading.code == "invalid_message" and reason in reading.reason


# -- S3 notifications ----------------------------------------------------------------------
def test_an_s3_record_is_a_job_on_the_decoded_key_named_by_object_version():
    key = "incoming/my take 1+2 (ü).wav"
    by_version = read(json.dumps({"Records": [s3_record(key, versionId="v1", sequencer="0A")]}), MESSAGE_ID)
    by_sequencer = read(json.dumps({"Records": [s3_record(key, versionId="null", sequencer="0A")]}), MESSAGE_ID)
    unversioned = read(json.dumps({"Records": [s3_record(key)]}), MESSAGE_ID)
    assert by_version == Job(JobArguments(derived_sample_id("audio-in", key, "v1"), "audio-in", key), MESSAGE_ID, 0,
                             "s3")
    assert by_sequencer.arguments.sample_id == derived_sample_id("audio-in", key, "0A")
    assert unversioned.arguments.sample_id == derived_sample_id("audio-in", key)


def test_duplicate_notifications_of_one_upload_name_one_sample_and_two_uploads_two():
    first, duplicate, later = (read(json.dumps({"Records": [s3_record("incoming/a.wav", sequencer=s)]}), m)
                               for s, m in (("0A", "m-1"), ("0A", "m-2"), ("0B", "m-3")))
    assert first.arguments == duplicate.arguments != later.arguments


def test_s3_test_events_and_batches_are_not_jobs_but_not_refused_either():
    assert read(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00Z",
                            "Bucket": "audio-in", "RequestId": "r", "HostId": "h"}), MESSAGE_ID) == S3TestEvent("audio-in")
    records = [s3_record("incoming/a.wav"), s3_record("incoming/b.wav")]
    assert read(json.dumps({"Records": records}), MESSAGE_ID) == S3Records(tuple(records))


@pytest.mark.parametrize("records, reason", [
    ([], "Records must be a non-empty list"),
    ({"a": 1}, "Records must be a non-empty list"),
    ([s3_record("incoming/a.wav", event="ObjectRemoved:Delete")], "not an S3 ObjectCreated record"),
    ([{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}], "must name s3.bucket.name"),
    ([{"eventSource": "aws:s3", "eventName": ["ObjectCreated:Put"]}], "not an S3 ObjectCreated record"),
    (["not a record"], "not an S3 ObjectCreated record"),
    ([s3_record("incoming/a.wav", versionId=["v"])], "versionId or sequencer is not a string"),
])
def test_a_malformed_s3_event_is_refused(records, reason):
    reading = read(json.dumps({"Records": records}), MESSAGE_ID)
    assert isinstance(reading, Refused) and reason in reading.reason


# -- Celery envelopes ----------------------------------------------------------------------
def test_a_celery_envelope_is_its_job_with_its_own_task_id_and_retries():
    body = envelope(headers__retries=2)
    task_id = json.loads(base64.b64decode(body))["headers"]["id"]
    assert read(body, MESSAGE_ID) == Job(JobArguments(*JOB), task_id, 2, "celery")


def test_headers_that_could_change_how_a_job_runs_are_not_read():
    # A sender's time limit, ETA or expiry never applies: the transport builds the envelope anew.
    reading = read(envelope(headers__timelimit="abc", headers__eta={"x": 1}, headers__expires=[1],
                            headers__shadow=["x"], headers__stamps="s"), MESSAGE_ID)
    assert isinstance(reading, Job)


@pytest.mark.parametrize("changes, code, reason", [
    ({"headers__task": ["audio_tasks.process_sample"]}, "unknown_task", "unknown task ['audio_tasks.process_sample']"),
    ({"headers__task": None}, "unknown_task", "unknown task None"),
    ({"headers__id": {"a": 1}}, "invalid_message", "the task id must be"),
    ({"headers__retries": "1"}, "invalid_message", "retries must be a whole number"),
    ({"headers__retries": True}, "invalid_message", "retries must be a whole number"),
    ({"headers__retries": -1}, "invalid_message", "retries must be a whole number"),
    ({"headers": "not an object"}, "unknown_message", "its headers are not an object"),
    ({"properties": "not an object"}, "unknown_message", "its properties are not an object"),
    ({"content-type": ["application/json"]}, "invalid_message", "content type ['application/json'] is refused"),
    ({"body": "!!!not base64"}, "undecodable_message", "not text, plain or base64 of UTF-8"),
    ({"body": base64.b64encode(b"\xff\xfe[1]").decode()}, "undecodable_message", "not text, plain or base64"),
    ({"body": 7}, "undecodable_message", "not text"),
    ({"properties__body_encoding": "zlib"}, "undecodable_message", "not text, plain or base64"),
    ({"body": base64.b64encode(("[" * 5000 + "]" * 5000).encode()).decode()}, "undecodable_message",
     "nested deeper than 32 levels"),
    ({"body": base64.b64encode(b'[["s-1", "b", "k"], {}, {}, 4]').decode()}, "undecodable_message",
     "[args, kwargs, embed]"),
    ({"body": base64.b64encode(b'[["s-1", "b", NaN], {}, {}]').decode()}, "undecodable_message", "NaN"),
])
def test_a_hostile_envelope_is_refused_with_a_reason(changes, code, reason):
    reading = read(envelope(**changes), MESSAGE_ID)
    assert isinstance(reading, Refused), reading
    assert (reading.code, reason in reading.reason) == (code, True), reading.reason


@pytest.mark.parametrize("body, code, reason", [
    ("{this is not json", "unknown_message", "neither JSON nor base64 of JSON"),
    ("[1, 2]", "unknown_message", "a JSON array, not an object"),
    ('"text"', "unknown_message", "a JSON string, not an object"),
    ('{"bucket": "b", "bucket": "c", "key": "k"}', "unknown_message", "duplicate key 'bucket'"),
    ('{"bucket": "b", "key": "k", "size": NaN}', "unknown_message", "NaN is not a JSON number"),
    ("x" * (MAX_BODY_BYTES + 1), "invalid_message", f"over the {MAX_BODY_BYTES} bytes a job message may take"),
    ("   ", "unknown_message", "the body is empty"),
])
def test_a_body_that_is_not_json_we_accept_is_refused(body, code, reason):
    reading = read(body, MESSAGE_ID)
    assert isinstance(reading, Refused) and reading.code == code and reason in reading.reason


def test_a_call_of_another_task_is_read_as_one_but_celerys_own_tasks_are_refused():
    body = envelope(headers__task="bench.noop")
    task_id = json.loads(base64.b64decode(body))["headers"]["id"]
    assert read(body, MESSAGE_ID) == OtherTask("bench.noop", task_id, 0, JOB, {})
    builtin = read(envelope(headers__task="celery.chord_unlock"), MESSAGE_ID)
    assert isinstance(builtin, Refused) and builtin.code == "unknown_task"


def test_what_a_refused_message_names_is_kept_for_the_logs_but_only_if_it_is_short_text():
    refused = read(envelope(headers__retries="x"), MESSAGE_ID)
    assert (refused.task, refused.sample_id) == ("audio_tasks.process_sample", "s-1") and refused.task_id
    hostile = read(envelope(headers__task="t" * 10_000, headers__id=["x"]), MESSAGE_ID)
    assert (hostile.task, hostile.task_id) == (None, None) and len(hostile.reason) < 200
