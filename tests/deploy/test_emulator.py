"""The CloudFormation template deployed into the emulator, then one job run on its outputs.

moto's CloudFormation creates the queues, IAM roles, log groups, ECS cluster, task
definition and service, and the Lambda function. The resource types it cannot create
(``NOT_IN_MOTO_CLOUDFORMATION``, listed in the README) are applied after the stack
through their own APIs, with the template's properties resolved against the stack —
botocore validates them against AWS's API models, and moto checks, for instance, that
the scalable target names the stack's ECS service. Properties moto's CloudFormation
silently drops (the service's launch type, grace period, circuit breaker; the cluster's
Container Insights) are checked from the template in test_template.py.

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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

import numpy as np
import pytest
from botocore.exceptions import ClientError

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.local_stack import LocalStack
from deploy import lambda_package
from deploy import template as cfn
from producer.demo import write_wav
from producer.submission import wait_for_final
from tests.producer.test_lambda_handler import invoke
from tests.support import ARTIFACTS, REPO, eventually

pytestmark = pytest.mark.e2e

_NOT_IN_MOTO = {"AWS::SQS::QueuePolicy", "AWS::ApplicationAutoScaling::ScalableTarget",
                "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::CloudWatch::Alarm", "AWS::Lambda::EventInvokeConfig",
                "AWS::SNS::TopicPolicy"}
NOT_IN_MOTO_CLOUDFORMATION = {  # by stack: the types only the second one has come with its options
    "deployed": _NOT_IN_MOTO,
    "deployed_every_option": _NOT_IN_MOTO | {"AWS::S3::BucketPolicy", "AWS::SNS::Subscription",
                                             "AWS::EC2::SecurityGroupEgress"}}
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


@dataclass(frozen=True)
class Deployed:
    name: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, dict]  # logical id -> stack resource summary

    @property
    def template(self) -> cfn.Template:
        """The template with this stack's parameters as defaults (to evaluate its conditions)."""
        return T.with_defaults(self.parameters)


