"""Monitoring queue and topic names: prefixed (IAM is scoped by the prefix), SQS-safe, ≤ 80 characters."""

import re

from audio_tasks.monitoring.transport import monitoring_name

PREFIX = "audio-tasks-mon-"


def test_names_are_prefixed_and_use_only_what_sqs_allows():
    assert monitoring_name(PREFIX, "celeryev.1b2c") == "audio-tasks-mon-celeryev-1b2c"
    assert monitoring_name(PREFIX, "worker@host.example.celery.pidbox") == \
        "audio-tasks-mon-worker_host-example-celery-pidbox"


def test_long_names_stay_unique_and_within_the_limit():
    a = monitoring_name(PREFIX, "w1@" + "very-long-host-name." * 5 + "celery.pidbox")
    b = monitoring_name(PREFIX, "w2@" + "very-long-host-name." * 5 + "celery.pidbox")
    assert len(a) == len(b) == 80 and a != b
    assert a.startswith(PREFIX) and re.fullmatch(r"[A-Za-z0-9_-]+", a)
