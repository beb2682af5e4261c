"""The nastiest bodies SQS accepts, sent with boto3 to the session's real worker and read by the DLQ tools.

Before the fix, each of the ``KILLERS`` ended a worker with "Unrecoverable error" (reproduced
against the emulator; the generated variants are in ``test_job_reading``). Now each is
rejected once per receive with one bounded log line naming its SQS message id, and SQS
dead-letters it after ``maxReceiveCount`` receives; the two hostile *jobs* (a routing key
naming another queue, headers that would change how it runs) run like any job; the worker's
main process is the same one throughout.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from audio_tasks import aws
from audio_tasks.logs import MAX_LINE_CHARS
from tests.support import celery_message, eventually, final_record, json_lines, log_lines, run_cli, send_body

pytestmark = pytest.mark.e2e

TASK = "audio_tasks.process_sample"
MAX_SQS_BODY = 1024 * 1024 - 1  # SQS: "Message must be shorter than 1048576 bytes"


def _envelope(**changes) -> str:
    """A real Celery envelope for a job, with some top-level or header fields replaced."""
    message = json.loads(base64.b64decode(celery_message(TASK, ["s-hostile", "audio-tasks-input", "incoming/x.wav"])))
    for name, value in changes.items():
        if name.startswith("headers_"):
            message["headers"][name.removeprefix("headers_")] = value
        else:
            message[name] = value
    return base64.b64encode(json.dumps(message).encode()).decode()


KILLERS = {
    "nesting in the arguments (10 KB)": celery_message(TASK, [], body=("[" * 5000 + "]" * 5000).encode()),
    "nesting, 60 KB": "[" * 60_000,
    "nesting, 200 KB": "[" * 100_000 + "]" * 100_000,
    "task name is a list": _envelope(headers_task=[TASK]),
    "task id is an object": _envelope(headers_id={"a": 1}),
    "headers are text": _envelope(headers="headers"),
    "properties are text": _envelope(properties="properties"),
    "content type is a list": _envelope(**{"content-type": ["application/json"]}),
    "body is not base64": _envelope(body="!!!not base64"),
    "body is not UTF-8": _envelope(body=base64.b64encode(b"\xff\xfe[1]").decode()),
    "duplicate keys": '{"bucket": "a", "bucket": "b", "key": "k"}',
    "NaN": '{"bucket": NaN, "key": Infinity}',
    "a 900 KB array": json.dumps([0] * 300_000),
    "a 1 MiB envelope with a huge sample id": celery_message(TASK, ["x" * (MAX_SQS_BODY * 9 // 16 - 3000), "b", "k"]),
    "a 1 MiB body": "x" * MAX_SQS_BODY,
}


@pytest.fixture(scope="module")
def dead_lettered(stack, worker):
    """Each killer sent once; returns {message id: kind} once each was rejected maxReceiveCount (3) times."""
    pid = worker.pid
    sent = {send_body(stack, body): kind for kind, body in KILLERS.items()}

    def all_rejected_three_times():
        rejected = _rejections(stack, sent)
        return rejected if all(len(rejected[m]) >= 3 for m in sent) else None

    rejected = eventually(all_rejected_three_times, "every hostile message to be rejected three times")
    assert worker.poll() is None and worker.pid == pid  # the same main process, alive
    return sent, rejected


def _rejections(stack, message_ids) -> dict[str, list[dict]]:
    rejected = {m: [] for m in message_ids}
    for line in log_lines(stack.log_path("worker"), "message_rejected"):
        if line.get("event") == "message_rejected" and line["error"]["message_id"] in rejected:
            rejected[line["error"]["message_id"]].append(line)
    return rejected


def test_each_hostile_message_is_rejected_once_per_receive_and_never_stops_the_worker(stack, dead_lettered):
    sent, rejected = dead_lettered
    for message_id, kind in sent.items():
        assert [line["error"]["receive_count"] for line in rejected[message_id]] == [1, 2, 3], kind
        assert all(line["error"]["message"] and line["error"]["code"] for line in rejected[message_id]), kind


def test_every_line_the_worker_wrote_is_one_bounded_json_object(stack, dead_lettered):
    lines = [t for t in stack.log_path("worker").read_text(errors="replace").splitlines() if t.startswith("{")]
    assert max(len(line) for line in lines) <= MAX_LINE_CHARS
    json_lines("\n".join(lines))


def test_the_dlq_tools_read_every_hostile_message_and_leave_none_hidden(stack, dead_lettered):
    sent, _ = dead_lettered

    def every_one_listed():
        listing = run_cli(stack.env, "dlq", "list", "--json")
        assert listing.returncode == 0, listing.stderr
        listed = {info["message_id"]: info for info in json_lines(listing.stdout)}
        return listed if set(sent) <= set(listed) else None

    # SQS moves a message to the DLQ on the receive after its third, not at the third's rejection.
    listed = eventually(every_one_listed, "every hostile message in the DLQ")
    assert all(listed[m]["error"]["message"] for m in sent)
    sqs = aws.client("sqs", stack.settings)
    hidden = sqs.get_queue_attributes(QueueUrl=stack.env["SQS_DLQ_URL"], AttributeNames=["All"])["Attributes"]
    assert hidden["ApproximateNumberOfMessagesNotVisible"] == "0"  # released by `dlq list`
    biggest = next(m for m, kind in sent.items() if kind == "a 1 MiB body")
    shown = run_cli(stack.env, "dlq", "show", biggest)
    assert shown.returncode == 0 and json.loads(shown.stdout)["error"]["code"] == "invalid_message"


@pytest.mark.parametrize("changes", [
    {"properties": {"delivery_info": {"exchange": "", "routing_key": "messages"}}},  # kombu acked through 'messages'
    {"headers_timelimit": "abc", "headers_eta": {"x": 1}, "headers_expires": [1]},  # never read
], ids=["a routing key naming another queue", "headers that would change how it runs"])
def test_a_hostile_job_runs_as_the_job_it_names(stack, worker, changes):
    sample_id = f"hostile-{uuid.uuid4()}"
    message = json.loads(base64.b64decode(celery_message(TASK, [sample_id, stack.env["INPUT_BUCKET"], "incoming/none.wav"])))
    for name, value in changes.items():
        if name.startswith("headers_"):
            message["headers"][name.removeprefix("headers_")] = value
        else:
            message[name].update(value)
    pid = worker.pid
    send_body(stack, base64.b64encode(json.dumps(message).encode()).decode())
    assert final_record(stack, sample_id)["error"]["code"] == "missing_input"
    eventually(lambda: [line for line in log_lines(stack.log_path("worker"), sample_id)
                        if "raised expected" in line["message"]], "Celery's line that the task ended")
    # The ack follows that line; a worker whose ack failed would not run the next job.
    follow_up = f"hostile-follow-up-{uuid.uuid4()}"
    send_body(stack, celery_message(TASK, [follow_up, stack.env["INPUT_BUCKET"], "incoming/none.wav"]))
    assert final_record(stack, follow_up)["error"]["code"] == "missing_input"
    assert worker.poll() is None and worker.pid == pid


def test_a_dlq_reader_that_fails_still_releases_every_message_it_held(stack, dead_lettered, monkeypatch):
    from producer import dlq

    monkeypatch.setattr(dlq, "describe", lambda message: 1 / 0)  # a reading that fails, whatever the cause
    with pytest.raises(ZeroDivisionError):
        with dlq.DeadLetters(stack.settings):
            pass
    sqs = aws.client("sqs", stack.settings)
    attributes = sqs.get_queue_attributes(QueueUrl=stack.env["SQS_DLQ_URL"], AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) >= len(dead_lettered[0])
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
