"""Live monitoring end to end: a real worker and a real Flower on the emulator, over HTTP.

One stack for the module (``StackOptions(monitoring=True)``): the worker sends events and
answers remote control over SNS fanout; Flower runs as ``audio-tasks flower`` behind basic
auth. Waits poll for a state with a generous deadline; nothing asserts how fast it came.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from audio_tasks import aws
from audio_tasks.local_stack import LocalStack, StackOptions
from audio_tasks.monitoring.transport import LEASE_TAG, TOPIC_KMS_KEY
from tests.support import ARTIFACTS, clean_env, eventually, json_lines, run_cli

pytestmark = pytest.mark.e2e

USER, PASSWORD = "admin", "s3cret"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def monitored():
    with LocalStack(ARTIFACTS / "logs-monitoring", StackOptions(monitoring=True)) as stack:
        stack.start_worker(name="worker")
        url, _ = stack.start_flower(extra_env={"FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"})
        yield stack, url


@pytest.fixture(scope="module")
def finished_tasks(monitored, tmp_path_factory):
    """A task that succeeded (a real sample) and one that failed; their Flower task ids."""
    stack, url = monitored
    import numpy as np

    from producer.demo import write_wav

    tone = tmp_path_factory.mktemp("monitoring") / "tone.wav"
    write_wav(tone, 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)[:, None], 8000)
    run = run_cli(stack.env, "submit", str(tone), "--wait", "--json", "--timeout", "120")
    assert run.returncode == 0, run.stderr
    [record] = json_lines(run.stdout)
    # DynamoDB losing the samples table is an error the task shell does not classify:
    # the job fails (Celery FAILURE) and stays unacked for SQS to redeliver.
    aws.client("dynamodb", stack.settings).delete_table(TableName=stack.settings.samples_table)
    doomed = "sample-whose-table-is-gone"
    code = f"from audio_tasks.worker.tasks import process_sample; process_sample.delay({doomed!r}, 'b', 'k')"
    subprocess.run([sys.executable, "-c", code], env=stack.env, check=True, timeout=60)

    def both_final():
        tasks = _api(url, "/api/tasks")
        ok = [t for t, info in tasks.items() if record["sample_id"] in info["args"] and info["state"] == "SUCCESS"]
        failed = [t for t, info in tasks.items() if doomed in info["args"] and info["state"] == "FAILURE"]
        return (ok[0], failed[0]) if ok and failed else None

    succeeded, failed = eventually(both_final, "Flower to report a succeeded and a failed task")
    return {"succeeded": succeeded, "failed": failed}


def test_inspect_ping_gets_a_pong(monitored):
    stack, _ = monitored

    def ping():
        run = subprocess.run([sys.executable, "-m", "celery", "-A", "audio_tasks", "inspect", "ping", "--timeout=5"],
                             env=stack.env, capture_output=True, text=True, timeout=120)
        return run.stdout if run.returncode == 0 else None

    # Remote control is best effort (as on every broker): a broadcast the worker picks up
    # after the caller's timeout goes unanswered, so the caller asks again.
    assert "pong" in eventually(ping, "a pong from the worker")


def test_the_monitoring_topics_are_encrypted(monitored, finished_tasks):
    # kombu creates them without attributes; EncryptedTopics overrides its private
    # _create_sns_topic (kombu 5.7): if kombu renames it, this fails.
    stack, _ = monitored
    sns = aws.client("sns", stack.settings)
    prefix = stack.settings.monitoring_prefix
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]
              if t["TopicArn"].rsplit(":", 1)[-1].startswith(prefix)]
    assert len(topics) >= 2  # events and remote control
    assert {sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("KmsMasterKeyId") for arn in topics} \
        == {TOPIC_KMS_KEY}


def test_flower_shows_the_worker_and_the_task_states(monitored, finished_tasks):
    stack, url = monitored
    tasks = _api(url, "/api/tasks")
    succeeded, failed = tasks[finished_tasks["succeeded"]], tasks[finished_tasks["failed"]]
    assert succeeded["name"] == failed["name"] == "audio_tasks.process_sample"
    assert succeeded["received"] and succeeded["started"] and succeeded["runtime"] > 0
    assert succeeded["result"] == "'COMPLETED'"
    assert "ResourceNotFoundException" in failed["exception"]
    assert succeeded["worker"].startswith("worker@")

    workers = _api(url, "/workers?json=1")["data"]  # from the events: online, processed counts
    [worker] = [w for w in workers if w["hostname"] == succeeded["worker"]]
    assert worker["status"] is True and worker["task-received"] >= 2

    def inspected():  # from remote control: what Flower's worker page shows (see the ping test)
        info = _api(url, f"/api/workers?refresh=1&workername={succeeded['worker']}").get(succeeded["worker"], {})
        return info if {"registered", "active", "reserved", "stats"} <= set(info) else None

    info = eventually(inspected, "Flower's worker inspection")
    assert "audio_tasks.process_sample" in info["registered"]
    assert info["active"] == info["reserved"] == [] and info["stats"]["pool"]["max-concurrency"] == 2


def test_flower_needs_credentials_but_metrics_do_not(monitored, finished_tasks):
    _, url = monitored
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/api/tasks", timeout=30)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        metrics = response.read().decode()
    assert 'flower_events_total{task="audio_tasks.process_sample",type="task-succeeded"' in metrics
    assert 'type="task-failed"' in metrics


def test_queue_depths_of_the_work_queue_and_dlq(monitored):
    stack, url = monitored
    rows = {row["queue"]: row for row in _api(url, "/api/queues")["queues"]}
    assert set(rows) == {stack.settings.queue_name, stack.settings.dlq_name}
    assert rows[stack.settings.dlq_name]["visible"] == 0
    assert all(isinstance(row[key], int) for row in rows.values() for key in ("visible", "in_flight", "delayed"))
    assert rows[stack.settings.queue_name]["oldest_age_s"] is None  # the emulator has no CloudWatch SQS metrics
    page = _get(url, "/queues")
    assert stack.settings.dlq_name in page and "in flight" in page


def test_flower_restarts_leave_no_queues_or_subscriptions_behind(monitored):
    stack, _ = monitored
    before = _monitoring_resources(stack)
    for attempt in range(3):
        _, proc = stack.start_flower(name=f"flower-restart-{attempt}")
        eventually(lambda: len(_monitoring_resources(stack)["queues"]) > len(before["queues"]) or None,
                    "the restarted Flower to create its event queue")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert _monitoring_resources(stack) == before


def test_janitor_removes_a_killed_flowers_queue_once_its_lease_ran_out(monitored):
    stack, _ = monitored
    before = _monitoring_resources(stack)
    _, proc = stack.start_flower(name="flower-killed")
    eventually(lambda: len(_monitoring_resources(stack)["subscriptions"]) > len(before["subscriptions"]) or None,
                "the killed Flower to subscribe its event queue")
    stack.kill_worker(proc)  # SIGKILL: no clean exit, the queue and subscription stay
    proc.wait()
    orphans = set(_monitoring_resources(stack)["queues"]) - set(before["queues"])  # events and reply queues
    assert orphans

    kept = run_cli(stack.env, "janitor")
    assert kept.returncode == 0 and orphans <= set(_monitoring_resources(stack)["queues"])  # their leases still run

    sqs = aws.client("sqs", stack.settings)
    for orphan in orphans:  # as if the lease had run out
        sqs.tag_queue(QueueUrl=sqs.get_queue_url(QueueName=orphan)["QueueUrl"], Tags={LEASE_TAG: "1"})
    swept = run_cli(stack.env, "janitor")
    assert swept.returncode == 0, swept.stderr
    assert f"deleted {len(orphans)} stale queues and 1 subscriptions" in swept.stdout
    assert _monitoring_resources(stack) == before


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (apt-get install "
                    "chromium; .ci/run installs it in CI)")
def test_a_browser_sees_the_worker_and_the_tasks(monitored, finished_tasks):
    from playwright.sync_api import sync_playwright

    stack, url = monitored
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_context(http_credentials={"username": USER, "password": PASSWORD}).new_page()
            page.goto(f"{url}/workers", timeout=60_000)
            page.get_by_text("worker@").first.wait_for(timeout=60_000)
            page.goto(f"{url}/tasks", timeout=60_000)
            for task_id in finished_tasks.values():
                page.get_by_text(task_id).wait_for(timeout=60_000)
            text = page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "flower-tasks.png"), full_page=True)
        finally:
            browser.close()
    assert "SUCCESS" in text and "FAILURE" in text


@pytest.mark.parametrize("variables, named", [
    ({}, "MONITORING_ENABLED is not true"),
    ({"MONITORING_ENABLED": "true"}, "FLOWER_BASIC_AUTH is not set"),
])
def test_flower_refuses_to_start_without_monitoring_or_outside_local_mode_without_auth(variables, named):
    production = {"SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "AWS_REGION": "eu-west-1"}
    run = run_cli(clean_env(**production, **variables), "flower")
    assert run.returncode == 78 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert named in json.loads(line)["message"]


def _monitoring_resources(stack) -> dict:
    settings = stack.settings
    queues = [u.rsplit("/", 1)[-1] for u in aws.client("sqs", settings).list_queues(
        QueueNamePrefix=settings.monitoring_prefix).get("QueueUrls", [])]
    subscriptions = [s["Endpoint"] for s in aws.client("sns", settings).list_subscriptions()["Subscriptions"]]
    return {"queues": sorted(queues), "subscriptions": sorted(subscriptions)}


def _get(url: str, path: str) -> str:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


def _api(url: str, path: str):
    return json.loads(_get(url, path))


