"""CLI → SQS → real celery worker process → S3 → sample record, all over the emulator."""

import json
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from producer.demo import write_wav
from tests.audio.oracles import ARTIFACT_NAMES, ebur128
from tests.support import json_lines, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "tone 440 Hz é.wav"
    t = np.arange(48000 * 2) / 48000
    write_wav(path, 0.5 * np.column_stack([np.sin(2 * np.pi * 440 * t)] * 2), 48000)
    return path


def _s3_json(stack, uri):
    bucket, key = parse_s3_uri(uri)
    return json.loads(aws.client("s3", stack.settings).get_object(Bucket=bucket, Key=key)["Body"].read())


def test_submit_wait_completes_and_writes_the_artifact(stack, worker, tone):
    run = run_cli(stack.env, "submit", str(tone), "--wait", "--json", "--timeout", "60")
    assert run.returncode == 0, run.stderr
    [record] = json_lines(run.stdout)
    assert record["status"] == "COMPLETED" and record["attempts"] == 1
    results = record["results"]
    assert (results["sample_rate"], results["channels"], results["duration_s"]) == (48000, 2, 2.0)
    uri = results["artifacts"]["analysis.json"]
    assert uri == f"s3://{stack.env['OUTPUT_BUCKET']}/processed/{record['sample_id']}/analysis.json"
    assert _s3_json(stack, uri)["frames"] == 96000
    assert sorted(results["artifacts"]) == ARTIFACT_NAMES
    assert all(u.startswith(f"s3://{stack.env['OUTPUT_BUCKET']}/processed/{record['sample_id']}/")
               for u in results["artifacts"].values())
    assert results["integrated_lufs"] == pytest.approx(ebur128(tone)["integrated_lufs"], abs=0.1)
    assert "[1/1]" in run.stderr  # progress on stderr, data on stdout

    status = run_cli(stack.env, "status", record["sample_id"], "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "COMPLETED"


def test_bad_inputs_fail_with_specific_errors_and_the_worker_keeps_going(stack, worker, tone, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio at all")
    (tmp_path / "empty.mp3").write_bytes(b"")
    missing = f"s3://{stack.env['INPUT_BUCKET']}/incoming/{uuid.uuid4()}/gone.wav"
    run = run_cli(stack.env, "submit", str(tmp_path / "notes.wav"), str(tmp_path / "empty.mp3"), missing,
                  str(tone), "--wait", "--json", "--timeout", "60")
    assert run.returncode == 1, run.stderr  # some failed
    by_input = {r["input"]: r for r in json_lines(run.stdout)}
    assert by_input[str(tmp_path / "notes.wav")]["error"]["code"] == "invalid_audio"
    assert by_input[str(tmp_path / "empty.mp3")]["error"] == {"code": "invalid_audio",
                                                               "message": "the file is empty (0 bytes)"}
    assert by_input[str(tmp_path / "notes.wav")]["status"] == "FAILED"
    assert by_input[str(tone)]["status"] == "COMPLETED"
    [not_submitted] = json_lines("\n".join(line for line in run.stderr.splitlines() if line.startswith("{")))
    assert not_submitted["input"] == missing and missing not in by_input  # found out before anything was queued
    assert not_submitted["error"]["code"] == "missing_input" and "404" in not_submitted["error"]["message"]


def test_submitting_a_missing_local_file_queues_nothing(stack):
    run = run_cli(stack.env, "submit", "/no/such/file.wav", "--json")
    assert run.returncode == 1
    [error] = json_lines(run.stderr)
    assert error["error"] == {"code": "not_a_file", "message": "no such file: /no/such/file.wav"}


def test_a_job_for_a_sample_without_a_record_gets_one(stack, worker):
    sample_id = f"never-created-{uuid.uuid4()}"  # a producer that sent the job but wrote no record
    _send_job(stack, sample_id, stack.env["INPUT_BUCKET"], "incoming/x.wav")
    _wait_until_queue_drained(stack)
    record = SampleRecords(stack.settings).get(sample_id)
    assert (record["status"], record["error"]["code"], record["attempts"]) == ("FAILED", "missing_input", 1)
    assert record["input_uri"] == f"s3://{stack.env['INPUT_BUCKET']}/incoming/x.wav"
    lines = [json.loads(line) for line in stack.log_path("worker").read_text().splitlines()
             if line.startswith("{") and sample_id in line]
    assert lines and all(line["sample_id"] == sample_id and line["task_id"] for line in lines)


def _queue_depth(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_completed_sample_is_not_processed_again(stack, worker, tone):
    run = run_cli(stack.env, "submit", str(tone), "--wait", "--json", "--timeout", "60")
    [record] = json_lines(run.stdout)
    records = SampleRecords(stack.settings)
    bucket, key = parse_s3_uri(record["input_uri"])
    _send_job(stack, record["sample_id"], bucket, key)  # a duplicate delivery
    _wait_until_queue_drained(stack)
    again = records.get(record["sample_id"])
    assert again["status"] == "COMPLETED" and again["attempts"] == 1
    assert again["updated_at"] == record["updated_at"]


def test_a_jobs_preset_sets_the_house_loudness_and_the_descriptors_reach_the_record(stack, worker, tone, tmp_path):
    run = run_cli(stack.env, "submit", str(tone), "--preset", "streaming", "--wait", "--json", "--timeout", "60")
    [record] = json_lines(run.stdout)
    assert record["status"] == "COMPLETED", record
    results = record["results"]
    assert results["house_format"]["target_lufs"] == -14.0
    bucket, key = parse_s3_uri(results["artifacts"]["house.wav"])
    aws.client("s3", stack.settings).download_file(bucket, key, str(tmp_path / "house.wav"))
    assert ebur128(tmp_path / "house.wav")["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)
    descriptors = results["descriptors"]
    assert descriptors["sample_type"]["type"] == "one_shot" and descriptors["pitch"]["note"] == "A4"
    assert [p["problem"] for p in descriptors["problems"]["found"]] == ["mono_in_stereo"]


def test_bad_job_options_fail_the_sample_with_the_reason(stack, worker):
    sample_id = f"bad-options-{uuid.uuid4()}"
    records = SampleRecords(stack.settings)
    records.create(sample_id, f"s3://{stack.env['INPUT_BUCKET']}/incoming/{sample_id}/x.wav")
    _send_job(stack, sample_id, stack.env["INPUT_BUCKET"], f"incoming/{sample_id}/x.wav", {"preset": "loud"})
    _wait_until_queue_drained(stack)
    record = records.get(sample_id)
    assert record["status"] == "FAILED" and record["error"]["code"] == "invalid_request"
    assert "unknown loudness preset 'loud'" in record["error"]["message"]


def _send_job(stack, sample_id, bucket, key, options=None):
    code = ("from audio_tasks.worker.tasks import process_sample;"
            f"process_sample.delay({sample_id!r}, {bucket!r}, {key!r}"
            + (f", options={options!r})" if options else ")"))
    subprocess.run([sys.executable, "-c", code], env=stack.env, check=True, timeout=60)


def _wait_until_queue_drained(stack, timeout=30):
    sqs = aws.client("sqs", stack.settings)
    deadline = time.monotonic() + timeout
    while _queue_depth(sqs, stack.env["SQS_QUEUE_URL"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queue_depth(sqs, stack.env["SQS_QUEUE_URL"]) == 0
