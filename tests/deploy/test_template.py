"""The CloudFormation template: cfn-lint clean, the seed's numbers, least-privilege IAM.

Every number is read from the template itself; defaults of parameters count as the
deployed values. (The deployment into the emulator is in test_emulator.py.)
"""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from audio_tasks.settings import Settings
from deploy import template as cfn

T = cfn.load()
ON = T.with_defaults(cfn.EVERY_OPTION_ON)
RUN_TASK = T.with_defaults({"DispatchMode": "run-task"})
BIN = Path(sys.executable).parent


@pytest.mark.e2e  # cfn-lint runs as a process
def test_cfn_lint_reports_nothing():
    # No warning is suppressed or justified: cfn-lint prints nothing at all, not even its
    # informational checks (e.g. explicit deletion policies on stateful resources).
    run = subprocess.run([BIN / "cfn-lint", "--include-checks", "I", "--", str(cfn.PATH)], capture_output=True,
                         text=True, timeout=300)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_queue_and_dlq():
    queue = T.properties("AudioProcessingQueue")
    assert (queue["VisibilityTimeout"], queue["ReceiveMessageWaitTimeSeconds"], queue["SqsManagedSseEnabled"]) \
        == (900, 20, True)
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AudioProcessingDLQ", "Arn"]}
    assert T.value(queue["RedrivePolicy"]["maxReceiveCount"]) == 3
    dlq = T.properties("AudioProcessingDLQ")
    assert (dlq["MessageRetentionPeriod"], dlq["SqsManagedSseEnabled"]) == (14 * 86400, True)


QUEUE_POLICIES = {"AudioProcessingQueuePolicy": "AudioProcessingQueue", "AudioProcessingDLQPolicy": "AudioProcessingDLQ",
                  "CreateSampleRecordFailuresPolicy": "CreateSampleRecordFailures"}


def _statements(logical_id: str, template=T) -> dict[str, dict]:
    """A policy's statements by Sid, with conditional ones resolved against the defaults."""
    statements = {}
    for statement in map(template.chosen, template.properties(logical_id)["PolicyDocument"]["Statement"]):
        if statement != {"Ref": "AWS::NoValue"}:
            statements[statement["Sid"]] = statement
    return statements


