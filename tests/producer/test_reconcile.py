"""The reconciler: its rules on records of every age, then ``audio-tasks reconcile`` against the emulator
on records left as a crash leaves them, with the session's worker finishing what it dispatches."""

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from audio_tasks.settings import Settings
from producer.demo import write_wav
from producer.reconcile import MAX_REDISPATCHES, verdict
from producer.submission import wait_for_final
from tests.support import celery_message, json_lines, run_cli

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(task_time_limit=3600, visibility_timeout=900, reconcile_grace_s=900)
STALE_PROCESSING_S = 3600 + 900 + 900


def _record(status: str, age_s: float, **fields) -> dict:
    return {"sample_id": "s1", "status": status, "updated_at": (NOW - timedelta(seconds=age_s)).isoformat(),
            "input_uri": "s3://in/incoming/s1/a.wav", **fields}


@pytest.mark.parametrize("record, expected", [
    (_record("PROCESSING", STALE_PROCESSING_S - 1), None),  # may be running, or about to be redelivered
    (_record("PROCESSING", STALE_PROCESSING_S + 1), "dispatch"),
    (_record("QUEUED", 899), None),
    (_record("QUEUED", 901), "dispatch"),  # never dispatched: its producer died
    (_record("QUEUED", 10**6, dispatched_at="x", dispatched_via="sqs"), None),  # waiting behind a backlog
    (_record("QUEUED", 899, dispatched_at="x", dispatched_via="run-task"), None),
    (_record("QUEUED", 901, dispatched_at="x", dispatched_via="run-task"), "dispatch"),  # its task never ran it
    (_record("QUEUED", 901, redispatches=MAX_REDISPATCHES - 1), "dispatch"),
    (_record("QUEUED", 901, redispatches=MAX_REDISPATCHES), "stranded"),
    (_record("PROCESSING", 1), None),
])
def test_which_records_are_settled_and_how(record, expected):
    found = verdict(record, None, NOW, SETTINGS)
    assert (found and (found.fail or "dispatch")) == expected, found


def test_a_record_whose_message_is_dead_lettered_fails_whatever_its_age():
    found = verdict(_record("PROCESSING", 1), {"message_id": "m-1", "receive_count": 3}, NOW, SETTINGS)
    assert found.fail == "dead_lettered"
    assert found.reason == "its message m-1 is in the dead-letter queue after 3 receives"


# -- against the emulator ------------------------------------------------------------------
@pytest.fixture(scope="module")
def records(stack):
    return SampleRecords(stack.settings)


def _stranded(stack, records, tmp_path, status: str, age_s: float) -> str:
    """A sample with a real input, its record left ``status`` ``age_s`` seconds ago, nothing dispatched."""
    sample_id = f"reconcile-{uuid.uuid4()}"
    path = tmp_path / f"{sample_id}.wav"
    write_wav(path, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)[:, None], 16000)
    key = f"incoming/{sample_id}/tone.wav"
    aws.client("s3", stack.settings).upload_file(str(path), stack.env["INPUT_BUCKET"], key)
    input_uri = f"s3://{stack.env['INPUT_BUCKET']}/{key}"
    records.create(sample_id, input_uri)
    if status == "PROCESSING":
        records.start(sample_id, input_uri)
    then = (datetime.now(timezone.utc) - timedelta(seconds=age_s)).isoformat(timespec="milliseconds")
    aws.client("dynamodb", stack.settings).update_item(
        TableName=stack.env["SAMPLES_TABLE"], Key={"sample_id": {"S": sample_id}},
        UpdateExpression="SET updated_at = :then", ExpressionAttributeValues={":then": {"S": then}})
    return sample_id


def _reconcile(stack, *args) -> dict[str, dict]:
    run = run_cli(stack.env, "reconcile", "--json", *args)
    assert run.returncode == 0, run.stderr
    return {finding["sample_id"]: finding for finding in json_lines(run.stdout)}


def test_reconcile_settles_what_a_crash_leaves_and_the_worker_finishes_it(stack, worker, records, tmp_path):
    never_sent = _stranded(stack, records, tmp_path, "QUEUED", 1000)  # producer died after the record
    lost = _stranded(stack, records, tmp_path, "PROCESSING", 5500)  # e.g. its dead-lettered message purged
    dead = _stranded(stack, records, tmp_path, "PROCESSING", 1)  # the whole worker died on the last delivery
    bucket, key = parse_s3_uri(records.get(dead)["input_uri"])
    dlq = stack.env["SQS_DLQ_URL"]
    aws.client("sqs", stack.settings).send_message(QueueUrl=dlq, MessageBody=celery_message(
        "audio_tasks.process_sample", [dead, bucket, key], queue=dlq.rsplit("/", 1)[-1]))
    waiting = _stranded(stack, records, tmp_path, "QUEUED", 10)  # too young to judge
    planned = _reconcile(stack, "--dry-run")
    assert {s: planned[s]["action"] for s in (never_sent, lost, dead)} == {
        never_sent: "would dispatch", lost: "would dispatch", dead: "would fail"}
    assert waiting not in planned and records.get(never_sent)["status"] == "QUEUED"  # a dry run does nothing

    done = _reconcile(stack)
    assert {s: done[s]["action"] for s in (never_sent, lost, dead)} == {
        never_sent: "dispatched", lost: "dispatched", dead: "failed"}
    finals, timed_out = wait_for_final(records, [never_sent, lost, dead], timeout_s=90)
    assert not timed_out
    assert [(finals[s]["status"], finals[s]["attempts"], finals[s]["redispatches"]) for s in (never_sent, lost)] \
        == [("COMPLETED", 1, 1), ("COMPLETED", 2, 1)]
    assert finals[dead]["error"]["code"] == "dead_lettered"
    assert finals[never_sent]["dispatched_via"] == "sqs"
    assert run_cli(stack.env, "dlq", "redrive", dead).returncode == 0  # the DLQ still has it: retried from there
    assert wait_for_final(records, [dead], timeout_s=90)[0][dead]["status"] == "COMPLETED"
    assert {never_sent, lost, dead} & set(_reconcile(stack)) == set()  # nothing left to do for them


def test_a_record_a_worker_moved_since_it_was_read_is_left_alone(records):
    sample_id = f"reconcile-{uuid.uuid4()}"
    records.create(sample_id, "s3://bucket/incoming/x/a.wav")
    seen = records.get(sample_id)
    records.start(sample_id, "s3://bucket/incoming/x/a.wav")  # a worker picks it up meanwhile
    assert records.redispatch(seen) is None
    assert records.fail(sample_id, {"code": "stranded", "message": "x"}, seen=seen) is None
    assert records.get(sample_id)["status"] == "PROCESSING"
    assert records.redispatch(records.get(sample_id))["status"] == "QUEUED"  # as read: it applies
