"""Reliability under injected faults: real workers (``tests.worker.fault_injection``) on a stack with
short visibility timeouts, so redeliveries and the dead-letter queue happen in seconds.

The workers poll with a 2 s wait: moto keeps a dead worker's long poll open and swallows
the next message sent during it until its visibility timeout (8 s) expires, which these
tests then simply wait out (their bounds are generous; they count, they do not time).
"""

from __future__ import annotations

import json
import pickle
import time
import uuid

import pytest

from audio_tasks import aws
from audio_tasks.local_stack import StackOptions
from audio_tasks.message import derived_sample_id
from tests.support import celery_message, eventually, final_record, run_cli
from tests.worker.reliability_support import TALLY, FaultyStack, report_tally

pytestmark = pytest.mark.e2e

VISIBILITY_S, MAX_RECEIVES = 8, 3
WORKER_ENV = {"SQS_WAIT_TIME_SECONDS": "2", "RETRY_BASE_DELAY_SECONDS": "1", "RETRY_MAX_DELAY_SECONDS": "2",
              "TASK_MAX_ATTEMPTS": "3", "TASK_TIME_LIMIT": "120"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, pytestconfig):
    report_tally(pytestconfig)
    options = StackOptions(visibility_timeout=VISIBILITY_S, wait_time_seconds=2, max_receive_count=MAX_RECEIVES)
    with FaultyStack("reliability", options, tmp_path_factory.mktemp("reliability"), WORKER_ENV) as stack:
        yield stack


@pytest.fixture(scope="module")
def worker(faulty):
    return faulty.start_worker("faulty-worker")


@pytest.fixture(scope="module")
def reference(faulty, worker):
    """An undisturbed run of the input every test uploads: its artifacts, byte for byte."""
    [sample_id] = faulty.submit("reference.wav")
    record = faulty.wait_final([sample_id], 120)[sample_id]
    assert record["status"] == "COMPLETED", record
    TALLY["completed"] += 1
    return faulty.artifacts(record)


def test_a_transient_failure_twice_is_retried_through_sqs_and_completes_once(faulty, worker, reference):
    [sample_id] = faulty.submit("transient2-job.wav")
    TALLY["faults injected"] += 2
    record = faulty.wait_final([sample_id], 90)[sample_id]
    assert record["status"] == "COMPLETED" and record["attempts"] == 3
    TALLY["completed"] += 1
    assert faulty.runs(sample_id) == 3  # no duplicate executions
    assert faulty.artifacts(record) == reference
    retries = [line for line in faulty.worker_log("faulty-worker")
               if line.get("sample_id") == sample_id and line.get("event") == "retry"]
    assert [line["attempt"] for line in retries] == [1, 2]


def test_exhausted_retries_fail_the_record_dead_letter_the_job_and_redrive_brings_it_back(faulty, worker):
    [sample_id] = faulty.submit("transient3-job.wav")  # fails TASK_MAX_ATTEMPTS=3 times, then would work
    TALLY["faults injected"] += 3
    record = faulty.wait_final([sample_id], 90)[sample_id]
    assert record["status"] == "FAILED", record
    assert record["error"]["code"] == "transient_error"
    assert "injected transient failure 3 (gave up after 3 attempts)" in record["error"]["message"]
    assert faulty.runs(sample_id) == 3
    [dead] = [m for m in faulty.dead_letters() if m["sample_id"] == sample_id]
    assert dead["problem"] is None and dead["error"]["code"] == "transient_error"
    show = run_cli(faulty.env, "dlq", "show", dead["message_id"])
    assert show.returncode == 0 and json.loads(show.stdout)["args"]["key"].endswith("/transient3-job.wav")

    run = run_cli(faulty.env, "dlq", "redrive", sample_id)
    assert run.returncode == 0, run.stderr
    record = faulty.wait_final([sample_id], 90)[sample_id]
    assert record["status"] == "COMPLETED" and faulty.runs(sample_id) == 4
    TALLY["completed"] += 1
    assert not [m for m in faulty.dead_letters() if m["sample_id"] == sample_id]


