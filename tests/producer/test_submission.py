"""``audio-tasks submit`` in bulk: S3 prefixes, batches, resuming, and no record left QUEUED without a job.

Each test sends to a queue of its own (the session worker consumes the stack's work queue), so
what the CLI sent can be read back.
"""

import base64
import json
import uuid

import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from audio_tasks.message import JobArguments, derived_sample_id
from tests.support import json_lines, run_cli


@pytest.fixture
def env(stack):
    """The stack's environment with a queue of this test's own."""
    sqs = aws.client("sqs", stack.settings)
    url = sqs.create_queue(QueueName=f"submit-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield {**stack.env, "SQS_QUEUE_URL": url}
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def prefix(stack):
    """``s3://input/<prefix>/`` holding 23 WAV keys (some nested) and two other files."""
    s3 = aws.client("s3", stack.settings)
    bucket, root = stack.env["INPUT_BUCKET"], f"incoming/bulk-{uuid.uuid4().hex[:8]}/"
    keys = [f"{root}{'day2/' if i % 3 else ''}take-{i:02d}.wav" for i in range(23)]
    for key in keys + [f"{root}notes.txt", f"{root}day2/cover.png"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return f"s3://{bucket}/{root}", {f"s3://{bucket}/{key}" for key in keys}


def _errors(stderr: str) -> list[dict]:
    """The JSON error lines of ``submit --json``'s stderr (its progress lines are text)."""
    return json_lines("\n".join(line for line in stderr.splitlines() if line.startswith("{")))


def _jobs_on(env, stack) -> list[JobArguments]:
    """Every job message on the test's queue, read back through Celery's envelope (then left to expire)."""
    sqs = aws.client("sqs", stack.settings)
    jobs = []
    while batch := sqs.receive_message(QueueUrl=env["SQS_QUEUE_URL"], MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", []):
        for message in batch:
            envelope = json.loads(base64.b64decode(message["Body"]))
            assert envelope["headers"]["task"] == "audio_tasks.process_sample"
            args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
            jobs.append(JobArguments.bind(args, kwargs))
    return jobs


def test_a_prefix_is_submitted_in_batches_with_records_before_jobs(stack, env, prefix):
    uri, wavs = prefix
    run = run_cli(env, "submit", uri, "--include", "*.wav", "--json")
    assert run.returncode == 0, run.stderr
    samples = json_lines(run.stdout)
    assert {s["input"] for s in samples} == wavs
    assert {(s["status"], s["action"]) for s in samples} == {("QUEUED", "queued")}
    assert "submit: 23/23: 23 queued, 0 resent, 0 skipped, 0 failed" in run.stderr
    jobs = _jobs_on(env, stack)
    assert sorted(job.sample_id for job in jobs) == sorted(s["sample_id"] for s in samples)
    records = SampleRecords(stack.settings).get_many([s["sample_id"] for s in samples])
    assert {f"s3://{job.bucket}/{job.key}" for job in jobs} == {r["input_uri"] for r in records.values()} == wavs
    s3, bucket = aws.client("s3", stack.settings), stack.env["INPUT_BUCKET"]
    for job in jobs[:3]:  # the ids README documents: the object's bucket, key and ETag (S3's, unquoted)
        etag = s3.head_object(Bucket=bucket, Key=job.key)["ETag"].strip('"')
        assert job.sample_id == derived_sample_id(bucket, job.key, etag=etag)


def test_re_running_a_submission_skips_what_started_and_resends_what_did_not(stack, env, prefix):
    uri, _ = prefix
    first = {s["input"]: s["sample_id"] for s in json_lines(run_cli(env, "submit", uri, "--json").stdout)}
    records = SampleRecords(stack.settings)
    done, lost, waiting = sorted(first.values())[:3]
    records.start(done, next(uri for uri, sample_id in first.items() if sample_id == done))
    records.complete(done, {})
    records.fail(lost, {"code": "enqueue_failed", "message": "the queue was unreachable"})
    _jobs_on(env, stack)  # empty the queue: what follows is the second run's

    again = run_cli(env, "submit", uri, "--json")
    assert again.returncode == 0, again.stderr
    by_id = {s["sample_id"]: s for s in json_lines(again.stdout)}
    assert {s["input"]: s["sample_id"] for s in by_id.values()} == first  # the same samples
    assert (by_id[done]["action"], by_id[done]["status"]) == ("skipped", "COMPLETED")
    assert by_id[lost]["action"] == by_id[waiting]["action"] == "resent"
    assert records.get(lost)["status"] == "QUEUED"
    assert sorted(job.sample_id for job in _jobs_on(env, stack)) == sorted(set(first.values()) - {done})

    fresh = json_lines(run_cli(env, "submit", uri, "--json", "--resubmit").stdout)
    assert {s["action"] for s in fresh} == {"queued"} and not {s["sample_id"] for s in fresh} & set(first.values())


def test_jobs_that_cannot_be_sent_leave_their_records_failed_and_a_re_run_sends_them(stack, env, prefix):
    uri, wavs = prefix
    gone = run_cli({**env, "SQS_QUEUE_URL": env["SQS_QUEUE_URL"] + "-gone"}, "submit", uri, "--include", "*.wav",
                   "--json")
    assert gone.returncode == 1
    errors = _errors(gone.stderr)
    assert {e["input"] for e in errors} == wavs
    assert {e["error"]["code"] for e in errors} == {"enqueue_failed"}
    records = SampleRecords(stack.settings)
    ids = [e["sample_id"] for e in errors]
    assert {r["status"] for r in records.get_many(ids).values()} == {"FAILED"}

    again = run_cli(env, "submit", uri, "--include", "*.wav", "--json")
    assert again.returncode == 0, again.stderr
    assert {s["action"] for s in json_lines(again.stdout)} == {"resent"}
    assert {r["status"] for r in records.get_many(ids).values()} == {"QUEUED"}
    assert len(_jobs_on(env, stack)) == len(wavs)


def test_local_files_are_uploaded_once_and_named_inputs_checked_first(stack, env, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"RIFF one")
    b.write_bytes(b"RIFF two")
    missing = f"s3://{stack.env['INPUT_BUCKET']}/incoming/{uuid.uuid4()}/gone.wav"
    run = run_cli(env, "submit", str(a), str(b), missing, "--json")
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert error["input"] == missing and error["error"]["code"] == "missing_input"
    samples = {s["input"]: s for s in json_lines(run.stdout)}
    records = SampleRecords(stack.settings)
    s3 = aws.client("s3", stack.settings)
    for path in (a, b):
        record = records.get(samples[str(path)]["sample_id"])
        bucket, key = record["input_uri"][len("s3://"):].split("/", 1)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == path.read_bytes()
    again = json_lines(run_cli(env, "submit", str(a), "--json").stdout)
    assert [(s["sample_id"], s["action"]) for s in again] == [(samples[str(a)]["sample_id"], "resent")]


@pytest.fixture
def run_task_env(stack, env):
    """``env`` under ``DISPATCH_MODE=run-task``, with a cluster, a Fargate task definition and a network (RunTask
    checks the subnet and group exist) of the test's own."""
    ecs, ec2 = aws.client("ecs", stack.settings), aws.client("ec2", stack.settings)
    name = f"submit-{uuid.uuid4().hex[:8]}"
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's RunTask names each task's ENI
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName=name, Description="one-off tasks")["GroupId"]
    ecs.create_cluster(clusterName=name)
    definition = ecs.register_task_definition(
        family=name, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "worker", "image": "audio-tasks", "memory": 512}])["taskDefinition"]
    return {**env, "DISPATCH_MODE": "run-task", "ECS_CLUSTER": name,
            "WORKER_TASK_DEFINITION": definition["taskDefinitionArn"], "WORKER_SUBNETS": subnet,
            "WORKER_SECURITY_GROUPS": group}


