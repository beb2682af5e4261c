"""Service settings read from environment variables (12-factor): the one place that reads them.

``Settings.from_env()`` parses and validates the whole environment; ``load()`` does it
once per process (``celeryconfig`` first, when Celery loads it) and every other module
receives that ``Settings``. Each default is defined once, as a field default here or in the audio core's
``Limits``/``AudioOptions``, which are nested values of the settings. A missing or
malformed variable raises ``ConfigError`` whose message names the variable, so start-up
fails with one clear line. Two narrower readers serve processes that need no more:
``LivenessSettings.from_env`` (the container health check) and ``task_mode_job`` (the
job of a one-shot task, ``PROCESSING_MODE=task``).

Local mode is on when ``AWS_ENDPOINT_URL`` is set (the emulator): names get local
defaults and dummy credentials are allowed. Otherwise (production) the queue must be
given by ``SQS_QUEUE_URL`` over https and the region must be set; the worker never
creates queues.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

from audio_tasks.audio.options import (
    DEFAULT_PRESET,
    LOUDNESS_PRESETS,
    TARGET_LUFS_RANGE,
    TRUE_PEAK_CEILING_RANGE,
    AudioOptions,
    Limits,
)
from audio_tasks.message import JobArguments

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("testing", "testing")
_REGION = r"[a-z]{2}(-[a-z]+)+-[0-9]+"
_QUEUE_URL = r"https?://[^/\s]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}"


class ConfigError(Exception):
    """A required environment variable is missing or malformed."""


_loaded: "Settings | None" = None


def load() -> "Settings":
    """This process's settings: the environment, parsed on first use and reused after that."""
    global _loaded
    if _loaded is None:
        _loaded = Settings.from_env()
    return _loaded


@dataclass(frozen=True)
class LivenessSettings:
    """The worker's liveness file and the health check's patience (``audio_tasks.worker.liveness``)."""

    file: Path = Path("/tmp/audio-tasks-worker-alive")
    interval_s: float = 10.0
    max_age_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "LivenessSettings":
        env = _Env(os.environ if environ is None else environ)
        return cls(file=Path(env.str("LIVENESS_FILE", str(cls.file))),
                   interval_s=env.float("LIVENESS_INTERVAL_SECONDS", cls.interval_s, low=0.1, high=3600.0),
                   max_age_s=env.float("LIVENESS_MAX_AGE_SECONDS", cls.max_age_s, low=0.001, high=86400.0))