@pytest.mark.parametrize("policy_id, queue_id", QUEUE_POLICIES.items())
def test_every_queue_denies_anything_but_tls(policy_id, queue_id):
    assert T.properties(policy_id)["Queues"] == [{"Ref": queue_id}]
    deny = _statements(policy_id)["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:*")
    assert deny["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _senders(policy_id: str, template=T) -> list:
    """The principal ARNs a queue policy does not deny SendMessage to."""
    deny = _statements(policy_id, template)["SendOnlyFromTheStacksPrincipals"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:SendMessage")
    # Service principals have no aws:PrincipalArn: they are left to explicit Allow statements.
    assert deny["Condition"]["Bool"] == {"aws:PrincipalIsAWSService": "false"}
    return [arn for arn in map(template.chosen, deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
            if arn != {"Ref": "AWS::NoValue"}]


LAMBDA_ROLE, TASK_ROLE = {"Fn::GetAtt": ["CreateSampleRecordRole", "Arn"]}, {"Fn::GetAtt": ["TaskRole", "Arn"]}
OPERATOR = {"Ref": "OperatorRoleArn"}
RECONCILER_ROLE = {"Fn::GetAtt": ["ReconcilerRole", "Arn"]}


def test_only_the_stacks_own_principals_may_send():
    # Work queue: producers (the Lambda, the reconciler), retries (the worker), operators if named.
    assert _senders("AudioProcessingQueuePolicy") == [LAMBDA_ROLE, TASK_ROLE, RECONCILER_ROLE]
    assert _senders("AudioProcessingQueuePolicy", ON) == [LAMBDA_ROLE, TASK_ROLE, RECONCILER_ROLE, OPERATOR]
    # DLQ: only the worker dead-letters (SQS's own redrive is not a SendMessage).
    assert _senders("AudioProcessingDLQPolicy") == _senders("AudioProcessingDLQPolicy", ON) == [TASK_ROLE]
    # The Lambda's failure destination: Lambda sends with the function's role.
    assert _senders("CreateSampleRecordFailuresPolicy") == [LAMBDA_ROLE]
    for policy_id in QUEUE_POLICIES:
        assert not [s for s in _statements(policy_id).values() if s["Effect"] == "Allow"]


def test_s3_may_send_notifications_for_the_input_bucket_only_in_s3_to_sqs_mode():
    assert "InputBucketNotifications" not in _statements("AudioProcessingQueuePolicy")
    allow = _statements("AudioProcessingQueuePolicy", ON)["InputBucketNotifications"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == \
        ("Allow", {"Service": "s3.amazonaws.com"}, "sqs:SendMessage")
    assert allow["Resource"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InputBucketName}"}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # ...and then S3 no longer invokes the Lambda.
    permission = T.resources["InputBucketInvokePermission"]
    assert permission["Condition"] == "LambdaIngest" and T.condition("LambdaIngest") and not ON.condition("LambdaIngest")


def test_a_bucket_the_stack_creates_notifies_the_queue_in_s3_to_sqs_mode():
    bucket = T.resources["InputBucket"]
    assert "AudioProcessingQueuePolicy" in bucket["DependsOn"]  # S3 checks it may send when configured
    condition, then, otherwise = bucket["Properties"]["NotificationConfiguration"]["Fn::If"]
    assert (condition, otherwise) == ("S3ToSqsIngest", {"Ref": "AWS::NoValue"})
    [notification] = then["QueueConfigurations"]
    assert notification == {"Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]},
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": {"Ref": "InputPrefix"}}]}}}


def test_worker_task_definition():
    [cluster] = T.of_type("AWS::ECS::Cluster").values()
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"]["ClusterSettings"]
    task = T.properties("WorkerTaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"
    [container] = task["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["SQS_QUEUE_URL"] == {"Ref": "AudioProcessingQueue"}
    assert env["SQS_DLQ_URL"] == {"Ref": "AudioProcessingDLQ"}
    assert env["PROCESSING_MODE"] == "service"
    assert env["AWS_REGION"] == {"Ref": "AWS::Region"}
    # The worker's visibility timeout (and so its time limits) must match the queue's.
    assert env["SQS_VISIBILITY_TIMEOUT"] == str(T.properties("AudioProcessingQueue")["VisibilityTimeout"])
    assert {"INPUT_BUCKET", "INPUT_PREFIX", "OUTPUT_BUCKET", "SAMPLES_TABLE"} <= set(env)
    assert container["StopTimeout"] == 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "audio_tasks.worker.liveness"]


@pytest.mark.parametrize("task_id", ["WorkerTaskDefinition", "FlowerTaskDefinition"])
def test_containers_run_read_only_without_capabilities(task_id):
    task = T.properties(task_id)
    [container] = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"] == {"Capabilities": {"Drop": ["ALL"]}}
    # The one writable place: /tmp (TMPDIR, the liveness file, matplotlib's cache), on task storage.
    assert task["Volumes"] == [{"Name": "tmp"}]
    assert container["MountPoints"] == [{"SourceVolume": "tmp", "ContainerPath": "/tmp", "ReadOnly": False}]


def test_ephemeral_storage_holds_every_concurrent_job_at_its_limits():
    """Per job on disk at once: the input, house.wav, preview.mp3 and the decoded-audio spool
    (audio_tasks.job: one temporary directory per job). Bounded by MAX_INPUT_BYTES, by
    MAX_DURATION_SECONDS at HOUSE_SAMPLE_RATE in 16-bit PCM with 8 channels (the most the
    README lists) and the preview bitrate, and by Limits.max_spool_bytes; 20 % headroom,
    4 GiB for the image and logs, Fargate's minimum 21 GiB."""
    task = T.properties("WorkerTaskDefinition")
    [container] = task["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"] if isinstance(e["Value"], str)}
    settings = Settings.from_env({**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})  # the worker's own reading
    limits, audio = settings.limits, settings.audio
    per_job = (limits.max_bytes + limits.max_duration_s * audio.house_sample_rate * 8 * 2
               + limits.max_duration_s * audio.preview_bitrate_kbps * 1000 / 8 + limits.max_spool_bytes)
    assert task["EphemeralStorage"] == {"SizeInGiB": {"Fn::FindInMap": [
        "WorkerDisk", {"Ref": "WorkerConcurrency"}, "EphemeralStorageGiB"]}}
    table = T.body["Mappings"]["WorkerDisk"]
    assert set(table) == set(T.body["Parameters"]["WorkerConcurrency"]["AllowedValues"])
    for c, row in table.items():
        assert row["EphemeralStorageGiB"] == max(21, 4 + math.ceil(1.2 * int(c) * per_job / 2**30)), c
        assert row["EphemeralStorageGiB"] <= 200  # Fargate's maximum
    assert table["2"]["EphemeralStorageGiB"] == 35


def test_worker_service():
    service = T.properties("WorkerService")
    assert (T.value(service["DesiredCount"]), service["LaunchType"], service["HealthCheckGracePeriodSeconds"]) \
        == (1, "FARGATE", 60)
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_autoscaling_tracks_backlog_per_task():
    target = T.properties("WorkerScalableTarget")
    assert (T.value(target["MinCapacity"]), T.value(target["MaxCapacity"])) == (1, 10)
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    policy = T.properties("BacklogPerTaskScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert T.value(tracking["TargetValue"]) == 10
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (60, 300)
    metrics = {m["Id"]: m for m in tracking["CustomizedMetricSpecification"]["Metrics"]}
    names = {m["MetricStat"]["Metric"]["MetricName"]: i for i, m in metrics.items() if "MetricStat" in m}
    assert set(names) == {"ApproximateNumberOfMessagesVisible", "RunningTaskCount"}  # not raw depth alone
    [result] = [m for m in metrics.values() if m["ReturnData"]]
    expression = result["Expression"]
    visible, tasks = names["ApproximateNumberOfMessagesVisible"], names["RunningTaskCount"]
    assert expression.startswith(f"{visible} / ")
    # The divisor is guarded: missing data is filled and a count below 1 is replaced by 1.
    assert f"FILL({tasks}, 0) >= 1" in expression and expression.startswith(f"{visible} / IF(")


def _alarms(template=T) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template.of_type("AWS::CloudWatch::Alarm").items()}


def _math(alarm: dict) -> tuple[dict, str]:
    """A metric-math alarm's metrics by id (name, statistic) and its expression."""
    stats = {m["Id"]: (m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Stat"])
             for m in alarm["Metrics"] if "MetricStat" in m}
    [expression] = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")]
    return stats, expression


def test_every_alarm_reaches_a_topic_even_when_none_is_given():
    target = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]
    assert len(_alarms()) == 7
    for alarm in _alarms().values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == target
    assert T.value({"Ref": "AlarmTopicArn"}) == "" and T.condition("CreateAlarmTopic")
    assert T.resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    subscription = T.resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and not T.condition("HasAlarmEmail") and ON.condition("HasAlarmEmail")
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}
    # CloudWatch may publish to it for this stack's alarms only, and only over TLS.
    statements = _statements("AlarmTopicPolicy")
    publish = statements["CloudWatchAlarmsOfThisAccount"]
    assert (publish["Principal"], publish["Action"]) == ({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish")
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:${EnvironmentName}-*")
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dlq_alarm_cannot_clear_while_messages_remain():
    alarm = _alarms()["DLQHasMessagesAlarm"]
    stats, expression = _math(alarm)
    assert stats == {"visible": ("ApproximateNumberOfMessagesVisible", "Maximum"),
                     "hidden": ("ApproximateNumberOfMessagesNotVisible", "Maximum")}
    assert expression == "visible + hidden"
    assert all(m["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AudioProcessingDLQ", "QueueName"]}}]
        for m in alarm["Metrics"] if "MetricStat" in m)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    # SQS stops sending metrics for a queue idle for ~6 h: missing data must keep the state.
    assert alarm["TreatMissingData"] == "ignore"


def test_backlog_at_max_capacity_alarm():
    alarm = _alarms()["BacklogAtMaxCapacityAlarm"]
    stats, expression = _math(alarm)
    assert stats == {"visible": ("ApproximateNumberOfMessagesVisible", "Sum"),
                     "tasks": ("RunningTaskCount", "Average"), "desired": ("DesiredTaskCount", "Average")}
    # The scaling metric (backlog per task), counted only while desired tasks = MaxCapacity.
    assert expression == {"Fn::Sub": "IF(FILL(desired, 0) >= ${MaxCapacity}, "
                                     "visible / IF(FILL(tasks, 0) >= 1, FILL(tasks, 0), 1), 0)"}
    assert alarm["Threshold"] == {"Ref": "TargetBacklogPerTask"}
    periods = {m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert periods == {60} and alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 15  # 15 minutes


def test_running_below_desired_alarm():
    alarm = _alarms()["TasksBelowDesiredAlarm"]
    stats, expression = _math(alarm)
    assert stats == {"tasks": ("RunningTaskCount", "Minimum"), "desired": ("DesiredTaskCount", "Maximum")}
    assert expression == "desired - tasks"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 10  # a task start takes 30-60 s


@pytest.mark.parametrize("alarm_id, metric", [("LambdaErrorsAlarm", "Errors"), ("LambdaThrottlesAlarm", "Throttles")])
def test_lambda_alarms(alarm_id, metric):
    alarm = _alarms()[alarm_id]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CreateSampleRecordFunction"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_oldest_message_age_alarm_and_outputs():
    age = _alarms()["OldestMessageAgeAlarm"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["AudioProcessingQueue", "QueueName"]}
    assert T.value(age["Threshold"]) == 1800
    outputs = T.body["Outputs"]
    assert outputs["AudioProcessingQueueUrl"]["Value"] == {"Ref": "AudioProcessingQueue"}
    assert outputs["AudioProcessingQueueArn"]["Value"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}
    assert outputs["AudioProcessingDLQUrl"]["Value"] == {"Ref": "AudioProcessingDLQ"}


def test_lambda_function():
    function = T.properties("CreateSampleRecordFunction")
    assert function["Runtime"].startswith("python3.") and function["Handler"] == "producer.lambda_handler.handler"
    assert function["Environment"]["Variables"]["SQS_QUEUE_URL"] == {"Ref": "AudioProcessingQueue"}
    assert function["Environment"]["Variables"]["SAMPLES_TABLE"] == {"Ref": "SamplesTableName"}
    assert function["ReservedConcurrentExecutions"] == {"Ref": "LambdaReservedConcurrency"}
    assert T.value(function["ReservedConcurrentExecutions"]) == 10


def test_failed_async_invocations_land_in_a_queue_after_bounded_retries():
    config = T.properties("CreateSampleRecordInvokeConfig")
    assert (config["FunctionName"], config["Qualifier"]) == ({"Ref": "CreateSampleRecordFunction"}, "$LATEST")
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 3600)
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {
        "Fn::GetAtt": ["CreateSampleRecordFailures", "Arn"]}}}
    failures = T.properties("CreateSampleRecordFailures")
    assert (failures["MessageRetentionPeriod"], failures["SqsManagedSseEnabled"]) == (14 * 86400, True)


# -- buckets and table -------------------------------------------------------------------
@pytest.mark.parametrize("bucket_id, policy_id", [("InputBucket", "InputBucketPolicy"),
                                                  ("OutputBucket", "OutputBucketPolicy")])
def test_buckets_the_stack_creates_are_private_encrypted_tls_only_and_retained(bucket_id, policy_id):
    bucket = T.resources[bucket_id]
    assert (bucket["Condition"], bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == \
        ("CreateStorageOn", "Retain", "Retain")
    assert not T.condition("CreateStorageOn") and ON.condition("CreateStorageOn")
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"Fn::If": [
        "HasKmsKey", {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}}, {"SSEAlgorithm": "AES256"}]}
    deny = _statements(policy_id, ON)["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == \
        ("Deny", "s3:*", {"Bool": {"aws:SecureTransport": "false"}})
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_input_is_versioned_and_processed_expires_by_parameter():
    assert T.properties("InputBucket")["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = T.properties("OutputBucket")["LifecycleConfiguration"]["Rules"]
    [expiry] = [r["Fn::If"] for r in rules if "Fn::If" in r]
    assert expiry[0] == "ExpireProcessed" and not T.condition("ExpireProcessed") and ON.condition("ExpireProcessed")
    assert (expiry[1]["Prefix"], expiry[1]["ExpirationInDays"]) == ("processed/", {"Ref": "ProcessedExpirationDays"})


def test_the_table_the_stack_creates_has_point_in_time_recovery():
    table = T.resources["SamplesTable"]
    assert (table["Condition"], table["DeletionPolicy"]) == ("CreateStorageOn", "Retain")
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "sample_id", "KeyType": "HASH"}]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    condition, with_key, without = properties["SSESpecification"]["Fn::If"]
    assert (condition, with_key["KMSMasterKeyId"], without) == ("HasKmsKey", {"Ref": "KmsKeyArn"}, {"SSEEnabled": True})