def _create_stack(emulator, parameters: dict[str, str], update: bool = False) -> Deployed:
    """Create the stack (or, with ``update``, update it to ``parameters``, as ``cloudformation deploy`` does)."""
    cloudformation = aws.client("cloudformation", emulator.settings)
    name = parameters["EnvironmentName"]
    (cloudformation.update_stack if update else cloudformation.create_stack)(
        StackName=name, TemplateBody=cfn.PATH.read_text(), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    deadline = time.monotonic() + 60
    while (description := cloudformation.describe_stacks(StackName=name)["Stacks"][0])["StackStatus"] \
            .endswith("IN_PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert description["StackStatus"] == ("UPDATE_COMPLETE" if update else "CREATE_COMPLETE"), description
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
    resources = {r["LogicalResourceId"]: r  # moto also lists a blank summary (no id, no type): left out
                 for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
                 if r["LogicalResourceId"]}
    return Deployed(name, parameters, outputs, resources)


@pytest.fixture(scope="module")
def network(emulator):
    """A VPC with two subnets in two zones (Flower's load balancer needs real ones)."""
    ec2 = aws.client("ec2", emulator.settings)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")[
        "Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    return vpc, ",".join(subnets)


@pytest.fixture(scope="module")
def lambda_code(emulator, tmp_path_factory):
    package = lambda_package.build(tmp_path_factory.mktemp("lambda") / "lambda.zip", code_only=True)
    s3 = aws.client("s3", emulator.settings)
    s3.create_bucket(Bucket="audio-tasks-deploy")
    s3.upload_file(str(package), "audio-tasks-deploy", "lambda/audio-tasks-lambda.zip")
    return "audio-tasks-deploy"


def _base_parameters(network, lambda_code) -> dict[str, str]:
    vpc, subnets = network
    return {"EnvironmentName": f"e2e{uuid.uuid4().hex[:6]}", "VpcId": vpc, "Subnets": subnets,
            "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/audio-tasks:test", "SecurityGroups": "sg-0a",
            "LambdaCodeBucket": lambda_code}


@pytest.fixture(scope="module")
def deployed(emulator, network, lambda_code) -> Deployed:
    """The stack with default options, on the emulator's existing buckets and table."""
    settings = emulator.settings
    return _create_stack(emulator, {
        **_base_parameters(network, lambda_code), "InputBucketName": settings.input_bucket,
        "OutputBucketName": settings.output_bucket, "SamplesTableName": settings.samples_table})


@pytest.fixture(scope="module")
def deployed_every_option(emulator, network, lambda_code) -> Deployed:
    """A second stack with every option on (cfn.EVERY_OPTION_ON), its buckets and table its own."""
    settings = emulator.settings
    parameters = _base_parameters(network, lambda_code)
    name = parameters["EnvironmentName"]
    key = aws.client("kms", settings).create_key(Description=f"{name} storage")["KeyMetadata"]["Arn"]
    certificate = aws.client("acm", settings).request_certificate(DomainName="flower.audio.internal")["CertificateArn"]
    return _create_stack(emulator, {
        **{k: str(v) for k, v in cfn.EVERY_OPTION_ON.items()}, **parameters,
        "InputBucketName": f"{name}-in", "OutputBucketName": f"{name}-out", "SamplesTableName": f"{name}-samples",
        "KmsKeyArn": key, "FlowerCertificateArn": certificate})


@pytest.mark.parametrize("stack", ["deployed", "deployed_every_option"])
def test_the_emulator_creates_everything_but_the_listed_types(stack, request):
    deployment: Deployed = request.getfixturevalue(stack)
    template = deployment.template
    expected = {name: r for name, r in T.resources.items() if template.exists(name)}
    skipped = {r["Type"] for name, r in expected.items() if name not in deployment.resources}
    assert skipped == NOT_IN_MOTO_CLOUDFORMATION[stack]
    assert set(deployment.resources) <= set(expected)  # nothing whose condition is false
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in deployment.resources.values())


def test_the_queues_have_the_seed_attributes(emulator, deployed):
    outputs = deployed.outputs
    sqs = aws.client("sqs", emulator.settings)
    queue = sqs.get_queue_attributes(QueueUrl=outputs["AudioProcessingQueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["AudioProcessingDLQUrl"], AttributeNames=["All"])["Attributes"]
    assert queue["QueueArn"] == outputs["AudioProcessingQueueArn"]
    assert (queue["VisibilityTimeout"], queue["ReceiveMessageWaitTimeSeconds"], queue["SqsManagedSseEnabled"]) \
        == ("900", "20", "true")
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 3}
    assert (dlq["MessageRetentionPeriod"], dlq["SqsManagedSseEnabled"]) == (str(14 * 86400), "true")


def _inline_policy(emulator, deployment: Deployed, role_id: str) -> dict:
    iam = aws.client("iam", emulator.settings)
    role_name = deployment.resources[role_id]["PhysicalResourceId"].rsplit("/", 1)[-1]
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps CloudFormation-made inline policies as a Python repr
        document = ast.literal_eval(document)
    return {s["Sid"]: s for s in document["Statement"] if s is not None}  # moto keeps AWS::NoValue items as null


def test_the_roles_are_scoped_to_the_stacks_own_resources(emulator, deployed, deployed_every_option):
    by_sid = _inline_policy(emulator, deployed, "CreateSampleRecordRole")
    assert by_sid["Enqueue"]["Resource"] == deployed.outputs["AudioProcessingQueueArn"]
    assert by_sid["SampleRecords"]["Resource"] == \
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{emulator.env['SAMPLES_TABLE']}"
    assert "BucketKey" not in _inline_policy(emulator, deployed, "TaskRole")
    task = _inline_policy(emulator, deployed_every_option, "TaskRole")
    assert task["BucketKey"]["Resource"] == deployed_every_option.parameters["KmsKeyArn"]
    assert task["MissingInputIsNotFound"]["Condition"] == {"StringLike": {"s3:prefix": "incoming/*"}}


# -- the types moto's CloudFormation skips, applied through their own APIs ---------------
NO_VALUE = object()


class Resolver:
    """Resolves the template's intrinsic functions against a deployed stack."""

    def __init__(self, emulator, deployment: Deployed):
        self.env_name, self.outputs, self.template = deployment.name, deployment.outputs, deployment.template
        self.values = {name: p.get("Default") for name, p in T.body["Parameters"].items()}
        self.values.update(deployment.parameters)
        self.values.update({k: r["PhysicalResourceId"] for k, r in deployment.resources.items()})
        self.values.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
                            "AWS::URLSuffix": "amazonaws.com"})
        self.numbers = {name for name, p in T.body["Parameters"].items() if p["Type"] == "Number"}
        self.sqs = aws.client("sqs", emulator.settings)
        self.iam = aws.client("iam", emulator.settings)

    def attribute(self, logical_id: str, name: str):
        physical = self.values[logical_id]
        resource_type = T.resources[logical_id]["Type"]
        if resource_type == "AWS::SQS::Queue" and name == "Arn":
            return self.sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"]
        if resource_type == "AWS::IAM::Role" and name == "Arn":
            return self.iam.get_role(RoleName=physical.rsplit("/", 1)[-1])["Role"]["Arn"]
        if name in ("QueueName", "Name"):
            return physical.rsplit("/", 1)[-1]
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
        if set(node) == {"Fn::If"}:
            return self(self.template.chosen(node))
        resolved = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def properties(self, logical_id: str) -> dict:
        return self(T.properties(logical_id))

    def present(self, resource_type: str) -> list[str]:
        """This stack's resources of a type (conditions evaluated)."""
        return [name for name in T.of_type(resource_type) if self.template.exists(name)]


