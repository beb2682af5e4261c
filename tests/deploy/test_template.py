"""The CloudFormation template: cfn-lint clean, the seed's numbers, least-privilege IAM.

Every number is read from the template itself; defaults of parameters count as the
deployed values. (The deployment into the emulator is in test_deploy_emulator.py.)
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import template as cfn

T = cfn.load()
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


def test_both_queues_deny_anything_but_tls():
    policy = T.properties("AudioProcessingQueuePolicy")
    assert policy["Queues"] == [{"Ref": "AudioProcessingQueue"}, {"Ref": "AudioProcessingDLQ"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sqs:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2


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


def test_worker_service():
    service = T.properties("WorkerService")
    assert (service["DesiredCount"], service["LaunchType"], service["HealthCheckGracePeriodSeconds"]) \
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


def test_alarms_and_outputs():
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in T.of_type("AWS::CloudWatch::Alarm").values()}
    dlq = alarms["ApproximateNumberOfMessagesVisible"]
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["AudioProcessingDLQ", "QueueName"]}
    assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    age = alarms["ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["AudioProcessingQueue", "QueueName"]}
    assert T.value(age["Threshold"]) > 0
    outputs = T.body["Outputs"]
    assert outputs["AudioProcessingQueueUrl"]["Value"] == {"Ref": "AudioProcessingQueue"}
    assert outputs["AudioProcessingQueueArn"]["Value"] == {"Fn::GetAtt": ["AudioProcessingQueue", "Arn"]}
    assert outputs["AudioProcessingDLQUrl"]["Value"] == {"Ref": "AudioProcessingDLQ"}


def test_lambda_function():
    function = T.properties("CreateSampleRecordFunction")
    assert function["Runtime"].startswith("python3.") and function["Handler"] == "producer.lambda_handler.handler"
    assert function["Environment"]["Variables"]["SQS_QUEUE_URL"] == {"Ref": "AudioProcessingQueue"}
    assert function["Environment"]["Variables"]["SAMPLES_TABLE"] == {"Ref": "SamplesTableName"}


# -- IAM -------------------------------------------------------------------------------
# Actions AWS only grants on "*" (they act on no resource of ours).
RESOURCE_STAR_REQUIRED = {"ecr:GetAuthorizationToken", "sns:ListTopics", "sqs:ListQueues",
                          "cloudwatch:GetMetricStatistics"}
MONITORING = {  # events and remote control over SNS fanout (audio_tasks.monitoring.transport)
    "sns:CreateTopic", "sns:TagResource", "sns:Publish", "sns:Subscribe", "sns:Unsubscribe",
    "sns:ListSubscriptionsByTopic", "sqs:CreateQueue", "sqs:TagQueue", "sqs:ListQueueTags", "sqs:DeleteQueue",
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


def _actions(role_id: str) -> set[str]:
    return {a for role, actions, _ in _allow_statements() if role == role_id for a in actions}


def _scoped(resource) -> bool:
    """One of our resources (Ref/GetAtt), or an ARN naming specific resources."""
    if isinstance(resource, list):
        return bool(resource) and all(_scoped(r) for r in resource)
    if isinstance(resource, dict) and ("Ref" in resource or "Fn::GetAtt" in resource):
        target = resource.get("Ref") or resource["Fn::GetAtt"][0]
        return target in T.resources
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        arn = re.sub(r"\$\{AWS::(\w+)\}", r"\1", resource["Fn::Sub"])
        parts = arn.split(":", 5)
        return len(parts) == 6 and parts[0] == "arn" and "${" in parts[5] and not parts[5].startswith("*")
    return False


def test_no_wildcard_actions_and_every_statement_is_resource_scoped():
    statements = list(_allow_statements())
    assert len(statements) == 19
    for role_id, actions, resource in statements:
        assert not any("*" in action for action in actions), (role_id, actions)
        if resource == "*":
            assert set(actions) <= RESOURCE_STAR_REQUIRED, (role_id, actions)
        else:
            assert _scoped(resource), (role_id, actions, resource)


def test_no_role_can_run_tasks():
    assert "ecs:RunTask" not in cfn.PATH.read_text()


def test_task_role_can_consume_read_input_write_output_and_update_records():
    # SendMessage: a transient failure is retried as a new (delayed) message, and an
    # exhausted job is published to the DLQ (audio_tasks.worker.tasks).
    assert _actions("TaskRole") == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:SendMessage", "s3:GetObject", "s3:PutObject", "dynamodb:GetItem", "dynamodb:UpdateItem",
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
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
    assert [(c[0], c[2]) for c in conditional] == [("FlowerOn", {"Ref": "AWS::NoValue"})] * 2
    prefix = "${AWS::AccountId}:${EnvironmentName}-audio-mon-*"
    assert all(c[1]["Resource"]["Fn::Sub"].endswith(prefix) for c in conditional)
    assert T.resources["FlowerTaskRole"]["Condition"] == "FlowerOn"
    assert _actions("FlowerTaskRole") == MONITORING | RESOURCE_STAR_REQUIRED - {"ecr:GetAuthorizationToken"}
    flower = T.properties("FlowerTaskDefinition")
    assert flower["TaskRoleArn"] == {"Fn::GetAtt": ["FlowerTaskRole", "Arn"]}
    worker_env = {e["Name"]: e["Value"] for e in T.properties("WorkerTaskDefinition")["ContainerDefinitions"][0]["Environment"]}
    assert worker_env["MONITORING_ENABLED"] == {"Fn::If": ["FlowerOn", "true", "false"]}
    assert worker_env["MONITORING_PREFIX"] == {"Fn::Sub": "${EnvironmentName}-audio-mon-"}


@pytest.mark.parametrize("role_id, service", [("TaskRole", "ecs-tasks.amazonaws.com"),
                                              ("TaskExecutionRole", "ecs-tasks.amazonaws.com"),
                                              ("CreateSampleRecordRole", "lambda.amazonaws.com"),
                                              ("FlowerTaskRole", "ecs-tasks.amazonaws.com")])
def test_roles_are_assumed_by_their_service_only(role_id, service):
    [statement] = T.properties(role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    assert len(T.of_type("AWS::IAM::Role")) == 4


def test_only_s3_notifications_from_the_input_bucket_may_invoke_the_lambda():
    [permission] = T.of_type("AWS::Lambda::Permission").values()
    properties = permission["Properties"]
    assert (properties["Principal"], properties["Action"]) == ("s3.amazonaws.com", "lambda:InvokeFunction")
    assert properties["SourceArn"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${InputBucketName}"}
    assert properties["SourceAccount"] == {"Ref": "AWS::AccountId"}