def test_the_worker_may_list_the_input_prefix_and_use_the_key_through_s3_only():
    statements = {s["Sid"]: s for s in T.properties("TaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
                  if "Sid" in s}
    listing = statements["MissingInputIsNotFound"]  # HEAD of a missing key: 404, not 403
    assert (listing["Action"], listing["Resource"]) == \
        ("s3:ListBucket", {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InputBucketName}"})
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${InputPrefix}*"}}}
    [kms] = [s["Fn::If"] for s in T.properties("TaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
             if "Fn::If" in s and s["Fn::If"][0] == "HasKmsKey"]
    assert kms[1]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"] and kms[1]["Resource"] == {"Ref": "KmsKeyArn"}
    assert kms[1]["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}


# -- Flower ------------------------------------------------------------------------------
def test_flower_is_reached_over_https_from_the_allowed_clients_only():
    flower = [name for name, r in T.resources.items() if r.get("Condition", "").startswith("Flower")]
    assert all(not T.condition(T.resources[name]["Condition"]) for name in flower)
    listener = T.properties("FlowerListener")
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "FlowerCertificateArn"}}]
    assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    balancer = T.properties("FlowerLoadBalancer")
    assert (balancer["Scheme"], balancer["SecurityGroups"]) == ("internal", [{"Ref": "FlowerLoadBalancerSecurityGroup"}])
    # Clients: the CIDR or the security group given, on 443 only.
    clients = {name: (r["Condition"], r["Properties"]) for name, r in T.of_type("AWS::EC2::SecurityGroupIngress").items()
               if r["Properties"]["GroupId"] == {"Ref": "FlowerLoadBalancerSecurityGroup"}}
    assert {c: (p["FromPort"], p["ToPort"], p.get("CidrIp") or p["SourceSecurityGroupId"])
            for c, p in clients.values()} == {"FlowerFromCidr": (443, 443, {"Ref": "FlowerAllowedCidr"}),
                                              "FlowerFromSecurityGroup": (443, 443, {"Ref": "FlowerAllowedSecurityGroupId"})}
    assert "SecurityGroupIngress" not in T.properties("FlowerLoadBalancerSecurityGroup")
    # The task: its own security group, 5555 from the load balancer only.
    service = T.properties("FlowerService")
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [{"Ref": "FlowerSecurityGroup"}]
    assert service["LoadBalancers"] == [{"ContainerName": "flower", "ContainerPort": 5555,
                                         "TargetGroupArn": {"Ref": "FlowerTargetGroup"}}]
    ingress = T.properties("FlowerTaskFromLoadBalancer")
    assert (ingress["GroupId"], ingress["SourceSecurityGroupId"], ingress["FromPort"], ingress["ToPort"]) == \
        ({"Ref": "FlowerSecurityGroup"}, {"Ref": "FlowerLoadBalancerSecurityGroup"}, 5555, 5555)
    assert "SecurityGroupIngress" not in T.properties("FlowerSecurityGroup")
    assert T.properties("FlowerTargetGroup")["HealthCheckPath"] == "/healthcheck"  # Flower answers it without auth


def test_flower_cannot_be_enabled_without_certificate_and_clients():
    rule = T.body["Rules"]["FlowerNeedsCertificateAndClients"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "FlowerEnabled"}, "true"]}
    asserted = json.dumps(rule["Assertions"])
    assert all(name in asserted for name in ("FlowerCertificateArn", "FlowerAllowedCidr", "FlowerAllowedSecurityGroupId"))


