"""The CloudFormation template deployed into the emulator, then one job run on its outputs.

moto's CloudFormation creates the queues, IAM roles, log groups, ECS cluster, task
definition and service, and the Lambda function. The resource types it cannot create
(``NOT_IN_MOTO_CLOUDFORMATION``, listed in the README) are applied after the stack
through their own APIs, with the template's properties resolved against the stack —
botocore validates them against AWS's API models, and moto checks, for instance, that
the scalable target names the stack's ECS service. Properties moto's CloudFormation
silently drops (the service's launch type, grace period, circuit breaker; the cluster's
Container Insights) are checked from the template in test_deploy_template.py.

Then a worker started through ``docker/entrypoint.sh`` with the task definition's own
environment, and the Lambda handler with the function's own environment, run one job.
This module has an emulator of its own with moto's request recorder on; each process
signs with its own access key id, so every request is attributed to the worker or the
Lambda, and each role is checked to allow every call its process really made.
"""

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.local_stack import LocalStack
from deploy import lambda_package
from deploy import template as cfn
from producer.demo import write_wav
from producer.submission import wait_for_final
from tests.producer.test_lambda_handler import invoke
from tests.support import ARTIFACTS, REPO

pytestmark = pytest.mark.e2e

NOT_IN_MOTO_CLOUDFORMATION = {"AWS::SQS::QueuePolicy", "AWS::ApplicationAutoScaling::ScalableTarget",
                              "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::CloudWatch::Alarm"}
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
T = cfn.load()