def _started_tasks(stack, cluster: str) -> list[dict]:
    ecs = aws.client("ecs", stack.settings)
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def test_under_run_task_each_job_starts_a_one_off_task_and_is_noted_in_its_record(stack, run_task_env, prefix):
    uri, wavs = prefix
    run = run_cli(run_task_env, "submit", uri, "--include", "*.wav", "--json")
    assert run.returncode == 0, run.stderr
    samples = {s["sample_id"]: s["input"] for s in json_lines(run.stdout)}
    assert set(samples.values()) == wavs
    started = {}
    for task in _started_tasks(stack, run_task_env["ECS_CLUSTER"]):
        assert task["taskDefinitionArn"] == run_task_env["WORKER_TASK_DEFINITION"]
        [override] = task["overrides"]["containerOverrides"]
        environment = {e["name"]: e["value"] for e in override["environment"]}
        started[environment.pop("SAMPLE_ID")] = environment
    expected = {sample_id: dict(zip(("S3_BUCKET", "S3_KEY"), parse_s3_uri(input_uri)), PROCESSING_MODE="task")
                for sample_id, input_uri in samples.items()}
    assert started == expected  # one task per sample, nothing else
    records = SampleRecords(stack.settings).get_many(list(samples))
    assert {(r["status"], r["dispatched_via"]) for r in records.values()} == {("QUEUED", "run-task")}
    assert _jobs_on(run_task_env, stack) == []  # nothing went to the queue


def test_under_run_task_options_are_refused_up_front_and_a_task_that_cannot_start_fails_its_record(
        stack, run_task_env, prefix):
    uri, wavs = prefix
    refused = run_cli(run_task_env, "submit", uri, "--include", "*.wav", "--preset", "streaming", "--json")
    assert refused.returncode == 1 and refused.stdout == ""
    errors = _errors(refused.stderr)
    assert {e["input"] for e in errors} == wavs
    assert {(e["error"]["code"], e["error"]["message"]) for e in errors} == {(
        "invalid_request", "a one-off task (DispatchMode=run-task) takes no job options: submit it without --preset")}
    assert SampleRecords(stack.settings).get_many([e["sample_id"] for e in errors]) == {}  # nothing written

    gone = {**run_task_env, "WORKER_TASK_DEFINITION": run_task_env["WORKER_TASK_DEFINITION"] + "-gone"}
    failed = run_cli(gone, "submit", uri, "--include", "*.wav", "--json")
    assert failed.returncode == 1
    errors = _errors(failed.stderr)
    assert {e["input"] for e in errors} == wavs and {e["error"]["code"] for e in errors} == {"enqueue_failed"}
    assert all("RunTask" in e["error"]["message"] for e in errors), errors[0]
    records = SampleRecords(stack.settings).get_many([e["sample_id"] for e in errors])
    assert {(r["status"], r["error"]["code"]) for r in records.values()} == {("FAILED", "enqueue_failed")}
    assert _started_tasks(stack, run_task_env["ECS_CLUSTER"]) == []