# -- IAM -------------------------------------------------------------------------------
# Actions AWS only grants on "*" (they act on no resource of ours).
RESOURCE_STAR_REQUIRED = {"ecr:GetAuthorizationToken", "sns:ListTopics", "sqs:ListQueues",
                          "cloudwatch:GetMetricStatistics"}
MONITORING = {  # events and remote control over SNS fanout (audio_tasks.monitoring.transport)
    "sns:CreateTopic", "sns:TagResource", "sns:SetTopicAttributes", "sns:Publish", "sns:Subscribe",
    "sns:Unsubscribe", "sns:ListSubscriptionsByTopic", "sqs:CreateQueue", "sqs:TagQueue", "sqs:ListQueueTags",
    "sqs:DeleteQueue",
    "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:ReceiveMessage",
    "sqs:DeleteMessage", "sqs:SendMessage"}


def _allow_statements():
    for role_id, role in T.of_type("AWS::IAM::Role").items():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:  # a conditional statement: check its "true" branch
                    statement = statement["Fn::If"][1]
                assert statement["Effect"] == "Allow"
                actions = statement["Action"]
                yield role_id, ([actions] if isinstance(actions, str) else actions), statement["Resource"]


def _statement(role_id: str, sid: str) -> dict:
    for statement in T.properties(role_id)["Policies"][0]["PolicyDocument"]["Statement"]:
        statement = statement["Fn::If"][1] if "Fn::If" in statement else statement
        if statement["Sid"] == sid:
            return statement
    raise KeyError(sid)


