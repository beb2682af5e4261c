import pytest

from audio_tasks.audio.options import AudioOptions, Limits
from audio_tasks.message import JobArguments
from audio_tasks.settings import ConfigError, LivenessSettings, Settings, task_mode_job

LOCAL = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
PROD = {"SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/audio-processing",
        "AWS_REGION": "eu-west-1"}


def test_production_requires_the_queue_url():
    with pytest.raises(ConfigError, match="SQS_QUEUE_URL"):
        Settings.from_env({"AWS_REGION": "eu-west-1"})


def test_production_requires_a_region():
    with pytest.raises(ConfigError, match="AWS_REGION"):
        Settings.from_env({"SQS_QUEUE_URL": PROD["SQS_QUEUE_URL"]})


def test_production_queue_name_comes_from_the_url():
    settings = Settings.from_env(PROD)
    assert not settings.local
    assert settings.queue_name == "audio-processing"
    assert settings.queue_url == PROD["SQS_QUEUE_URL"]


def test_local_mode_has_defaults():
    settings = Settings.from_env(LOCAL)
    assert settings.local and settings.region == "us-east-1" and settings.queue_url is None
    assert settings.visibility_timeout == 900
    assert settings.task_soft_time_limit < settings.task_time_limit == 3600
    assert (settings.wait_time_seconds, settings.polling_interval) == (20, 0.0)


@pytest.mark.parametrize("name, value, message", [
    ("SQS_VISIBILITY_TIMEOUT", "abc", "SQS_VISIBILITY_TIMEOUT='abc' is not a valid int"),
    ("SQS_VISIBILITY_TIMEOUT", "0", "SQS_VISIBILITY_TIMEOUT='0' must be between"),
    ("SQS_WAIT_TIME_SECONDS", "21", "SQS_WAIT_TIME_SECONDS='21' must be between 0 and 20"),
    ("AWS_ENDPOINT_URL", "localhost:4566", "AWS_ENDPOINT_URL='localhost:4566' is not an http"),
    ("SQS_QUEUE_URL", "https://sqs.example.com/", "is not an SQS queue URL"),
    ("SQS_DLQ_URL", "https://sqs.example.com/123456789012/", "SQS_DLQ_URL='https://sqs.example.com/123456789012/' is not"),
    ("LOG_LEVEL", "chatty", "LOG_LEVEL='CHATTY' must be one of"),
    ("TASK_TIME_LIMIT", "100000", "TASK_TIME_LIMIT='100000' must be between"),
    ("MONITORING_ENABLED", "maybe", "MONITORING_ENABLED='MAYBE' must be one of TRUE, FALSE"),
    ("MONITORING_PREFIX", "mon.itor", "MONITORING_PREFIX='mon.itor' is not 1-40 letters"),
    ("MONITORING_PREFIX", "audio-", "MONITORING_PREFIX='audio-' is a prefix of the work queue's name"),
    ("EVENT_HEARTBEAT_SECONDS", "0.5", "EVENT_HEARTBEAT_SECONDS='0.5' must be between 1.0 and 60.0"),
    ("FLOWER_BASIC_AUTH", "admin-s3cret", "FLOWER_BASIC_AUTH=(value hidden) is not user:password"),
    ("ECS_AGENT_URI", "169.254.170.2/api/x", "ECS_AGENT_URI='169.254.170.2/api/x' is not an http(s) URL"),
    ("DISPATCH_MODE", "lambda", "DISPATCH_MODE='LAMBDA' must be one of SERVICE, RUN-TASK"),
    ("DISPATCH_MODE", "run-task", "ECS_CLUSTER is not set: DISPATCH_MODE=run-task starts the worker's task"),
    ("RECONCILE_GRACE_SECONDS", "30", "RECONCILE_GRACE_SECONDS='30' must be between 60 and 86400"),
])
def test_malformed_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**LOCAL, name: value})
    assert message in str(raised.value)


def test_run_task_dispatch_names_what_it_starts_and_where():
    dispatch = Settings.from_env({**LOCAL, "DISPATCH_MODE": "run-task", "ECS_CLUSTER": "prod-audio",
                                  "WORKER_TASK_DEFINITION": "arn:aws:ecs:eu-west-1:123456789012:task-definition/w:3",
                                  "WORKER_SUBNETS": "subnet-a, subnet-b", "WORKER_SECURITY_GROUPS": "sg-1"}).dispatch
    assert (dispatch.mode, dispatch.cluster, dispatch.subnets, dispatch.security_groups) == (
        "run-task", "prod-audio", ("subnet-a", "subnet-b"), ("sg-1",))
    assert Settings.from_env(LOCAL).dispatch.mode == "service"
    with pytest.raises(ConfigError, match="WORKER_SECURITY_GROUPS is not set"):
        Settings.from_env({**LOCAL, "DISPATCH_MODE": "run-task", "ECS_CLUSTER": "c", "WORKER_TASK_DEFINITION": "t",
                           "WORKER_SUBNETS": "s"})


def test_time_limits_are_the_maximum_job_duration_not_the_visibility_timeout():
    # the visibility heartbeat keeps a long job's message hidden (audio_tasks.worker.heartbeat)
    settings = Settings.from_env({**LOCAL, "SQS_VISIBILITY_TIMEOUT": "30", "TASK_TIME_LIMIT": "120"})
    assert (settings.task_soft_time_limit, settings.task_time_limit) == (114, 120)


