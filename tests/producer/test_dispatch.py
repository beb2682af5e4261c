import pytest

from audio_tasks.message import JobArguments
from audio_tasks.settings import Settings
from producer.dispatch import DispatchFailed, RunTaskDispatch

RUN_TASK = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "DISPATCH_MODE": "run-task", "ECS_CLUSTER": "c",
            "WORKER_TASK_DEFINITION": "t", "WORKER_SUBNETS": "s", "WORKER_SECURITY_GROUPS": "g"}


class RecordingEcs:
    def __init__(self):
        self.calls = []

    def run_task(self, **request):
        self.calls.append(request)
        return {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1"}], "failures": []}


def test_a_one_off_task_refuses_job_options_rather_than_dropping_them():
    ecs = RecordingEcs()
    dispatch = RunTaskDispatch(Settings.from_env(RUN_TASK), ecs=ecs)
    with pytest.raises(DispatchFailed, match="takes no job options"):
        dispatch(JobArguments("s1", "bucket", "incoming/a.wav", {"preset": "streaming"}))
    assert ecs.calls == []
    assert dispatch(JobArguments("s2", "bucket", "incoming/a.wav")).endswith("task/c/1")
    [request] = ecs.calls
    environment = {e["name"]: e["value"] for e in request["overrides"]["containerOverrides"][0]["environment"]}
    assert environment == {"PROCESSING_MODE": "task", "SAMPLE_ID": "s2", "S3_BUCKET": "bucket",
                           "S3_KEY": "incoming/a.wav"}