def _actions(role_id: str) -> set[str]:
    return {a for role, actions, _ in _allow_statements() if role == role_id for a in actions}


def _scoped(resource) -> bool:
    """One of our resources (Ref/GetAtt), or an ARN naming specific resources."""
    if isinstance(resource, list):
        return bool(resource) and all(_scoped(r) for r in resource)
    if isinstance(resource, dict) and ("Ref" in resource or "Fn::GetAtt" in resource):
        target = resource.get("Ref") or resource["Fn::GetAtt"][0]
        parameter = T.body["Parameters"].get(target, {})
        if parameter.get("AllowedPattern", "").startswith("^(arn:"):  # one ARN, given (e.g. KmsKeyArn)
            return "*" not in parameter["AllowedPattern"].replace("]*", "]")
        return target in T.resources
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        arn = re.sub(r"\$\{AWS::(\w+)\}", r"\1", resource["Fn::Sub"])
        parts = arn.split(":", 5)
        return len(parts) == 6 and parts[0] == "arn" and "${" in parts[5] and not parts[5].startswith("*")
    return False


def test_no_wildcard_actions_and_every_statement_is_resource_scoped():
    statements = list(_allow_statements())
    assert len(statements) == 33
    for role_id, actions, resource in statements:
        assert not any("*" in action for action in actions), (role_id, actions)
        if resource == "*":
            assert set(actions) <= RESOURCE_STAR_REQUIRED, (role_id, actions)
        else:
            assert _scoped(resource), (role_id, actions, resource)