def test_retry_settings_are_bounded_by_what_sqs_can_delay():
    with pytest.raises(ConfigError, match="RETRY_MAX_DELAY_SECONDS='901' must be between 0 and 900"):
        Settings.from_env({**LOCAL, "RETRY_MAX_DELAY_SECONDS": "901"})
    settings = Settings.from_env({**PROD, "SQS_DLQ_URL": PROD["SQS_QUEUE_URL"] + "-dlq"})
    assert (settings.max_attempts, settings.dlq_name) == (5, "audio-processing-dlq")


def test_audio_options_come_from_the_environment():
    settings = Settings.from_env({**LOCAL, "TARGET_LUFS": "-16", "TRIM_SILENCE": "true", "WAVEFORM_BITS": "16",
                                  "HOUSE_SAMPLE_RATE": "48000", "PREVIEW_BITRATE_KBPS": "192"})
    assert settings.audio == AudioOptions(target_lufs=-16.0, trim_silence=True, waveform_bits=16,
                                          house_sample_rate=48000, preview_bitrate_kbps=192)
    with pytest.raises(ConfigError, match="WAVEFORM_BITS='12' must be one of 8, 16"):
        Settings.from_env({**LOCAL, "WAVEFORM_BITS": "12"})


def test_a_deployment_picks_a_loudness_preset_and_explicit_variables_override_it():
    settings = Settings.from_env({**LOCAL, "LOUDNESS_PRESET": "podcast"})
    assert (settings.audio.target_lufs, settings.audio.true_peak_ceiling_dbtp) == (-16.0, -1.0)
    settings = Settings.from_env({**LOCAL, "LOUDNESS_PRESET": "streaming", "TARGET_LUFS": "-15"})
    assert (settings.audio.target_lufs, settings.audio.true_peak_ceiling_dbtp) == (-15.0, -1.0)
    with pytest.raises(ConfigError, match="LOUDNESS_PRESET='LOUD' must be one of EBU_R128, STREAMING, PODCAST"):
        Settings.from_env({**LOCAL, "LOUDNESS_PRESET": "loud"})


def test_monitoring_is_off_unless_enabled():
    assert not Settings.from_env(PROD).monitoring
    settings = Settings.from_env({**PROD, "MONITORING_ENABLED": "true", "FLOWER_BASIC_AUTH": "a:b"})
    assert settings.monitoring and settings.event_heartbeat_s == 10.0
    assert "a:b" not in repr(settings)


@pytest.mark.parametrize("overrides, message", [
    ({"SQS_QUEUE_URL": "prod-audio-processing"}, "SQS_QUEUE_URL='prod-audio-processing' is not an http(s) URL"),
    ({"SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/audio"}, "is not an SQS queue URL"),
    ({"SQS_QUEUE_URL": PROD["SQS_QUEUE_URL"].replace("https", "http")}, "must use https"),
    ({"AWS_REGION": "Ireland"}, "AWS_REGION='Ireland' is not an AWS region"),
    ({"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY='0' must be between 1 and 64"),
    ({"WORKER_CONCURRENCY": "2; rm -rf /"}, "WORKER_CONCURRENCY='2; rm -rf /' is not a valid int"),
])
def test_production_values_are_checked_before_anything_starts(overrides, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**PROD, **overrides})
    assert message in str(raised.value)


def test_plain_http_queue_urls_are_for_the_emulator_only():
    settings = Settings.from_env({**LOCAL, "SQS_QUEUE_URL": "http://127.0.0.1:5000/123456789012/audio-processing"})
    assert settings.queue_name == "audio-processing"


JOB = {"SAMPLE_ID": "s-1", "S3_BUCKET": "audio-in", "S3_KEY": "incoming/s-1/a.wav"}


def test_task_mode_reads_one_job():
    assert task_mode_job(JOB) == JobArguments("s-1", "audio-in", "incoming/s-1/a.wav")


@pytest.mark.parametrize("overrides, message", [
    ({"SAMPLE_ID": ""}, "SAMPLE_ID is not set"),
    ({"SAMPLE_ID": "a b"}, "SAMPLE_ID='a b' is not"),
    ({"S3_BUCKET": "Not_A_Bucket"}, "S3_BUCKET='Not_A_Bucket' is not"),
    ({"S3_KEY": ""}, "S3_KEY is not set"),
    ({"S3_KEY": "/incoming/a.wav"}, "S3_KEY='/incoming/a.wav' is not"),
    ({"S3_KEY": "incoming/../secrets/a.wav"}, "S3_KEY='incoming/../secrets/a.wav' is not"),
    ({"S3_KEY": "k" * 1025}, "S3_KEY(1025 characters) is not"),
])
def test_task_mode_refuses_a_malformed_job(overrides, message):
    with pytest.raises(ConfigError) as raised:
        task_mode_job({**JOB, **overrides})
    assert message in str(raised.value)


def test_liveness_settings_stand_alone_for_the_health_check():
    assert LivenessSettings.from_env({}) == LivenessSettings()
    with pytest.raises(ConfigError, match="LIVENESS_MAX_AGE_SECONDS='soon' is not a valid float"):
        LivenessSettings.from_env({"LIVENESS_MAX_AGE_SECONDS": "soon"})


def test_every_default_is_the_one_the_dataclasses_define():
    settings = Settings.from_env(LOCAL)
    assert settings.limits == Limits() and settings.audio == AudioOptions()
    assert settings == Settings(endpoint_url=LOCAL["AWS_ENDPOINT_URL"])
