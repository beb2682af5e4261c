"""The CreateSampleRecord Lambda handler, run in a subprocess against the emulator.

A small harness invokes ``producer.lambda_handler.handler`` on each event and records
every AWS API call the process makes (botocore's ``_make_api_call``, which boto3 and
kombu's SQS producer both go through), so the Lambda role can be checked against the
calls the code really makes.
"""

import base64
import json
import subprocess
import sys
import uuid

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from deploy import template as cfn
from producer.demo import write_wav
from producer.submission import wait_for_final

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)

HARNESS = """
import json, sys
import botocore.client

calls = []
make_api_call = botocore.client.BaseClient._make_api_call

def recording(self, operation, params):
    calls.append(f"{self.meta.service_model.signing_name}:{operation}")
    return make_api_call(self, operation, params)

botocore.client.BaseClient._make_api_call = recording
from producer.lambda_handler import handler

results = []
for event in json.load(sys.stdin):
    calls.clear()
    try:
        results.append({"response": handler(event, None), "calls": list(calls)})
    except Exception as exc:  # the invocation fails: Lambda would retry it
        results.append({"raised": f"{type(exc).__name__}: {exc}", "calls": list(calls)})
print(json.dumps(results))
"""


def invoke(env: dict, events: list) -> list[dict]:
    """Run the handler on each event in one process (one cold start); returns responses and calls."""
    run = subprocess.run([sys.executable, "-c", HARNESS], input=json.dumps(events), env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for line in run.stderr.splitlines():
        json.loads(line)  # every log line is one JSON object
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def uploaded(stack, tmp_path_factory):
    """A real 1 s tone in the input bucket, under a key with a space."""
    path = tmp_path_factory.mktemp("lambda") / "tone.wav"
    t = np.arange(16000) / 16000
    write_wav(path, 0.3 * np.sin(2 * np.pi * 330 * t)[:, None], 16000)
    key = f"incoming/{uuid.uuid4()}/a tone.wav"
    aws.client("s3", stack.settings).upload_file(str(path), stack.env["INPUT_BUCKET"], key)
    return key, path.stat().st_size


def _s3_event(bucket: str, key: str, size: int, **object_fields) -> dict:
    encoded = key.replace(" ", "+")  # as S3 sends it
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket}, "object": {"key": encoded, "size": size,
                                                                       **object_fields}}}]}


def _api_event(body: dict, base64_encoded: bool = False) -> dict:
    text = json.dumps(body)
    if base64_encoded:
        text = base64.b64encode(text.encode()).decode()
    return {"httpMethod": "POST", "requestContext": {"stage": "prod"}, "body": text,
            "isBase64Encoded": base64_encoded}


@pytest.fixture(scope="module")
def accepted(stack, worker, uploaded):
    """The three event shapes (and base64 API bodies) for the same input, all accepted."""
    key, size = uploaded
    bucket = stack.env["INPUT_BUCKET"]
    events = [{"bucket": bucket, "key": key, "size": size}, _api_event({"bucket": bucket, "key": key}),
              _api_event({"bucket": bucket, "key": key}, base64_encoded=True), _s3_event(bucket, key, size)]
    return invoke(stack.env, events)


def _body(response: dict) -> dict:
    """The result inside any of the three reply shapes."""
    if "body" in response:
        return {"statusCode": response["statusCode"], **json.loads(response["body"])}
    if "results" in response:
        [result] = response["results"]
        return result
    return response


def test_every_event_shape_queues_a_sample_that_the_worker_completes(stack, accepted, uploaded):
    bodies = [_body(r["response"]) for r in accepted]
    assert [(b["statusCode"], b["status"]) for b in bodies] == [(202, "QUEUED")] * 4
    assert accepted[1]["response"]["headers"] == {"Content-Type": "application/json"}
    records = SampleRecords(stack.settings)
    finals, timed_out = wait_for_final(records, [b["sample_id"] for b in bodies], timeout_s=90)
    assert not timed_out
    expected_uri = f"s3://{stack.env['INPUT_BUCKET']}/{uploaded[0]}"
    assert {(r["status"], r["input_uri"]) for r in finals.values()} == {("COMPLETED", expected_uri)}