def _apply_queue_policies(resolve: Resolver) -> dict[str, dict]:
    """SetQueueAttributes(Policy) for each queue policy; returns the stored documents by queue URL."""
    stored = {}
    for logical_id in resolve.present("AWS::SQS::QueuePolicy"):
        policy = resolve.properties(logical_id)
        for url in policy["Queues"]:
            resolve.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy["PolicyDocument"])})
            stored[url] = json.loads(resolve.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])[
                "Attributes"]["Policy"])
    return stored


def _apply_alarms(emulator, resolve: Resolver) -> dict[str, dict]:
    cloudwatch = aws.client("cloudwatch", emulator.settings)
    names = []
    for logical_id in resolve.present("AWS::CloudWatch::Alarm"):
        alarm = resolve.properties(logical_id)
        cloudwatch.put_metric_alarm(**alarm)
        names.append(alarm["AlarmName"])
    return {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}


def test_the_skipped_resources_are_accepted_by_their_apis(emulator, deployed):
    resolve = Resolver(emulator, deployed)
    settings = emulator.settings
    # Queue policies: each on its queue; senders are the stack's roles, by ARN.
    policies = _apply_queue_policies(resolve)
    roles = {logical_id: resolve.attribute(logical_id, "Arn")
             for logical_id in ("CreateSampleRecordRole", "TaskRole", "ReconcilerRole")}
    senders = {url: next(s for s in doc["Statement"] if s["Sid"] == "SendOnlyFromTheStacksPrincipals")["Condition"][
        "ArnNotEquals"]["aws:PrincipalArn"] for url, doc in policies.items()}
    assert senders == {deployed.outputs["AudioProcessingQueueUrl"]: [roles["CreateSampleRecordRole"], roles["TaskRole"],
                                                                      roles["ReconcilerRole"]],
                       deployed.outputs["AudioProcessingDLQUrl"]: [roles["TaskRole"]],
                       deployed.outputs["CreateSampleRecordFailuresUrl"]: [roles["CreateSampleRecordRole"]]}
    # Scalable target: moto checks that ResourceId names an existing ECS service.
    autoscaling = aws.client("application-autoscaling", settings)
    target = resolve.properties("WorkerScalableTarget")
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
    # Alarms: all seven notify the topic the stack created (no AlarmTopicArn was given).
    alarms = _apply_alarms(emulator, resolve)
    topic = deployed.resources["AlarmTopic"]["PhysicalResourceId"]
    assert len(alarms) == 7 and all(a["AlarmActions"] == a["OKActions"] == [topic] for a in alarms.values())
    assert alarms[f"{resolve.env_name}-audio-processing-oldest-message-age"]["Threshold"] == 1800
    backlog = alarms[f"{resolve.env_name}-audio-processing-backlog-at-max-capacity"]
    assert [m["Expression"] for m in backlog["Metrics"] if "Expression" in m] == [
        "IF(FILL(desired, 0) >= 10, visible / IF(FILL(tasks, 0) >= 1, FILL(tasks, 0), 1), 0)"]
    # The alarm topic's policy: CloudWatch may publish for this stack's alarms.
    sns = aws.client("sns", settings)
    topic_policy = resolve.properties("AlarmTopicPolicy")
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(
        topic_policy["PolicyDocument"]))
    stored = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert stored["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] == \
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{resolve.env_name}-*"
    # The Lambda's asynchronous-invoke configuration, read back.
    lambda_client = aws.client("lambda", settings)
    lambda_client.put_function_event_invoke_config(**resolve.properties("CreateSampleRecordInvokeConfig"))
    config = lambda_client.get_function_event_invoke_config(FunctionName=f"{resolve.env_name}-CreateSampleRecord")
    failures_arn = resolve.attribute("CreateSampleRecordFailures", "Arn")
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 3600)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == failures_arn
    # Created by moto with its reserved concurrency.
    assert lambda_client.get_function_concurrency(FunctionName=f"{resolve.env_name}-CreateSampleRecord")[
        "ReservedConcurrentExecutions"] == 10


