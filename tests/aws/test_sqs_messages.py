"""describe(): a raw SQS message read as a job in any of its shapes, or what is wrong with it — never an exception.

The Celery bodies are made by Celery's own producer (``tests.support.celery_message``).
"""

import base64
import json

import pytest

from audio_tasks.aws.sqs_messages import describe
from tests.support import celery_message

JOB = ["s-1", "audio-in", "incoming/s-1/a.wav"]
MESSAGE_ID = "0b3a9b8e-1c1e-4a59-9f0a-3f0d6e1f2a11"


def _sqs(body: str, receive_count: int = 1, sent_ms: int = 1_764_000_000_000) -> dict:
    return {"MessageId": MESSAGE_ID, "Body": body,
            "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(sent_ms)}}


def test_a_job_is_described_with_its_ids_and_arguments():
    info = describe(_sqs(celery_message("audio_tasks.process_sample", JOB), receive_count=2))
    assert (info["problem"], info["code"], info["shape"]) == (None, None, "celery")
    assert (info["message_id"], info["receive_count"], info["sent_at"]) == (MESSAGE_ID, 2, "2025-11-24T16:00:00+00:00")
    assert info["task"] == "audio_tasks.process_sample" and info["task_id"] != MESSAGE_ID
    assert info["sample_id"] == "s-1"
    assert info["args"] == {"sample_id": "s-1", "bucket": "audio-in", "key": "incoming/s-1/a.wav", "options": None}


def test_keyword_arguments_are_read_too():
    job = {"sample_id": "s-1", "bucket": "b", "key": "k", "options": {"preset": "podcast"}}
    body = celery_message("audio_tasks.process_sample", [], job)
    assert describe(_sqs(body))["args"] == job


def test_a_plain_json_job_is_described_with_the_message_id_as_its_task_id():
    info = describe(_sqs(json.dumps({"sample_id": "s-1", "bucket": "audio-in", "key": "incoming/a.wav"})))
    assert (info["shape"], info["task_id"], info["sample_id"], info["problem"]) == ("json", MESSAGE_ID, "s-1", None)


@pytest.mark.parametrize("body, code, problem", [
    (celery_message("audio_tasks.process_sample", JOB, content_type="application/x-python-serialize"),
     "invalid_message", "content type 'application/x-python-serialize' is refused"),
    (celery_message("audio_tasks.process_sample", JOB, body=b"[not json"),
     "undecodable_message", "the body is not JSON of the form [args, kwargs, embed]"),
    (celery_message("audio_tasks.other_task", JOB), "unknown_task", "unknown task 'audio_tasks.other_task'"),
    (celery_message("celery.chord_unlock", JOB), "unknown_task", "unknown task 'celery.chord_unlock'"),
    (celery_message("audio_tasks.process_sample", JOB[:1]), "invalid_message", "missing or empty fields: bucket, key"),
    ("not base64 and not json", "unknown_message", "the body is neither JSON nor base64 of JSON"),
    (base64.b64encode(b'{"no": "bucket"}').decode(), "invalid_message", 'needs "bucket" and "key" strings'),
    (json.dumps({"sample_id": "s-1"}), "invalid_message", 'needs "bucket" and "key" strings'),
    ("", "unknown_message", "the body is empty"),
    ("[" * 100_000, "invalid_message", "the body is over the 65536 bytes a job message may take"),
])
def test_what_is_not_a_job_is_said_in_one_sentence(body, code, problem):
    info = describe(_sqs(body))
    assert info["code"] == code and problem in info["problem"]


def test_the_ids_of_a_broken_job_are_still_reported_for_the_logs():
    info = describe(_sqs(celery_message("audio_tasks.process_sample", JOB[:1])))
    assert info["sample_id"] == "s-1" and info["task_id"] and info["problem"]


def test_s3_messages_that_are_not_one_job_are_described_not_refused():
    test_event = describe(_sqs(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"})))
    assert test_event["code"] is None and "s3:TestEvent" in test_event["problem"]
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
              "s3": {"bucket": {"name": "in"}, "object": {"key": "incoming/a.wav"}}}
    batch = describe(_sqs(json.dumps({"Records": [record, record]})))
    assert batch["code"] is None and "2 records" in batch["problem"]


@pytest.mark.parametrize("attributes", [{}, {"ApproximateReceiveCount": "x", "SentTimestamp": "10" * 20},
                                        {"ApproximateReceiveCount": None, "SentTimestamp": []}])
def test_odd_attributes_do_not_stop_a_description(attributes):
    info = describe({"MessageId": None, "Body": None, "Attributes": attributes})
    assert (info["receive_count"], info["sent_at"], info["code"]) == (0, None, "unknown_message")