def test_an_existing_sample_id_is_a_conflict(stack, uploaded):
    bucket, key = stack.env["INPUT_BUCKET"], uploaded[0]
    sample_id = f"given-{uuid.uuid4()}"
    first, second = invoke(stack.env, [{"bucket": bucket, "key": key, "sample_id": sample_id}] * 2)
    assert first["response"] == {"statusCode": 202, "sample_id": sample_id, "status": "QUEUED"}
    assert second["response"]["statusCode"] == 409 and second["response"]["error"]["code"] == "sample_exists"


@pytest.fixture(scope="module")
def enqueue_failure(stack, uploaded):
    """The handler against a queue that does not exist: the send fails after the record exists."""
    missing_queue = stack.env["SQS_QUEUE_URL"].rsplit("/", 1)[0] + f"/no-such-queue-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "SQS_QUEUE_URL": missing_queue}
    [result] = invoke(env, [{"bucket": stack.env["INPUT_BUCKET"], "key": uploaded[0]}])
    return result


def test_a_failed_send_leaves_a_failed_record_not_a_queued_one(stack, enqueue_failure):
    response = enqueue_failure["response"]
    assert (response["statusCode"], response["status"], response["error"]["code"]) == (503, "FAILED", "enqueue_failed")
    record = SampleRecords(stack.settings).get(response["sample_id"])
    assert record["status"] == "FAILED" and record["error"]["code"] == "enqueue_failed"
    assert "QueueDoesNotExist" in record["error"]["message"] or "NonExistentQueue" in record["error"]["message"]


@pytest.fixture(scope="module")
def duplicated(stack, worker, uploaded):
    """One S3 event delivered three times: its job cannot be sent, then it can, then the sample is done."""
    key, size = uploaded
    event = _s3_event(stack.env["INPUT_BUCKET"], key, size, sequencer=uuid.uuid4().hex.upper())
    missing_queue = stack.env["SQS_QUEUE_URL"].rsplit("/", 1)[0] + f"/no-such-queue-{uuid.uuid4().hex[:8]}"
    [unsent] = invoke({**stack.env, "SQS_QUEUE_URL": missing_queue}, [event])
    [resent] = invoke(stack.env, [event])
    sample_id = _body(resent["response"])["sample_id"]
    finals, timed_out = wait_for_final(SampleRecords(stack.settings), [sample_id], timeout_s=90)
    assert not timed_out
    [answered] = invoke(stack.env, [event])
    return {"unsent": unsent, "resent": resent, "answered": answered, "final": finals[sample_id]}


def test_an_s3_event_whose_job_cannot_be_sent_fails_the_invocation(stack, duplicated):
    assert duplicated["unsent"]["raised"].startswith("NotQueued: 1 of 1 jobs could not be sent")


def test_a_duplicated_s3_event_is_one_sample_sent_again_only_while_it_may_be_lost(stack, duplicated):
    resent, answered = _body(duplicated["resent"]["response"]), _body(duplicated["answered"]["response"])
    assert (resent["statusCode"], resent["status"]) == (202, "QUEUED")  # it was FAILED: enqueue_failed
    assert "sqs:SendMessage" in duplicated["resent"]["calls"]
    assert answered == {"statusCode": 200, "sample_id": resent["sample_id"], "status": "COMPLETED"}
    assert duplicated["answered"]["calls"] == ["dynamodb:PutItem"]  # the refused write returned the record
    assert (duplicated["final"]["status"], duplicated["final"]["attempts"]) == ("COMPLETED", 1)


def test_the_lambda_role_allows_exactly_the_calls_the_handler_makes(accepted, enqueue_failure, duplicated):
    # Measured, not guessed: kombu declares the (predefined) queue once per process before
    # the first send, which reads its size (GetQueueAttributes); it never calls GetQueueUrl.
    # UpdateItem notes the dispatch in the record (the reconciler's sign it was sent).
    assert accepted[0]["calls"] == ["dynamodb:PutItem", "sqs:GetQueueAttributes", "sqs:SendMessage",
                                    "dynamodb:UpdateItem"]
    made = {call for result in [*accepted, enqueue_failure, *duplicated.values()] if "calls" in result
            for call in result["calls"]}
    template = cfn.load()  # service mode, the default: run-task's statements are not there
    statements = map(template.chosen, template.properties("CreateSampleRecordRole")["Policies"][0]["PolicyDocument"][
        "Statement"])
    allowed = {action for statement in statements if statement != {"Ref": "AWS::NoValue"}
               for action in statement["Action"] if not action.startswith("logs:")}
    assert made == allowed
