"""Jobs no Python producer sent — plain JSON and S3 notifications — run by the session's real worker.

Every message is sent with plain boto3 ``send_message`` (``send_body``: no Celery on the producer side),
or by the emulator's S3 itself; no producer writes a record: the worker creates it.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.message import derived_sample_id
from producer.demo import write_wav
from tests.support import eventually, final_record, log_lines, s3_record, send_body

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upload(stack, tmp_path_factory):
    """Put a 0.5 s tone at a key of the input bucket; returns the key."""
    tone = tmp_path_factory.mktemp("ingest") / "tone.wav"
    write_wav(tone, 0.3 * np.sin(2 * np.pi * 440 * np.arange(4000) / 8000)[:, None], 8000)
    s3 = aws.client("s3", stack.settings)

    def put(key: str) -> str:
        s3.upload_file(str(tone), stack.env["INPUT_BUCKET"], key)
        return key
    return put


def worker_lines(stack, needle: str) -> list[dict]:
    return log_lines(stack.log_path("worker"), needle)


def test_plain_json_jobs_from_any_sqs_client_run_and_get_a_record(stack, worker, upload):
    bucket, folder, given = stack.env["INPUT_BUCKET"], f"incoming/{uuid.uuid4()}", f"given-{uuid.uuid4()}"
    first, second = upload(f"{folder}/node client.wav"), upload(f"{folder}/aws cli.wav")
    sent = {  # the README's two examples: Node.js without a sample id, aws sqs send-message with one
        derived_sample_id(bucket, first): send_body(stack, {"bucket": bucket, "key": first}),
        given: send_body(stack, {"sample_id": given, "bucket": bucket, "key": second, "note": "unknown fields ignored"}),
    }
    for sample_id, message_id in sent.items():
        record = final_record(stack, sample_id)
        assert (record["status"], record["attempts"]) == ("COMPLETED", 1), record
        assert record["input_uri"].startswith(f"s3://{bucket}/{folder}/") and record["created_at"]
        assert set(record["results"]["artifacts"]) >= {"analysis.json", "house.wav"}
        lines = worker_lines(stack, sample_id)
        assert any(line["message"] == "completed" for line in lines)
        assert {line["task_id"] for line in lines if line.get("sample_id") == sample_id} == {message_id}


def test_a_plain_json_jobs_options_take_effect_and_bad_ones_fail_it(stack, worker, upload):
    bucket, folder = stack.env["INPUT_BUCKET"], f"incoming/{uuid.uuid4()}"
    streaming, bad = upload(f"{folder}/streaming.wav"), upload(f"{folder}/bad.wav")
    send_body(stack, {"bucket": bucket, "key": streaming, "options": {"preset": "streaming", "target_lufs": -15}})
    send_body(stack, {"bucket": bucket, "key": bad, "options": {"preset": "loud"}})
    record = final_record(stack, derived_sample_id(bucket, streaming))
    assert record["status"] == "COMPLETED", record
    house = record["results"]["house_format"]
    assert (house["target_lufs"], house["true_peak_ceiling_dbtp"]) == (-15.0, -1.0)  # explicit beats preset
    failed = final_record(stack, derived_sample_id(bucket, bad))
    assert (failed["status"], failed["error"]["code"]) == ("FAILED", "invalid_request")
    assert "unknown loudness preset 'loud'" in failed["error"]["message"]


def test_a_plain_job_for_a_missing_input_is_failed_with_the_reason(stack, worker):
    bucket, key = stack.env["INPUT_BUCKET"], f"incoming/{uuid.uuid4()}/missing.wav"
    send_body(stack, {"bucket": bucket, "key": key})
    record = final_record(stack, derived_sample_id(bucket, key))
    assert (record["status"], record["error"]["code"]) == ("FAILED", "missing_input")


def test_s3_notifications_on_the_queue_are_one_job_per_object_version(stack, worker, upload):
    bucket, folder = stack.env["INPUT_BUCKET"], f"incoming/{uuid.uuid4()}"
    key = upload(f"{folder}/take 1+2.wav")
    event = {"Records": [s3_record(key, bucket=bucket, sequencer="0055AED6DCD90281E5")]}
    sample_id = derived_sample_id(bucket, key, "0055AED6DCD90281E5")
    send_body(stack, event)
    first = final_record(stack, sample_id)
    assert (first["status"], first["input_uri"]) == ("COMPLETED", f"s3://{bucket}/{key}")

    duplicate = send_body(stack, event)  # S3 delivers at least once
    eventually(lambda: [line for line in worker_lines(stack, duplicate) if "nothing to do" in line["message"]],
               "the duplicate to be found finished already")
    again = SampleRecords(stack.settings).get(sample_id)
    assert (again["attempts"], again["updated_at"]) == (1, first["updated_at"])

    keys = [upload(f"{folder}/batch {n}.wav") for n in (1, 2)]
    batch = send_body(stack, {"Records": [s3_record(k, bucket=bucket) for k in keys]})
    for k in keys:
        assert final_record(stack, derived_sample_id(bucket, k))["status"] == "COMPLETED"
    assert [line["event"] for line in worker_lines(stack, batch)] == ["s3_event_split"]


def test_an_s3_test_event_is_acknowledged_with_one_line_and_never_dead_lettered(stack, worker):
    message_id = send_body(stack, {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-29T00:00:00.000Z",
                              "Bucket": stack.env["INPUT_BUCKET"], "RequestId": "R", "HostId": "H"})
    [line] = eventually(lambda: worker_lines(stack, message_id), "the test event's log line")
    assert (line["level"], line["event"]) == ("INFO", "s3_test_event")
    sqs = aws.client("sqs", stack.settings)
    attributes = eventually(lambda: _drained(sqs, stack.env["SQS_QUEUE_URL"]), "the work queue to be empty")
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert worker_lines(stack, message_id) == [line]  # received once, deleted: never seen again


def _drained(sqs, url) -> dict | None:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    busy = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return None if busy else attributes


def test_uploads_notified_by_the_emulators_s3_become_jobs(stack, worker, upload):
    bucket, prefix = stack.env["INPUT_BUCKET"], f"incoming/notified-{uuid.uuid4()}/"
    s3, sqs = aws.client("s3", stack.settings), aws.client("sqs", stack.settings)
    queue_arn = sqs.get_queue_attributes(QueueUrl=stack.env["SQS_QUEUE_URL"],
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}}]})
    try:
        eventually(lambda: [line for line in worker_lines(stack, "s3_test_event") if bucket in line["message"]],
                   "the test event S3 sends on configuration")
        key = upload(f"{prefix}an upload.wav")
        # The emulator's events carry neither a version id nor a sequencer: the id is the object's.
        record = final_record(stack, derived_sample_id(bucket, key))
        assert (record["status"], record["input_uri"]) == ("COMPLETED", f"s3://{bucket}/{key}")
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