def _role_statements(template: cfn.Template, role_id: str) -> list[dict]:
    """A role's statements as deployed with ``template``'s defaults (conditional ones resolved)."""
    statements = template.properties(role_id)["Policies"][0]["PolicyDocument"]["Statement"]
    return [s for s in map(template.chosen, statements) if s != {"Ref": "AWS::NoValue"}]


@pytest.mark.parametrize("role_id", ["CreateSampleRecordRole", "ReconcilerRole"])
def test_only_run_task_mode_may_start_tasks_and_only_the_workers_definition_in_its_cluster(role_id):
    assert not [s for r in T.of_type("AWS::IAM::Role") for s in _role_statements(T, r)
                if {"ecs:RunTask", "iam:PassRole"} & set(_list(s["Action"]))]
    by_sid = {s["Sid"]: s for s in _role_statements(RUN_TASK, role_id)}
    assert by_sid["StartOneOffTasks"] == {
        "Sid": "StartOneOffTasks", "Effect": "Allow", "Action": "ecs:RunTask", "Resource": {"Ref": "WorkerTaskDefinition"},
        "Condition": {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}}
    assert by_sid["PassTheTaskRoles"] == {
        "Sid": "PassTheTaskRoles", "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": [{"Fn::GetAtt": ["TaskRole", "Arn"]}, {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}],
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}
    # The only roles that may ever run tasks:
    assert {r for r in T.of_type("AWS::IAM::Role") for s in _role_statements(RUN_TASK, r)
            if "ecs:RunTask" in _list(s["Action"])} == {"CreateSampleRecordRole", "ReconcilerRole"}