def test_plain_json_jobs_retry_through_sqs_up_to_the_same_limit(faulty, worker, reference):
    """A retry is a new Celery message: a plain job's attempts are bounded by TASK_MAX_ATTEMPTS all the same."""
    bucket, sent = faulty.env["INPUT_BUCKET"], {}
    for name in ("transient1-plain.wav", "transient3-plain.wav"):
        folder = f"plain-{uuid.uuid4()}"  # the fault's run counter is kept per folder
        key = f"incoming/{folder}/{name}"
        aws.client("s3", faulty.stack.settings).upload_file(str(faulty.inputs / "reference.wav"), bucket, key)
        message_id = faulty.sqs.send_message(QueueUrl=faulty.env["SQS_QUEUE_URL"],
                                             MessageBody=json.dumps({"bucket": bucket, "key": key}))["MessageId"]
        sent[name] = (derived_sample_id(bucket, key), folder, message_id)
    TALLY["faults injected"] += 4
    records = {sample_id: final_record(faulty.stack, sample_id) for sample_id, _, _ in sent.values()}
    recovered, exhausted = (sent[name] for name in ("transient1-plain.wav", "transient3-plain.wav"))
    assert (records[recovered[0]]["status"], records[recovered[0]]["attempts"]) == ("COMPLETED", 2)
    assert faulty.artifacts(records[recovered[0]]) == reference
    TALLY["completed"] += 1
    assert (records[exhausted[0]]["status"], records[exhausted[0]]["attempts"]) == ("FAILED", 3)
    assert faulty.runs(exhausted[1]) == 3
    TALLY["failed as expected"] += 1
    [dead] = [m for m in faulty.dead_letters() if m["sample_id"] == exhausted[0]]
    assert (dead["shape"], dead["task_id"], dead["problem"]) == ("celery", exhausted[2], None)


def test_a_poison_job_is_dead_lettered_after_max_receives_while_other_jobs_flow(faulty, worker, reference):
    [poison] = faulty.submit("crash-poison.wav")
    others = faulty.submit(*[f"ok-{i}.wav" for i in range(10)])
    TALLY["faults injected"] += MAX_RECEIVES
    records = faulty.wait_final([poison, *others], 180)
    assert [records[s]["status"] for s in others] == ["COMPLETED"] * 10
    TALLY["completed"] += 10
    assert all(faulty.artifacts(records[s]) == reference for s in others)
    assert records[poison]["status"] == "FAILED"
    TALLY["failed as expected"] += 1
    assert records[poison]["error"]["code"] == "worker_lost"
    assert records[poison]["error"]["receive_count"] == MAX_RECEIVES
    assert faulty.runs(poison) == MAX_RECEIVES
    dead = [m for m in _wait_for_dead_letters(faulty, {poison}) if m["sample_id"] == poison]
    assert len(dead) == 1 and dead[0]["error"]["code"] == "worker_lost"


def test_bad_messages_are_never_executed_and_end_in_the_dead_letter_queue(faulty, worker, tmp_path):
    [sample_id] = faulty.submit("ok-control.wav")  # a real sample the bad messages name
    assert faulty.wait_final([sample_id], 60)[sample_id]["status"] == "COMPLETED"
    TALLY["completed"] += 1
    job = [sample_id, faulty.env["INPUT_BUCKET"], f"incoming/{sample_id}/ok-control.wav"]
    canary = tmp_path / "unpickled"
    bodies = {
        "not JSON": "{this is not json",
        "pickle": celery_message("audio_tasks.process_sample", job, content_type="application/x-python-serialize",
                                 body=pickle.dumps(_Canary(str(canary)))),
        "undecodable JSON body": celery_message("audio_tasks.process_sample", job, body=b"[not json"),
        "unknown task": celery_message("audio_tasks.no_such_task", job),
        "missing fields": celery_message("audio_tasks.process_sample", job[:1]),
    }
    sent = {faulty.sqs.send_message(QueueUrl=faulty.env["SQS_QUEUE_URL"], MessageBody=body)["MessageId"]: kind
            for kind, body in bodies.items()}
    TALLY["faults injected"] += len(sent)
    dead = {m["message_id"]: m for m in _wait_for_dead_letters(faulty, set(sent), key="message_id")}
    assert set(sent) <= set(dead), f"not dead-lettered: {[sent[m] for m in set(sent) - set(dead)]}"
    TALLY["bad messages dead-lettered"] += len(sent)
    assert all(dead[m]["problem"] for m in sent)
    assert not canary.exists()  # the pickle was never loaded
    assert faulty.runs(sample_id) == 1 and faulty.records.get(sample_id)["attempts"] == 1
    rejected = {}  # message id -> the worker's log lines rejecting it, one per receive
    for line in faulty.worker_log("faulty-worker"):
        if line.get("event") == "message_rejected":
            rejected.setdefault(line["error"]["message_id"], []).append(line["error"])
    for message_id, kind in sent.items():
        assert [e["receive_count"] for e in rejected[message_id]] == [1, 2, 3], kind
    by_kind = {kind: rejected[message_id][0] for message_id, kind in sent.items()}
    assert by_kind["unknown task"]["code"] == "unknown_task"
    assert by_kind["pickle"]["message"] == ("content type 'application/x-python-serialize' is refused "
                                            "(only application/json is accepted)")
    assert by_kind["missing fields"] == {"code": "invalid_message", "message": "missing or empty fields: bucket, key",
                                         "message_id": by_kind["missing fields"]["message_id"], "receive_count": 1}

    assert run_cli(faulty.env, "dlq", "purge").returncode == 2  # only with --yes
    assert run_cli(faulty.env, "dlq", "purge", "--yes").returncode == 0
    assert faulty.dead_letters() == []