WORKER_KEY, LAMBDA_KEY = "stack-worker", "stack-lambda"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """A LocalStack of this module's own, whose emulator can record every request."""
    recording = tmp_path_factory.mktemp("recording") / "requests.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_RECORDER_FILEPATH", str(recording))  # read once, when the emulator starts
        local = LocalStack(ARTIFACTS / "logs" / "deploy").__enter__()
    local.recording = recording
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def deployed(emulator, tmp_path_factory):
    """The stack created from the template; returns (name, parameters, outputs, resources)."""
    settings = emulator.settings
    package = lambda_package.build(tmp_path_factory.mktemp("lambda") / "lambda.zip", code_only=True)
    s3 = aws.client("s3", settings)
    s3.create_bucket(Bucket="audio-tasks-deploy")
    s3.upload_file(str(package), "audio-tasks-deploy", "lambda/audio-tasks-lambda.zip")
    env_name = f"e2e{uuid.uuid4().hex[:6]}"
    parameters = {
        "EnvironmentName": env_name, "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/audio-tasks:test",
        "Subnets": "subnet-0a,subnet-0b", "SecurityGroups": "sg-0a", "InputBucketName": settings.input_bucket,
        "OutputBucketName": settings.output_bucket, "SamplesTableName": settings.samples_table,
        "LambdaCodeBucket": "audio-tasks-deploy",
    }
    cloudformation = aws.client("cloudformation", settings)
    cloudformation.create_stack(StackName=env_name, TemplateBody=cfn.PATH.read_text(), Capabilities=["CAPABILITY_IAM"],
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    deadline = time.monotonic() + 60
    while (description := cloudformation.describe_stacks(StackName=env_name)["Stacks"][0])["StackStatus"] \
            .endswith("IN_PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert description["StackStatus"] == "CREATE_COMPLETE", description
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
    resources = {r["LogicalResourceId"]: r
                 for r in cloudformation.list_stack_resources(StackName=env_name)["StackResourceSummaries"]}
    return env_name, parameters, outputs, resources


def test_the_emulator_creates_everything_but_the_listed_types(deployed):
    _, _, _, resources = deployed
    skipped = {r["Type"] for name, r in T.resources.items() if name not in resources and "Condition" not in r}
    assert skipped == NOT_IN_MOTO_CLOUDFORMATION
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())


def test_the_queues_have_the_seed_attributes(emulator, deployed):
    _, _, outputs, _ = deployed
    sqs = aws.client("sqs", emulator.settings)
    queue = sqs.get_queue_attributes(QueueUrl=outputs["AudioProcessingQueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["AudioProcessingDLQUrl"], AttributeNames=["All"])["Attributes"]
    assert queue["QueueArn"] == outputs["AudioProcessingQueueArn"]
    assert (queue["VisibilityTimeout"], queue["ReceiveMessageWaitTimeSeconds"], queue["SqsManagedSseEnabled"]) \
        == ("900", "20", "true")
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 3}
    assert (dlq["MessageRetentionPeriod"], dlq["SqsManagedSseEnabled"]) == (str(14 * 86400), "true")


def test_the_roles_are_scoped_to_the_stacks_own_resources(emulator, deployed):
    _, _, outputs, resources = deployed
    iam = aws.client("iam", emulator.settings)
    role_name = resources["CreateSampleRecordRole"]["PhysicalResourceId"].rsplit("/", 1)[-1]
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps CloudFormation-made inline policies as a Python repr
        document = ast.literal_eval(document)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["Enqueue"]["Resource"] == outputs["AudioProcessingQueueArn"]
    assert by_sid["SampleRecords"]["Resource"] == \
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{emulator.env['SAMPLES_TABLE']}"


# -- the types moto's CloudFormation skips, applied through their own APIs ---------------
NO_VALUE = object()


class Resolver:
    """Resolves the template's intrinsic functions against the deployed stack."""

    def __init__(self, emulator, deployed):
        self.env_name, parameters, self.outputs, resources = deployed
        self.values = {name: p.get("Default") for name, p in T.body["Parameters"].items()}
        self.values.update(parameters)
        self.values.update({k: r["PhysicalResourceId"] for k, r in resources.items()})
        self.values.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
                            "AWS::URLSuffix": "amazonaws.com"})
        self.numbers = {name for name, p in T.body["Parameters"].items() if p["Type"] == "Number"}
        self.sqs = aws.client("sqs", emulator.settings)

    def attribute(self, logical_id: str, name: str):
        url = self.values[logical_id]
        if name == "Arn":
            return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if name in ("QueueName", "Name"):
            return url.rsplit("/", 1)[-1]
        raise KeyError(f"{logical_id}.{name}")

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in map(self, node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if set(node) == {"Ref"}:
            value = self.values[node["Ref"]]
            return int(value) if node["Ref"] in self.numbers else value
        if set(node) == {"Fn::GetAtt"}:
            return self.attribute(*node["Fn::GetAtt"])
        if set(node) == {"Fn::Sub"}:
            def one(match):
                name = match.group(1)
                return self.attribute(*name.split(".")) if "." in name else str(self.values[name])
            return re.sub(r"\$\{([^}]+)\}", one, node["Fn::Sub"])
        if set(node) == {"Fn::If"}:  # every condition is false with the default parameters
            return self(node["Fn::If"][2])
        resolved = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def test_the_skipped_resources_are_accepted_by_their_apis(emulator, deployed):
    resolve = Resolver(emulator, deployed)
    settings = emulator.settings
    # Queue policy: set on both queues.
    policy = resolve(T.properties("AudioProcessingQueuePolicy"))
    for url in policy["Queues"]:
        resolve.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy["PolicyDocument"])})
        stored = resolve.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        assert json.loads(stored)["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Scalable target: moto checks that ResourceId names an existing ECS service.
    autoscaling = aws.client("application-autoscaling", settings)
    target = resolve(T.properties("WorkerScalableTarget"))
    autoscaling.register_scalable_target(**target)
    # Target tracking on metric math: botocore validates the structure against the API model.
    policy = resolve({k: v for k, v in T.properties("BacklogPerTaskScalingPolicy").items()
                      if k != "ScalingTargetId"})  # CloudFormation-only: the target registered above
    autoscaling.put_scaling_policy(ServiceNamespace=target["ServiceNamespace"], ResourceId=target["ResourceId"],
                                   ScalableDimension=target["ScalableDimension"], **policy)
    [stored] = autoscaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target["ResourceId"])[
        "ScalingPolicies"]
    metrics = stored["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
    dimensions = {d["Name"]: d["Value"] for m in metrics if "MetricStat" in m
                  for d in m["MetricStat"]["Metric"]["Dimensions"]}
    assert dimensions == {"QueueName": f"{resolve.env_name}-audio-processing",
                          "ClusterName": f"{resolve.env_name}-audio-processing",
                          "ServiceName": f"{resolve.env_name}-audio-processing"}
    # Alarms.
    cloudwatch = aws.client("cloudwatch", settings)
    names = []
    for logical_id in T.of_type("AWS::CloudWatch::Alarm"):
        alarm = resolve(T.properties(logical_id))
        cloudwatch.put_metric_alarm(**alarm)
        names.append(alarm["AlarmName"])
    stored = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert stored[f"{resolve.env_name}-audio-processing-oldest-message-age"]["Threshold"] == 1800


# -- one job on the stack's own outputs ----------------------------------------------------
@pytest.fixture(scope="module")
def stack_worker(emulator, deployed, tmp_path_factory):
    """``docker/entrypoint.sh`` in service mode with the task definition's environment."""
    env_name, _, _, _ = deployed
    ecs = aws.client("ecs", emulator.settings)
    [container] = ecs.describe_task_definition(taskDefinition=f"{env_name}-audio-processing")[
        "taskDefinition"]["containerDefinitions"]
    task_env = {e["name"]: e["value"] for e in container["environment"]}
    liveness = tmp_path_factory.mktemp("liveness") / "alive"
    _recorder(emulator, "start-recording")
    env = {**emulator.env, **task_env, "LIVENESS_FILE": str(liveness), "AWS_ACCESS_KEY_ID": WORKER_KEY,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    log_path = emulator.log_path("stack-worker")
    with open(log_path, "wb") as log:  # a fresh log: " ready." must be this worker's
        proc = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    yield proc, env, container
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_container_health_check_passes_on_a_running_worker(stack_worker):
    proc, env, container = stack_worker
    command = container["healthCheck"]["command"]
    assert command[0] == "CMD"
    run = subprocess.run(command[1:], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


@pytest.fixture(scope="module")
def job_done(emulator, deployed, stack_worker, tmp_path_factory):
    """One job from the Lambda handler to a COMPLETED record; returns (response, record)."""
    tmp_path = tmp_path_factory.mktemp("job")
    env_name, _, outputs, _ = deployed
    lambda_env = aws.client("lambda", emulator.settings).get_function_configuration(
        FunctionName=f"{env_name}-CreateSampleRecord")["Environment"]["Variables"]
    assert lambda_env["SQS_QUEUE_URL"] == outputs["AudioProcessingQueueUrl"]
    t = np.arange(22050) / 22050
    write_wav(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t)[:, None], 22050)
    key = f"{lambda_env['INPUT_PREFIX']}{uuid.uuid4()}/tone.wav"
    aws.client("s3", emulator.settings).upload_file(str(tmp_path / "tone.wav"), lambda_env["INPUT_BUCKET"], key)

    local = {k: emulator.env[k] for k in ("AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    [result] = invoke({**base, **local, **lambda_env, "AWS_ACCESS_KEY_ID": LAMBDA_KEY},
                      [{"bucket": lambda_env["INPUT_BUCKET"], "key": key}])
    response = result["response"]
    assert response["statusCode"] == 202, response
    finals, timed_out = wait_for_final(SampleRecords(emulator.settings), [response["sample_id"]], timeout_s=90)
    assert not timed_out
    return response, finals[response["sample_id"]]


def test_one_job_runs_end_to_end_on_the_stacks_outputs(emulator, deployed, job_done):
    _, _, outputs, _ = deployed
    response, record = job_done
    assert record["status"] == "COMPLETED", record
    assert record["results"]["duration_s"] == 1.0
    # Consumed from the stack's queue by the stack's worker: nothing left on either queue.
    sqs = aws.client("sqs", emulator.settings)
    for url in (outputs["AudioProcessingQueueUrl"], outputs["AudioProcessingDLQUrl"]):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) \
            == ("0", "0")
    assert response["sample_id"] in emulator.log_path("stack-worker").read_text()


# -- least privilege, by observation -----------------------------------------------------------
def _recorder(emulator, action: str) -> bytes:
    request = urllib.request.Request(f"{emulator.env['AWS_ENDPOINT_URL']}/moto-api/recorder/{action}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d+/[^/]+/([^/]+)/")


def _iam_action(entry: dict, service: str) -> str:
    """The IAM action a recorded request needs (JSON APIs by X-Amz-Target, S3 by method/path)."""
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    if "x-amz-target" in headers:
        return f"{service}:{headers['x-amz-target'].rsplit('.', 1)[-1]}"
    assert service == "s3", entry["url"]
    path = entry["url"].split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    if "/" not in path.strip("/"):
        return f"s3:{entry['method']} on a bucket"  # no bucket-level call is allowed to anyone
    return "s3:GetObject" if entry["method"] in ("GET", "HEAD") else "s3:PutObject"


def _calls_by_key(recording: Path) -> dict[str, set[str]]:
    """IAM actions per access key id, for the worker's and the Lambda's keys."""
    calls: dict[str, set[str]] = {WORKER_KEY: set(), LAMBDA_KEY: set()}
    for line in recording.read_text().splitlines():
        entry = json.loads(line)
        authorization = {k.lower(): v for k, v in entry["headers"].items()}.get("authorization", "")
        match = _CREDENTIAL.search(authorization)
        if match and match.group(1) in calls:
            calls[match.group(1)].add(_iam_action(entry, match.group(2)))
    return calls


def _role_actions(logical_id: str) -> set[str]:
    return {action for policy in T.properties(logical_id)["Policies"]
            for statement in policy["PolicyDocument"]["Statement"] if "Fn::If" not in statement
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}


def test_each_role_allows_every_call_its_process_made(emulator, stack_worker, job_done):
    calls = _calls_by_key(emulator.recording)
    worker, producer = calls[WORKER_KEY], calls[LAMBDA_KEY]
    # What one job needs at least; the retry and dead-letter paths add sqs:SendMessage.
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem"} <= worker
    assert worker <= _role_actions("TaskRole"), worker - _role_actions("TaskRole")
    assert producer == _role_actions("CreateSampleRecordRole") - {"logs:CreateLogStream", "logs:PutLogEvents"} \
        - {"dynamodb:UpdateItem"}  # UpdateItem: only when the send fails (test_lambda_handler.py)