def test_run_task_mode_scales_the_service_to_zero_in_the_template_and_hands_dispatch_to_the_lambda():
    assert RUN_TASK.value(RUN_TASK.properties("WorkerService")["DesiredCount"]) == 0
    target = RUN_TASK.properties("WorkerScalableTarget")
    assert (RUN_TASK.value(target["MinCapacity"]), RUN_TASK.value(target["MaxCapacity"])) == (0, 0)
    # The service's own tasks stay in PROCESSING_MODE=service: none of them exits and restarts.
    container = T.properties("WorkerTaskDefinition")["ContainerDefinitions"][0]
    assert {"Name": "PROCESSING_MODE", "Value": "service"} in container["Environment"]
    for function_id in ("CreateSampleRecordFunction", "ReconcilerFunction"):
        variables = T.properties(function_id)["Environment"]["Variables"]
        assert (variables["DISPATCH_MODE"], variables["ECS_CLUSTER"], variables["WORKER_TASK_DEFINITION"]) == (
            {"Ref": "DispatchMode"}, {"Ref": "Cluster"}, {"Ref": "WorkerTaskDefinition"})
        assert variables["WORKER_SUBNETS"] == {"Fn::Join": [",", {"Ref": "Subnets"}]}
    assert T.value({"Ref": "DispatchMode"}) == "service"


def test_the_reconciler_runs_on_a_schedule_with_a_role_of_its_own():
    function = T.properties("ReconcilerFunction")
    assert (function["Handler"], function["Role"]) == ("producer.reconcile.handler",
                                                        {"Fn::GetAtt": ["ReconcilerRole", "Arn"]})
    assert function["Code"] == T.properties("CreateSampleRecordFunction")["Code"]  # the same package
    assert function["Environment"]["Variables"]["SQS_VISIBILITY_TIMEOUT"] == next(
        e["Value"] for e in T.properties("WorkerTaskDefinition")["ContainerDefinitions"][0]["Environment"]
        if e["Name"] == "SQS_VISIBILITY_TIMEOUT")  # its PROCESSING threshold is the workers' own
    rule = T.properties("ReconcilerSchedule")
    assert rule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"} and T.value(rule["ScheduleExpression"]) \
        == "rate(1 hour)"
    assert rule["Targets"] == [{"Id": "reconciler", "Arn": {"Fn::GetAtt": ["ReconcilerFunction", "Arn"]}}]
    permission = T.properties("ReconcilerSchedulePermission")
    assert (permission["Principal"], permission["SourceArn"]) == ("events.amazonaws.com",
                                                                  {"Fn::GetAtt": ["ReconcilerSchedule", "Arn"]})
    assert _actions("ReconcilerRole") == {
        "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes", "sqs:SendMessage", "logs:CreateLogStream", "logs:PutLogEvents", "ecs:RunTask",
        "iam:PassRole"}
    by_sid = {s["Sid"]: s for s in _role_statements(T, "ReconcilerRole")}
    assert by_sid["ReadDeadLetters"]["Resource"] == {"Fn::GetAtt": ["AudioProcessingDLQ", "Arn"]}
    assert by_sid["Dispatch"]["Resource"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}


def test_the_worker_may_protect_only_this_clusters_tasks():
    protection = _statement("TaskRole", "ScaleInProtection")
    assert protection["Action"] == ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"]
    assert protection["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*"}


def _list(actions) -> list[str]:
    return [actions] if isinstance(actions, str) else actions