def _lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    api = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return api


def test_buckets_and_table_the_stack_creates(emulator, deployed_every_option):
    """moto creates the buckets (with their encryption) and the table but drops the rest; each
    dropped property is applied through its API and read back."""
    resolve = Resolver(emulator, deployed_every_option)
    s3 = aws.client("s3", emulator.settings)
    key = deployed_every_option.parameters["KmsKeyArn"]
    _apply_queue_policies(resolve)  # S3 -> SQS: the bucket's notification needs the queue policy first
    for bucket_id, policy_id in (("InputBucket", "InputBucketPolicy"), ("OutputBucket", "OutputBucketPolicy")):
        bucket = resolve.properties(bucket_id)
        name = bucket["BucketName"]
        [rule] = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=bucket["PublicAccessBlockConfiguration"])
        assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == \
            bucket["PublicAccessBlockConfiguration"]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
            "Rules": [_lifecycle_rule(r) for r in bucket["LifecycleConfiguration"]["Rules"]]})
    output = resolve.properties("OutputBucket")["BucketName"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=output)["Rules"]}
    assert rules["processed-expiry"]["Expiration"] == {"Days": 30}
    assert rules["processed-expiry"]["Filter"] == {"Prefix": "processed/"}
    # The input bucket: versioned, and in s3-to-sqs mode its uploads notify the work queue.
    bucket = resolve.properties("InputBucket")
    s3.put_bucket_versioning(Bucket=bucket["BucketName"], VersioningConfiguration=bucket["VersioningConfiguration"])
    assert s3.get_bucket_versioning(Bucket=bucket["BucketName"])["Status"] == "Enabled"
    [notification] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    s3.put_bucket_notification_configuration(Bucket=bucket["BucketName"], NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": notification["Queue"], "Events": [notification["Event"]],
                                 "Filter": {"Key": {"FilterRules": notification["Filter"]["S3Key"]["Rules"]}}}]})
    queue_url = deployed_every_option.outputs["AudioProcessingQueueUrl"]
    s3.put_object(Bucket=bucket["BucketName"], Key="elsewhere/x.wav", Body=b"not under the prefix")
    s3.put_object(Bucket=bucket["BucketName"], Key="incoming/one/x.wav", Body=b"RIFF")
    bodies = [json.loads(m["Body"]) for m in resolve.sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])]
    records = [r for b in bodies for r in b.get("Records", [])]
    # S3 URL-encodes the key in its events (as AWS does).
    assert [(r["eventName"], r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"])) for r in records] == \
        [("ObjectCreated:Put", bucket["BucketName"], "incoming/one/x.wav")]
    # TLS only: moto evaluates bucket policies, and the emulator is plain HTTP, so the policy
    # must refuse every request after it is set.
    for policy_id in ("InputBucketPolicy", "OutputBucketPolicy"):
        policy = resolve.properties(policy_id)
        name = policy["Bucket"]
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy["PolicyDocument"]))
        [deny] = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
        assert deny["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=name, Key="incoming/two/x.wav", Body=b"RIFF")
        assert refused.value.response["Error"]["Code"] in ("403", "AccessDenied")
    # The table: moto keeps its key schema; it drops point-in-time recovery (applied through
    # its API) and its encryption, which moto can neither store nor update (asserted from
    # the template in test_template.py).
    table = resolve.properties("SamplesTable")
    dynamodb = aws.client("dynamodb", emulator.settings)
    assert dynamodb.describe_table(TableName=table["TableName"])["Table"]["KeySchema"] == table["KeySchema"]
    dynamodb.update_continuous_backups(TableName=table["TableName"],
                                       PointInTimeRecoverySpecification=table["PointInTimeRecoverySpecification"])
    assert dynamodb.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_flower_behind_its_load_balancer(emulator, deployed_every_option):
    resolve = Resolver(emulator, deployed_every_option)
    settings = emulator.settings
    elbv2 = aws.client("elbv2", settings)
    [balancer] = elbv2.describe_load_balancers(Names=[f"{resolve.env_name}-audio-flower"])["LoadBalancers"]
    assert balancer["Scheme"] == "internal"
    [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    assert listener["Certificates"] == [{"CertificateArn": deployed_every_option.parameters["FlowerCertificateArn"]}]
    ec2 = aws.client("ec2", settings)
    lb_group, task_group = (deployed_every_option.resources[k]["PhysicalResourceId"]
                            for k in ("FlowerLoadBalancerSecurityGroup", "FlowerSecurityGroup"))
    # Egress from the load balancer to the task: not created by moto, applied through its API.
    egress = resolve.properties("FlowerLoadBalancerToTask")
    ec2.authorize_security_group_egress(GroupId=egress["GroupId"], IpPermissions=[{
        "IpProtocol": egress["IpProtocol"], "FromPort": egress["FromPort"], "ToPort": egress["ToPort"],
        "UserIdGroupPairs": [{"GroupId": egress["DestinationSecurityGroupId"], "Description": egress["Description"]}]}])
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[lb_group, task_group])["SecurityGroups"]}
    [clients] = groups[lb_group]["IpPermissions"]
    assert (clients["FromPort"], clients["ToPort"], clients["IpRanges"][0]["CidrIp"]) == (443, 443, "10.20.0.0/16")
    [from_lb] = groups[task_group]["IpPermissions"]
    assert (from_lb["FromPort"], [p["GroupId"] for p in from_lb["UserIdGroupPairs"]]) == (5555, [lb_group])
    assert any(p.get("UserIdGroupPairs") and p["UserIdGroupPairs"][0]["GroupId"] == task_group
               for p in groups[lb_group]["IpPermissionsEgress"])
    # The alarm e-mail subscription (not created by moto), through its API.
    subscription = resolve.properties("AlarmEmailSubscription")
    sns = aws.client("sns", settings)
    sns.subscribe(**subscription)
    [stored] = sns.list_subscriptions_by_topic(TopicArn=subscription["TopicArn"])["Subscriptions"]
    assert (stored["Protocol"], stored["Endpoint"]) == ("email", "oncall@example.com")