def test_a_job_three_times_longer_than_the_visibility_timeout_runs_exactly_once(faulty, worker, reference):
    [sample_id] = faulty.submit(f"sleep{3 * VISIBILITY_S}-long.wav")
    TALLY["faults injected"] += 1
    record = faulty.wait_final([sample_id], 120)[sample_id]
    assert record["status"] == "COMPLETED" and record["attempts"] == 1
    TALLY["completed"] += 1
    assert faulty.runs(sample_id) == 1
    assert faulty.artifacts(record) == reference


def test_two_deliveries_running_at_once_end_in_one_final_status_and_identical_artifacts(faulty, worker, reference):
    [sample_id] = faulty.submit("sleep3-twice.wav")
    job = [sample_id, faulty.env["INPUT_BUCKET"], f"incoming/{sample_id}/sleep3-twice.wav"]
    faulty.sqs.send_message(QueueUrl=faulty.env["SQS_QUEUE_URL"],  # a duplicate delivery, as SQS may make
                            MessageBody=celery_message("audio_tasks.process_sample", job))
    TALLY["faults injected"] += 1
    record = faulty.wait_final([sample_id], 60)[sample_id]

    def finished() -> list[str]:
        lines = [line["message"] for line in faulty.worker_log("faulty-worker") if line.get("sample_id") == sample_id]
        return [m for m in lines if m == "completed" or m.startswith("another delivery finished first")]

    # both ran (the worker has two pool processes), and both finished: one completed, one found it done
    assert sorted(eventually(lambda: len(finished()) == 2 and finished(), "both deliveries to finish", 60)) == [
        "another delivery finished first; record stays COMPLETED", "completed"]
    assert faulty.runs(sample_id) == 2
    final = faulty.records.get(sample_id)
    assert final["status"] == "COMPLETED" and final["attempts"] == 2
    assert final["updated_at"] == record["updated_at"]  # the second finisher changed nothing
    TALLY["completed"] += 1
    assert faulty.artifacts(final) == reference


def test_kill_9_mid_job_repeatedly_loses_nothing(faulty, worker, reference):
    worker.kill()  # the shared worker would compete with the ones this test kills
    worker.wait()
    jobs = faulty.submit(*[f"sleep1-batch-{i}.wav" for i in range(20)])
    for round_ in range(3):
        victim = faulty.start_worker(f"victim-{round_}")
        _wait_until_some_job_runs(faulty, jobs)
        faulty.stack.kill_worker(victim)
        victim.wait()
        TALLY["faults injected"] += 1
    faulty.start_worker("survivor")
    # A job interrupted on maxReceiveCount deliveries (a dead worker's open long poll counts as
    # one) is dead-lettered, as a poison job would be: not lost, and redrive brings it back.
    exhausted = eventually(lambda: _interrupted_to_the_dlq(faulty, jobs), "every job COMPLETED or dead-lettered",
                           timeout_s=240, interval_s=2)
    if exhausted != {"none"}:
        assert run_cli(faulty.env, "dlq", "redrive", *exhausted).returncode == 0
    records = faulty.wait_final(jobs, 120)
    lost = [s for s in jobs if records[s]["status"] != "COMPLETED"]
    TALLY["lost"] += len(lost)
    TALLY["completed"] += len(jobs) - len(lost)
    assert not lost, [records[s] for s in lost]
    assert all(faulty.artifacts(records[s]) == reference for s in jobs)
    assert sum(faulty.runs(s) for s in jobs) > len(jobs)  # the kills did interrupt jobs


class _Canary:
    """Unpickling this creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def _wait_for_dead_letters(faulty, wanted: set, key: str = "sample_id", timeout_s: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        dead = faulty.dead_letters()
        if wanted <= {m[key] for m in dead} or time.monotonic() > deadline:
            return dead
        time.sleep(2)


def _interrupted_to_the_dlq(faulty, jobs) -> set[str] | None:
    """The jobs that are in the DLQ ({"none"} if none are), once every other job COMPLETED; else None."""
    unfinished = {s for s in jobs if faulty.records.get(s)["status"] != "COMPLETED"}
    if not unfinished:
        return {"none"}
    dead = {m["sample_id"] for m in faulty.dead_letters()}
    return unfinished if unfinished <= dead else None


def _wait_until_some_job_runs(faulty, jobs, timeout_s: float = 60) -> None:
    before = sum(faulty.runs(s) for s in jobs)
    deadline = time.monotonic() + timeout_s
    while sum(faulty.runs(s) for s in jobs) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # mid-job: every job sleeps 1 s after it starts