def test_task_role_can_consume_read_input_write_output_and_update_records():
    # SendMessage: a transient failure is retried as a new (delayed) message, and an
    # exhausted job is published to the DLQ (audio_tasks.worker.tasks).
    assert _actions("TaskRole") == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:SendMessage", "s3:GetObject", "s3:ListBucket", "s3:PutObject", "dynamodb:GetItem",
        "dynamodb:UpdateItem", "kms:Decrypt", "kms:GenerateDataKey", "ecs:GetTaskProtection", "ecs:UpdateTaskProtection",
    } | MONITORING
    resources = {a: r for role, actions, r in _allow_statements() if role == "TaskRole" for a in actions}
    assert resources["s3:GetObject"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InputBucketName}/${InputPrefix}*"}
    assert resources["s3:PutObject"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${OutputBucketName}/processed/*"}
    assert resources["sqs:ChangeMessageVisibility"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}


def test_execution_role_pulls_one_repository_and_writes_one_log_group():
    assert _actions("TaskExecutionRole") == {
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer", "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue",
    }


def test_monitoring_permissions_exist_only_with_flower_and_are_scoped_by_name_prefix():
    statements = T.properties("TaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s and s["Fn::If"][0] == "FlowerOn"]
    assert [c[2] for c in conditional] == [{"Ref": "AWS::NoValue"}] * 3
    prefix = "${AWS::AccountId}:${EnvironmentName}-audio-mon-*"
    assert all(c[1]["Resource"]["Fn::Sub"].endswith(prefix) for c in conditional)
    assert T.resources["FlowerTaskRole"]["Condition"] == "FlowerOn"
    assert _actions("FlowerTaskRole") == MONITORING | RESOURCE_STAR_REQUIRED - {"ecr:GetAuthorizationToken"}
    flower = T.properties("FlowerTaskDefinition")
    assert flower["TaskRoleArn"] == {"Fn::GetAtt": ["FlowerTaskRole", "Arn"]}
    worker_env = {e["Name"]: e["Value"] for e in T.properties("WorkerTaskDefinition")["ContainerDefinitions"][0]["Environment"]}
    assert worker_env["MONITORING_ENABLED"] == {"Fn::If": ["FlowerOn", "true", "false"]}
    assert worker_env["MONITORING_PREFIX"] == {"Fn::Sub": "${EnvironmentName}-audio-mon-"}


@pytest.mark.parametrize("role_id", ["TaskRole", "FlowerTaskRole"])
def test_monitoring_roles_subscribe_only_monitoring_queues(role_id):
    # Without the condition a role could subscribe an e-mail or HTTPS endpoint to task events.
    subscribe = _statement(role_id, "SubscribeMonitoringQueuesOnly")
    assert subscribe["Action"] == "sns:Subscribe"
    assert subscribe["Condition"] == {"StringEquals": {"sns:Protocol": "sqs"}, "ArnLike": {"sns:Endpoint": {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${EnvironmentName}-audio-mon-*"}}}
    assert "sns:Subscribe" not in _statement(role_id, "MonitoringTopics")["Action"]


def test_the_lambda_role_sends_to_the_queue_and_its_failure_destination_only():
    assert _statement("CreateSampleRecordRole", "Enqueue")["Resource"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}
    assert _statement("CreateSampleRecordRole", "FailureDestination") == {
        "Sid": "FailureDestination", "Effect": "Allow", "Action": ["sqs:SendMessage"],
        "Resource": {"Fn::GetAtt": ["CreateSampleRecordFailures", "Arn"]}}


@pytest.mark.parametrize("role_id, service", [("TaskRole", "ecs-tasks.amazonaws.com"),
                                              ("TaskExecutionRole", "ecs-tasks.amazonaws.com"),
                                              ("CreateSampleRecordRole", "lambda.amazonaws.com"),
                                              ("ReconcilerRole", "lambda.amazonaws.com"),
                                              ("FlowerTaskRole", "ecs-tasks.amazonaws.com")])
def test_roles_are_assumed_by_their_service_only(role_id, service):
    [statement] = T.properties(role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    assert len(T.of_type("AWS::IAM::Role")) == 5


def test_only_s3_notifications_from_the_input_bucket_may_invoke_the_lambda():
    permissions = T.of_type("AWS::Lambda::Permission")
    assert set(permissions) == {"InputBucketInvokePermission", "ReconcilerSchedulePermission"}
    properties = permissions["InputBucketInvokePermission"]["Properties"]
    assert (properties["Principal"], properties["Action"]) == ("s3.amazonaws.com", "lambda:InvokeFunction")
    assert properties["SourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InputBucketName}"}
    assert properties["SourceAccount"] == {"Ref": "AWS::AccountId"}