# -- one job on the stack's own outputs ----------------------------------------------------
@pytest.fixture(scope="module")
def stack_worker(emulator, deployed, tmp_path_factory):
    """``docker/entrypoint.sh`` in service mode with the task definition's environment."""
    env_name = deployed.name
    ecs = aws.client("ecs", emulator.settings)
    [container] = ecs.describe_task_definition(taskDefinition=f"{env_name}-audio-processing")[
        "taskDefinition"]["containerDefinitions"]
    task_env = {e["name"]: e["value"] for e in container["environment"]}
    liveness = tmp_path_factory.mktemp("liveness") / "alive"
    _recorder(emulator, "start-recording")
    env = {**_container_env(emulator, task_env), "LIVENESS_FILE": str(liveness), "AWS_ACCESS_KEY_ID": WORKER_KEY}
    proc = _start_service_container(emulator, env, "stack-worker")
    yield proc, env, container
    _stop_container(proc)


def _container_env(emulator, environment: dict) -> dict:
    """What a container of the stack's task definition sees, pointed at the emulator."""
    return {**emulator.env, **environment, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                   os.environ["PATH"]])}


def _start_service_container(emulator, env: dict, name: str) -> subprocess.Popen:
    """``docker/entrypoint.sh`` in service mode, once its worker is ready."""
    log_path = emulator.log_path(name)
    with open(log_path, "wb") as log:  # a fresh log: " ready." must be this worker's
        proc = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    return proc