@dataclass(frozen=True)
class Dispatch:
    """Where producers send a job (``DISPATCH_MODE``): ``service``, the work queue; ``run-task``, a
    one-off Fargate task per sample (``PROCESSING_MODE=task``) of ``WORKER_TASK_DEFINITION``."""

    mode: str = "service"
    cluster: str | None = None
    task_definition: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: "_Env") -> "Dispatch":
        mode = env.choice("DISPATCH_MODE", cls.mode.upper(), ("SERVICE", "RUN-TASK")).lower()
        if mode == cls.mode:
            return cls()
        need = "is not set: DISPATCH_MODE=run-task starts the worker's task definition with RunTask"
        values = {name: env.str(name) for name in ("ECS_CLUSTER", "WORKER_TASK_DEFINITION", "WORKER_SUBNETS",
                                                   "WORKER_SECURITY_GROUPS")}
        for name, value in values.items():
            if value is None:
                raise ConfigError(f"{name} {need}")
        return cls(mode, values["ECS_CLUSTER"], values["WORKER_TASK_DEFINITION"],
                   _list(values["WORKER_SUBNETS"]), _list(values["WORKER_SECURITY_GROUPS"]))


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    endpoint_url: str | None = None
    region: str = LOCAL_REGION
    queue_url: str | None = None
    queue_name: str = "audio-processing"
    dlq_url: str | None = None
    input_bucket: str = "audio-tasks-input"
    input_prefix: str = "incoming/"
    output_bucket: str = "audio-tasks-output"
    samples_table: str = "audio-samples"
    visibility_timeout: int = 900
    task_time_limit: int = 3600
    task_soft_time_limit: int = 3420  # 95 % of the hard limit unless set
    max_attempts: int = 5
    retry_base_delay_s: int = 10
    retry_max_delay_s: int = 900
    shutdown_budget_s: int = 90
    worker_concurrency: int = 2
    prefetch_multiplier: int = 1
    wait_time_seconds: int = 20
    polling_interval: float = 0.0
    limits: Limits = Limits()
    audio: AudioOptions = AudioOptions()
    liveness: LivenessSettings = LivenessSettings()
    log_level: str = "INFO"
    monitoring: bool = False
    monitoring_prefix: str = "audio-tasks-mon-"
    event_heartbeat_s: float = 10.0
    flower_basic_auth: str | None = field(default=None, repr=False)
    ecs_agent_uri: str | None = None  # set by ECS in every task: scale-in protection (worker.protection)
    dispatch: Dispatch = Dispatch()
    reconcile_grace_s: int = 900  # producer.reconcile: how long a job may wait to be picked up or dispatched

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None

    @property
    def dlq_name(self) -> str:
        """The dead-letter queue's name: from ``SQS_DLQ_URL``, else ``<queue>-dlq`` (local)."""
        return _queue_name(self.dlq_url) if self.dlq_url else f"{self.queue_name}-dlq"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = _Env(os.environ if environ is None else environ)
        endpoint_url = env.url("AWS_ENDPOINT_URL")
        local = endpoint_url is not None
        queue_url = _queue_url(env, "SQS_QUEUE_URL", local)
        if queue_url is None and not local:
            raise ConfigError("SQS_QUEUE_URL is not set: in production the worker consumes the queue created by "
                              "CloudFormation (set AWS_ENDPOINT_URL to run against a local emulator)")
        region = env.str("AWS_REGION") or env.str("AWS_DEFAULT_REGION")
        if region is None and not local:
            raise ConfigError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
        if region is not None and not re.fullmatch(_REGION, region):
            raise ConfigError(f"AWS_REGION={region!r} is not an AWS region such as eu-west-1")
        # The visibility heartbeat keeps a running job's message hidden, so the time limits
        # are the maximum job duration (runaways stop there), not the visibility timeout.
        hard_limit = env.int("TASK_TIME_LIMIT", cls.task_time_limit, low=2, high=43200)
        retry_max_delay = env.int("RETRY_MAX_DELAY_SECONDS", cls.retry_max_delay_s, low=0, high=900)
        queue_name = _queue_name(queue_url) if queue_url else env.str("SQS_QUEUE_NAME", cls.queue_name)
        monitoring_prefix = env.match("MONITORING_PREFIX", cls.monitoring_prefix, r"[A-Za-z0-9_-]{1,40}",
                                      "1-40 letters, digits, - or _")
        if queue_name.startswith(monitoring_prefix):
            raise ConfigError(f"MONITORING_PREFIX={monitoring_prefix!r} is a prefix of the work queue's name "
                              f"{queue_name!r}: the janitor would delete it")
        return cls(
            endpoint_url=endpoint_url,
            region=region or LOCAL_REGION,
            queue_url=queue_url,
            queue_name=queue_name,
            dlq_url=_queue_url(env, "SQS_DLQ_URL", local),  # the worker requires it in production
            input_bucket=env.str("INPUT_BUCKET", cls.input_bucket),
            input_prefix=env.str("INPUT_PREFIX", cls.input_prefix),
            output_bucket=env.str("OUTPUT_BUCKET", cls.output_bucket),
            samples_table=env.str("SAMPLES_TABLE", cls.samples_table),
            visibility_timeout=env.int("SQS_VISIBILITY_TIMEOUT", cls.visibility_timeout, low=1, high=43200),
            task_time_limit=hard_limit,
            task_soft_time_limit=env.int("TASK_SOFT_TIME_LIMIT", max(1, int(hard_limit * 0.95)), low=1,
                                         high=hard_limit),
            max_attempts=env.int("TASK_MAX_ATTEMPTS", cls.max_attempts, low=1, high=100),
            retry_base_delay_s=env.int("RETRY_BASE_DELAY_SECONDS", cls.retry_base_delay_s, low=0,
                                       high=retry_max_delay),
            retry_max_delay_s=retry_max_delay,
            shutdown_budget_s=env.int("SHUTDOWN_BUDGET_SECONDS", cls.shutdown_budget_s, low=0, high=3600),
            worker_concurrency=env.int("WORKER_CONCURRENCY", cls.worker_concurrency, low=1, high=64),
            prefetch_multiplier=env.int("WORKER_PREFETCH_MULTIPLIER", cls.prefetch_multiplier, low=1, high=100),
            wait_time_seconds=env.int("SQS_WAIT_TIME_SECONDS", cls.wait_time_seconds, low=0, high=20),
            polling_interval=env.float("SQS_POLLING_INTERVAL", cls.polling_interval, low=0.0, high=60.0),
            limits=_limits(env, hard_limit),
            audio=_audio_options(env),
            liveness=LivenessSettings.from_env(env.environ),
            log_level=env.choice("LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
            monitoring=env.flag("MONITORING_ENABLED", cls.monitoring),
            monitoring_prefix=monitoring_prefix,
            event_heartbeat_s=env.float("EVENT_HEARTBEAT_SECONDS", cls.event_heartbeat_s, low=1.0, high=60.0),
            flower_basic_auth=env.match("FLOWER_BASIC_AUTH", None, r"[^:,]+:[^,]+(,[^:,]+:[^,]+)*",
                                        "user:password (comma-separated for several users)", secret=True),
            ecs_agent_uri=env.url("ECS_AGENT_URI"),
            dispatch=Dispatch.from_env(env),
            reconcile_grace_s=env.int("RECONCILE_GRACE_SECONDS", cls.reconcile_grace_s, low=60, high=86400),
        )


def task_mode_job(environ: Mapping[str, str] | None = None) -> JobArguments:
    """The one job of ``PROCESSING_MODE=task``: ``SAMPLE_ID``, ``S3_BUCKET``, ``S3_KEY``."""
    env = _Env(os.environ if environ is None else environ)
    key_rule = "an S3 key (no leading /, no .. segment, at most 1024 characters)"
    sample_id = env.required("SAMPLE_ID", r"[A-Za-z0-9._:-]{1,128}", "a sample id (letters, digits, . _ : -; "
                                                                      "at most 128)")
    bucket = env.required("S3_BUCKET", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name")
    key = env.required("S3_KEY", r"[^/].{0,1023}", key_rule)
    if ".." in key.split("/"):
        raise ConfigError(f"S3_KEY={key!r} is not {key_rule}")
    return JobArguments(sample_id, bucket, key)


def _queue_url(env: "_Env", name: str, local: bool) -> str | None:
    """An SQS queue URL, https outside local mode; None if unset."""
    url = env.url(name)
    if url is None:
        return None
    if not re.fullmatch(_QUEUE_URL, url):
        raise ConfigError(f"{name}={url!r} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
    if not local and not url.startswith("https://"):
        raise ConfigError(f"{name}={url!r} must use https (plain http only with AWS_ENDPOINT_URL, an emulator)")
    return url


def _limits(env: "_Env", hard_limit: int) -> Limits:
    return Limits(
        max_bytes=env.int("MAX_INPUT_BYTES", Limits.max_bytes, low=1, high=50 * 1024**3),
        max_duration_s=env.float("MAX_DURATION_SECONDS", Limits.max_duration_s, low=1.0, high=48 * 3600.0),
        decode_timeout_s=env.float("DECODE_TIMEOUT_SECONDS", Limits.decode_timeout_s, low=1.0,
                                   high=float(hard_limit)),
    )


def _audio_options(env: "_Env") -> AudioOptions:
    default = AudioOptions()
    # LOUDNESS_PRESET sets the defaults of TARGET_LUFS / TRUE_PEAK_CEILING_DBTP, which still win.
    preset = env.choice("LOUDNESS_PRESET", DEFAULT_PRESET.upper(), tuple(name.upper() for name in LOUDNESS_PRESETS))
    target_lufs, true_peak_ceiling_dbtp = LOUDNESS_PRESETS[preset.lower()]
    return AudioOptions(
        house_sample_rate=env.int("HOUSE_SAMPLE_RATE", default.house_sample_rate, low=8000, high=192000),
        target_lufs=env.float("TARGET_LUFS", target_lufs, low=TARGET_LUFS_RANGE[0], high=TARGET_LUFS_RANGE[1]),
        true_peak_ceiling_dbtp=env.float("TRUE_PEAK_CEILING_DBTP", true_peak_ceiling_dbtp,
                                         low=TRUE_PEAK_CEILING_RANGE[0], high=TRUE_PEAK_CEILING_RANGE[1]),
        trim_silence=env.flag("TRIM_SILENCE", default.trim_silence),
        preview_bitrate_kbps=env.int("PREVIEW_BITRATE_KBPS", default.preview_bitrate_kbps, low=32, high=320),
        waveform_samples_per_pixel=env.int("WAVEFORM_SAMPLES_PER_PIXEL", default.waveform_samples_per_pixel,
                                           low=1, high=1_000_000),
        waveform_bits=int(env.choice("WAVEFORM_BITS", str(default.waveform_bits), ("8", "16"))),
    )


def _queue_name(queue_url: str) -> str:
    return urlparse(queue_url).path.rsplit("/", 1)[-1]


class _Env:
    """Typed, validating reads of environment variables; empty counts as unset."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or default

    def required(self, name: str, pattern: str, what: str) -> str:
        value = self.str(name)
        if value is None:
            raise ConfigError(f"{name} is not set: it must be {what}")
        if not re.fullmatch(pattern, value, flags=re.DOTALL):
            shown = f"({len(value)} characters)" if len(value) > 200 else f"={value!r}"
            raise ConfigError(f"{name}{shown} is not {what}")
        return value

    def url(self, name: str) -> str | None:
        value = self.str(name)
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"{name}={value!r} is not an http(s) URL")
        return value

    def match(self, name: str, default: str | None, pattern: str, what: str, secret: bool = False) -> str | None:
        value = self.str(name)
        if value is None:
            return default
        if not re.fullmatch(pattern, value):
            raise ConfigError(f"{name}={'(value hidden)' if secret else repr(value)} is not {what}")
        return value

    def int(self, name: str, default: int, *, low: int, high: int) -> int:
        return int(self._number(name, default, int, low, high))

    def float(self, name: str, default: float, *, low: float, high: float) -> float:
        return float(self._number(name, default, float, low, high))

    def flag(self, name: str, default: bool) -> bool:
        return self.choice(name, "TRUE" if default else "FALSE", ("TRUE", "FALSE")) == "TRUE"

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.str(name) or default).upper()
        if value not in choices:
            raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
        return value

    def _number(self, name, default, kind, low, high):
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} must be between {low} and {high}")
        return value
