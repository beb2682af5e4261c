"""describe(): a raw SQS message read as a Celery job, or what is wrong with it — never an exception.

The well-formed bodies are made by Celery's own producer (``tests.support.celery_message``).
"""

import base64
import json

import pytest

from audio_tasks.aws.sqs_messages import describe
from tests.support import celery_message

JOB = ["s-1", "audio-in", "incoming/s-1/a.wav"]


def _sqs(body: str, receive_count: int = 1, sent_ms: int = 1_764_000_000_000) -> dict:
    return {"MessageId": "m-1", "Body": body,
            "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(sent_ms)}}


def test_a_job_is_described_with_its_ids_and_arguments():
    info = describe(_sqs(celery_message("audio_tasks.process_sample", JOB), receive_count=2))
    assert info["problem"] is None
    assert (info["message_id"], info["receive_count"], info["sent_at"]) == ("m-1", 2, "2025-11-24T16:00:00+00:00")
    assert info["task"] == "audio_tasks.process_sample" and info["task_id"]
    assert info["sample_id"] == "s-1"
    assert info["args"] == {"sample_id": "s-1", "bucket": "audio-in", "key": "incoming/s-1/a.wav"}


def test_keyword_arguments_are_read_too():
    body = celery_message("audio_tasks.process_sample", [], {"sample_id": "s-1", "bucket": "b", "key": "k"})
    assert describe(_sqs(body))["args"] == {"sample_id": "s-1", "bucket": "b", "key": "k"}


@pytest.mark.parametrize("body, problem", [
    (celery_message("audio_tasks.process_sample", JOB, content_type="application/x-python-serialize"),
     "content type 'application/x-python-serialize' is refused"),
    (celery_message("audio_tasks.process_sample", JOB, body=b"[not json"),
     "the body is not JSON of the form [args, kwargs, embed]"),
    (celery_message("audio_tasks.other_task", JOB), "unknown task 'audio_tasks.other_task'"),
    (celery_message("audio_tasks.process_sample", JOB[:1]), "missing or empty fields: bucket, key"),
    ("not base64 and not json", "not a Celery message"),
    (base64.b64encode(b'{"no": "headers"}').decode(), "not a Celery message"),
    (json.dumps({"sample_id": "s-1"}), "not a Celery message"),
    ("", "not a Celery message"),
])
def test_what_is_not_a_job_is_said_in_one_sentence(body, problem):
    info = describe(_sqs(body))
    assert problem in info["problem"]


def test_the_sample_id_of_a_broken_job_is_still_reported_for_the_logs():
    info = describe(_sqs(celery_message("audio_tasks.process_sample", JOB[:1])))
    assert info["sample_id"] == "s-1" and info["problem"]