def _stop_container(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_container_health_check_passes_on_a_running_worker(stack_worker):
    proc, env, container = stack_worker
    command = container["healthCheck"]["command"]
    assert command[0] == "CMD"
    run = subprocess.run(command[1:], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


def _lambda_env(emulator, deployment: Deployed) -> dict:
    return aws.client("lambda", emulator.settings).get_function_configuration(
        FunctionName=f"{deployment.name}-CreateSampleRecord")["Environment"]["Variables"]


def _submit_through_the_lambda(emulator, deployment: Deployed, tmp_path: Path, key_id: str = LAMBDA_KEY) -> dict:
    """A 1 s tone uploaded under the stack's input prefix, then the Lambda handler run on it with the
    function's own environment (as deployed now), signing as ``key_id``; returns its 202 response."""
    lambda_env = _lambda_env(emulator, deployment)
    assert lambda_env["SQS_QUEUE_URL"] == deployment.outputs["AudioProcessingQueueUrl"]
    t = np.arange(22050) / 22050
    write_wav(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t)[:, None], 22050)
    key = f"{lambda_env['INPUT_PREFIX']}{uuid.uuid4()}/tone.wav"
    aws.client("s3", emulator.settings).upload_file(str(tmp_path / "tone.wav"), lambda_env["INPUT_BUCKET"], key)
    local = {k: emulator.env[k] for k in ("AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    [result] = invoke({**base, **local, **lambda_env, "AWS_ACCESS_KEY_ID": key_id},
                      [{"bucket": lambda_env["INPUT_BUCKET"], "key": key}])
    assert result["response"]["statusCode"] == 202, result
    return result["response"]


@pytest.fixture(scope="module")
def job_done(emulator, deployed, stack_worker, tmp_path_factory):
    """One job from the Lambda handler to a COMPLETED record; returns (response, record)."""
    response = _submit_through_the_lambda(emulator, deployed, tmp_path_factory.mktemp("job"))
    finals, timed_out = wait_for_final(SampleRecords(emulator.settings), [response["sample_id"]], timeout_s=90)
    assert not timed_out
    # The ack follows the record, and acked messages are deleted in batches (within 0.5 s).
    sqs, url = aws.client("sqs", emulator.settings), deployed.outputs["AudioProcessingQueueUrl"]
    eventually(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0", "the job's message to be deleted")
    return response, finals[response["sample_id"]]


def test_one_job_runs_end_to_end_on_the_stacks_outputs(emulator, deployed, job_done):
    outputs = deployed.outputs
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


# SQS authorizes a batch action by its one-message action ("Amazon SQS batch actions", SQS Developer Guide).
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def _iam_action(entry: dict, service: str) -> str:
    """The IAM action a recorded request needs (JSON APIs by X-Amz-Target, S3 by method/path)."""
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    if "x-amz-target" in headers:
        action = headers["x-amz-target"].rsplit(".", 1)[-1]
        return f"{service}:{_SQS_BATCH.get(action, action) if service == 'sqs' else action}"
    assert service == "s3", entry["url"]
    path = entry["url"].split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    if "/" not in path.strip("/"):
        return f"s3:{entry['method']} on a bucket"  # no bucket-level call is allowed to anyone
    return "s3:GetObject" if entry["method"] in ("GET", "HEAD") else "s3:PutObject"


def _calls_by_key(recording: Path, keys: tuple[str, ...] = (WORKER_KEY, LAMBDA_KEY)) -> dict[str, set[str]]:
    """IAM actions per access key id, for the given keys (by default the worker's and the Lambda's)."""
    calls: dict[str, set[str]] = {key: set() for key in keys}
    for line in recording.read_text().splitlines():
        entry = json.loads(line)
        authorization = {k.lower(): v for k, v in entry["headers"].items()}.get("authorization", "")
        match = _CREDENTIAL.search(authorization)
        if match and match.group(1) in calls:
            calls[match.group(1)].add(_iam_action(entry, match.group(2)))
    return calls


def _role_actions(logical_id: str, template: cfn.Template = T) -> set[str]:
    """The actions a role allows as deployed with ``template``'s parameters."""
    return {action for policy in template.properties(logical_id)["Policies"]
            for statement in map(template.chosen, policy["PolicyDocument"]["Statement"])
            if statement != {"Ref": "AWS::NoValue"}
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}


def test_each_role_allows_every_call_its_process_made(emulator, stack_worker, job_done):
    calls = _calls_by_key(emulator.recording)
    worker, producer = calls[WORKER_KEY], calls[LAMBDA_KEY]
    # What one job needs at least; the retry and dead-letter paths add sqs:SendMessage.
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem"} <= worker
    assert worker <= _role_actions("TaskRole"), worker - _role_actions("TaskRole")
    assert producer == _role_actions("CreateSampleRecordRole") - {"logs:CreateLogStream", "logs:PutLogEvents"}


RECONCILER_KEY = "stack-reconciler"


def test_the_reconciler_runs_with_its_functions_environment_within_its_role(emulator, deployed, job_done, tmp_path):
    """A sample whose producer died after writing its record, 20 minutes ago; the scheduled function's
    handler, with the function's environment, dispatches it, calling nothing its role does not allow."""
    records = SampleRecords(emulator.settings)
    sample_id = f"stranded-{uuid.uuid4()}"
    records.create(sample_id, f"s3://{emulator.env['INPUT_BUCKET']}/incoming/{sample_id}/a.wav")
    then = time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(time.time() - 1200))
    aws.client("dynamodb", emulator.settings).update_item(
        TableName=emulator.env["SAMPLES_TABLE"], Key={"sample_id": {"S": sample_id}},
        UpdateExpression="SET updated_at = :then", ExpressionAttributeValues={":then": {"S": then}})
    function_env = aws.client("lambda", emulator.settings).get_function_configuration(
        FunctionName=f"{deployed.name}-Reconciler")["Environment"]["Variables"]
    local = {k: emulator.env[k] for k in ("AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_"))}
    _recorder(emulator, "start-recording")
    run = subprocess.run([sys.executable, "-c", "import json; from producer.reconcile import handler; "
                                                "print(json.dumps(handler({}, None)))"],
                         env={**base, **local, **function_env, "AWS_ACCESS_KEY_ID": RECONCILER_KEY},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["dispatched"] >= 1
    assert records.get(sample_id)["dispatched_via"] == "sqs"
    calls = _calls_by_key(emulator.recording, (RECONCILER_KEY,))[RECONCILER_KEY]
    assert {"dynamodb:Scan", "sqs:ReceiveMessage", "dynamodb:UpdateItem", "sqs:SendMessage"} <= calls
    assert calls <= _role_actions("ReconcilerRole"), calls - _role_actions("ReconcilerRole")


# -- the seed's rollback: DispatchMode, switched by a stack update ----------------------------------
RUN_TASK_LAMBDA_KEY = "run-task-lambda"


@pytest.fixture(scope="module")
def switching(emulator, network, lambda_code) -> Deployed:
    """A stack of its own (default options, service mode) on the emulator's buckets and table."""
    settings = emulator.settings
    return _create_stack(emulator, {
        **_base_parameters(network, lambda_code), "InputBucketName": settings.input_bucket,
        "OutputBucketName": settings.output_bucket, "SamplesTableName": settings.samples_table})


def _switch(emulator, deployment: Deployed, mode: str) -> Deployed:
    """``aws cloudformation deploy`` with ``DispatchMode=mode``. moto updates a resource only if it
    refers to a changed parameter itself (the Lambdas' environment does); the service's desired count
    follows DispatchMode through the RunTaskDispatch condition, so it is applied here through
    UpdateService, resolved from the template as CloudFormation resolves it, and the scalable target
    (never created by moto) through RegisterScalableTarget."""
    updated = _create_stack(emulator, {**deployment.parameters, "DispatchMode": mode}, update=True)
    resolve = Resolver(emulator, updated)
    service = resolve.properties("WorkerService")
    aws.client("ecs", emulator.settings).update_service(
        cluster=updated.outputs["ClusterName"], service=updated.outputs["WorkerServiceName"],
        desiredCount=service["DesiredCount"])
    aws.client("application-autoscaling", emulator.settings).register_scalable_target(
        **resolve.properties("WorkerScalableTarget"))
    return updated


def _deployed_mode(emulator, deployment: Deployed) -> tuple[str, int, tuple[int, int]]:
    """The Lambda's DISPATCH_MODE, the service's desired count and the scalable target's bounds."""
    service_name = deployment.outputs["WorkerServiceName"]
    [service] = aws.client("ecs", emulator.settings).describe_services(
        cluster=deployment.outputs["ClusterName"], services=[service_name])["services"]
    [target] = aws.client("application-autoscaling", emulator.settings).describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{deployment.outputs['ClusterName']}/{service_name}"])[
        "ScalableTargets"]
    return (_lambda_env(emulator, deployment)["DISPATCH_MODE"], service["desiredCount"],
            (target["MinCapacity"], target["MaxCapacity"]))


def _run_the_started_task(emulator, deployment: Deployed) -> subprocess.CompletedProcess:
    """The one task RunTask started, run as Fargate would: the entrypoint with the task definition's
    environment and the task's overrides."""
    ecs = aws.client("ecs", emulator.settings)
    cluster = deployment.outputs["ClusterName"]
    [task] = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster)["taskArns"])["tasks"]
    assert task["taskDefinitionArn"] == deployment.outputs["WorkerTaskDefinitionArn"]
    return subprocess.run([str(ENTRYPOINT)], env=_container_env(emulator, _task_environment(emulator, task)),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _task_environment(emulator, task: dict) -> dict:
    """The worker container's environment in ``task``: the task definition's, then the task's overrides."""
    [container] = aws.client("ecs", emulator.settings).describe_task_definition(
        taskDefinition=task["taskDefinitionArn"])["taskDefinition"]["containerDefinitions"]
    overrides = [o for o in task.get("overrides", {}).get("containerOverrides", []) if o["name"] == container["name"]]
    return {e["name"]: e["value"] for e in [*container["environment"], *(e for o in overrides for e in o["environment"])]}


def test_rollback_to_one_off_tasks_and_back_is_one_stack_update_each_and_loses_no_sample(
        emulator, switching, tmp_path):
    records = SampleRecords(emulator.settings)
    aws.client("application-autoscaling", emulator.settings).register_scalable_target(
        **Resolver(emulator, switching).properties("WorkerScalableTarget"))
    assert _deployed_mode(emulator, switching) == ("service", 1, (1, 10))
    waiting = _submit_through_the_lambda(emulator, switching, tmp_path)["sample_id"]  # queued, not yet consumed

    rolled_back = _switch(emulator, switching, "run-task")
    assert _deployed_mode(emulator, rolled_back) == ("run-task", 0, (0, 0))  # no service task left to crash-loop
    _recorder(emulator, "start-recording")
    one_off = _submit_through_the_lambda(emulator, rolled_back, tmp_path, RUN_TASK_LAMBDA_KEY)["sample_id"]
    assert records.get(one_off)["dispatched_via"] == "run-task"
    run = _run_the_started_task(emulator, rolled_back)
    assert run.returncode == 0, run.stderr[-3000:]
    assert records.get(one_off)["status"] == "COMPLETED"
    assert records.get(waiting)["status"] == "QUEUED"  # its message waits on the queue for the service
    queue = aws.client("sqs", emulator.settings).get_queue_attributes(
        QueueUrl=switching.outputs["AudioProcessingQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"])
    assert queue["Attributes"]["ApproximateNumberOfMessages"] == "1"
    # RunTask, only in this mode: the calls the Lambda made are what its run-task role allows.
    calls = _calls_by_key(emulator.recording, (RUN_TASK_LAMBDA_KEY,))[RUN_TASK_LAMBDA_KEY]
    assert calls == {"dynamodb:PutItem", "ecs:RunTask", "dynamodb:UpdateItem"}
    assert calls <= _role_actions("CreateSampleRecordRole", rolled_back.template)
    assert "ecs:RunTask" not in _role_actions("CreateSampleRecordRole", switching.template)

    restored = _switch(emulator, rolled_back, "service")
    assert _deployed_mode(emulator, restored) == ("service", 1, (1, 10))
    [container] = aws.client("ecs", emulator.settings).describe_task_definition(
        taskDefinition=restored.outputs["WorkerTaskDefinitionArn"])["taskDefinition"]["containerDefinitions"]
    worker = _start_service_container(emulator, _container_env(
        emulator, {e["name"]: e["value"] for e in container["environment"]}), "switching-worker")
    try:
        finals, timed_out = wait_for_final(records, [waiting], timeout_s=90)
    finally:
        _stop_container(worker)
    assert not timed_out and finals[waiting]["status"] == "COMPLETED"
