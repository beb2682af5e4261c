"""Service settings read from environment variables (12-factor).

``Settings.from_env()`` is the only place that reads the environment; every other
module receives a ``Settings``. A missing or malformed variable raises
``ConfigError`` whose message names the variable, so start-up fails with one clear line.

Local mode is on when ``AWS_ENDPOINT_URL`` is set (the emulator): names get local
defaults and dummy credentials are allowed. Otherwise (production) the queue must be
given by ``SQS_QUEUE_URL`` and the region must be set; the worker never creates queues.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlparse

DEFAULT_QUEUE_NAME = "audio-processing"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("testing", "testing")
DEFAULT_MONITORING_PREFIX = "audio-tasks-mon-"


class ConfigError(Exception):
    """A required environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    endpoint_url: str | None
    region: str
    queue_url: str | None
    queue_name: str
    dlq_url: str | None
    input_bucket: str
    output_bucket: str
    input_prefix: str
    samples_table: str
    visibility_timeout: int
    task_soft_time_limit: int
    task_time_limit: int
    max_attempts: int
    retry_base_delay_s: int
    retry_max_delay_s: int
    shutdown_budget_s: int
    prefetch_multiplier: int
    wait_time_seconds: int
    polling_interval: float
    max_input_bytes: int
    max_duration_s: float
    decode_timeout_s: float
    house_sample_rate: int
    target_lufs: float
    true_peak_ceiling_dbtp: float
    trim_silence: bool
    preview_bitrate_kbps: int
    waveform_samples_per_pixel: int
    waveform_bits: int
    log_level: str
    monitoring: bool = False
    monitoring_prefix: str = DEFAULT_MONITORING_PREFIX
    event_heartbeat_s: float = 10.0
    flower_basic_auth: str | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None

    @property
    def dlq_name(self) -> str:
        """The dead-letter queue's name: from ``SQS_DLQ_URL``, else ``<queue>-dlq`` (local)."""
        return _queue_name(self.dlq_url, "SQS_DLQ_URL") if self.dlq_url else f"{self.queue_name}-dlq"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = _Env(os.environ if environ is None else environ)
        endpoint_url = env.url("AWS_ENDPOINT_URL")
        local = endpoint_url is not None
        queue_url = env.url("SQS_QUEUE_URL")
        if queue_url is None and not local:
            raise ConfigError(
                "SQS_QUEUE_URL is not set: in production the worker consumes the queue "
                "created by CloudFormation (set AWS_ENDPOINT_URL to run against a local emulator)"
            )
        region = env.str("AWS_REGION") or env.str("AWS_DEFAULT_REGION")
        if region is None:
            if not local:
                raise ConfigError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
            region = LOCAL_REGION
        dlq_url = env.url("SQS_DLQ_URL")
        visibility = env.int("SQS_VISIBILITY_TIMEOUT", 900, low=1, high=43200)
        # The visibility heartbeat keeps a running job's message hidden, so the time limits
        # are the maximum job duration (runaways stop there), not the visibility timeout.
        hard_limit = env.int("TASK_TIME_LIMIT", 3600, low=2, high=43200)
        soft_limit = env.int("TASK_SOFT_TIME_LIMIT", max(1, int(hard_limit * 0.95)), low=1, high=hard_limit)
        retry_max_delay = env.int("RETRY_MAX_DELAY_SECONDS", 900, low=0, high=900)
        queue_name = _queue_name(queue_url) if queue_url else env.str("SQS_QUEUE_NAME", DEFAULT_QUEUE_NAME)
        monitoring_prefix = env.match("MONITORING_PREFIX", DEFAULT_MONITORING_PREFIX, r"[A-Za-z0-9_-]{1,40}",
                                      "1-40 letters, digits, - or _")
        if queue_name.startswith(monitoring_prefix):
            raise ConfigError(f"MONITORING_PREFIX={monitoring_prefix!r} is a prefix of the work queue's name "
                              f"{queue_name!r}: the janitor would delete it")
        return cls(
            endpoint_url=endpoint_url,
            region=region,
            queue_url=queue_url,
            queue_name=queue_name,
            dlq_url=dlq_url,  # the worker requires it in production (worker_signals)
            input_bucket=env.str("INPUT_BUCKET", "audio-tasks-input"),
            output_bucket=env.str("OUTPUT_BUCKET", "audio-tasks-output"),
            input_prefix=env.str("INPUT_PREFIX", "incoming/"),
            samples_table=env.str("SAMPLES_TABLE", "audio-samples"),
            visibility_timeout=visibility,
            task_soft_time_limit=soft_limit,
            task_time_limit=hard_limit,
            max_attempts=env.int("TASK_MAX_ATTEMPTS", 5, low=1, high=100),
            retry_base_delay_s=env.int("RETRY_BASE_DELAY_SECONDS", 10, low=0, high=retry_max_delay),
            retry_max_delay_s=retry_max_delay,
            shutdown_budget_s=env.int("SHUTDOWN_BUDGET_SECONDS", 90, low=0, high=3600),
            prefetch_multiplier=env.int("WORKER_PREFETCH_MULTIPLIER", 1, low=1, high=100),
            wait_time_seconds=env.int("SQS_WAIT_TIME_SECONDS", 20, low=0, high=20),
            polling_interval=env.float("SQS_POLLING_INTERVAL", 0.0, low=0.0, high=60.0),
            max_input_bytes=env.int("MAX_INPUT_BYTES", 2 * 1024**3, low=1, high=50 * 1024**3),
            max_duration_s=env.float("MAX_DURATION_SECONDS", 4 * 3600.0, low=1.0, high=48 * 3600.0),
            decode_timeout_s=env.float("DECODE_TIMEOUT_SECONDS", 600.0, low=1.0, high=float(hard_limit)),
            house_sample_rate=env.int("HOUSE_SAMPLE_RATE", 44100, low=8000, high=192000),
            target_lufs=env.float("TARGET_LUFS", -23.0, low=-70.0, high=0.0),
            true_peak_ceiling_dbtp=env.float("TRUE_PEAK_CEILING_DBTP", -1.0, low=-20.0, high=0.0),
            trim_silence=env.choice("TRIM_SILENCE", "FALSE", ("TRUE", "FALSE")) == "TRUE",
            preview_bitrate_kbps=env.int("PREVIEW_BITRATE_KBPS", 128, low=32, high=320),
            waveform_samples_per_pixel=env.int("WAVEFORM_SAMPLES_PER_PIXEL", 256, low=1, high=1_000_000),
            waveform_bits=int(env.choice("WAVEFORM_BITS", "8", ("8", "16"))),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            monitoring=env.choice("MONITORING_ENABLED", "FALSE", ("TRUE", "FALSE")) == "TRUE",
            monitoring_prefix=monitoring_prefix,
            event_heartbeat_s=env.float("EVENT_HEARTBEAT_SECONDS", 10.0, low=1.0, high=60.0),
            flower_basic_auth=env.match("FLOWER_BASIC_AUTH", None, r"[^:,]+:[^,]+(,[^:,]+:[^,]+)*",
                                        "user:password (comma-separated for several users)", secret=True),
        )


def _queue_name(queue_url: str, variable: str = "SQS_QUEUE_URL") -> str:
    name = urlparse(queue_url).path.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise ConfigError(f"{variable}={queue_url!r} does not end in a queue name")
    return name


class _Env:
    """Typed, validating reads of environment variables; empty counts as unset."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or default

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
