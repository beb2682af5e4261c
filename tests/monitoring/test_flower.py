"""Live monitoring end to end: a real worker and a real Flower on the emulator, over HTTP.

One stack for the module (``StackOptions(monitoring=True)``): the worker sends events and
answers remote control over SNS fanout; Flower runs as ``audio-tasks flower`` behind basic
auth. The worker is the production app with the reliability tests' fault injection
(``tests.worker.fault_injection``: a file named ``transient1-…`` fails once transiently,
``sleep<S>-…`` takes S seconds more), started as ``celery -A … worker`` with no
``--heartbeat-interval``. Waits poll for a state with a generous deadline; nothing asserts
how fast it came.
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
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.local_stack import LocalStack, StackOptions
from audio_tasks.message import derived_sample_id
from audio_tasks.monitoring.transport import LEASE_TAG, TOPIC_KMS_KEY
from tests.support import ARTIFACTS, REPO, clean_env, eventually, run_cli, send_body, submit_tones
from tests.worker.run_counts import runs

pytestmark = pytest.mark.e2e

USER, PASSWORD = "admin", "s3cret"
CHROMIUM = "/usr/bin/chromium"
RETRY_DELAY_S = "6"  # long enough for Flower to show the retried task as RETRY before it runs again
# The unexpected failure's message stays in flight this long, longer than the module runs, so the
# queue depths the tests check stay put.
VISIBILITY_S = 3600
JOB_FOLDERS = "audio-tasks-pool-*/audio-tasks-*"  # a job's temporary folder, in its pool process's
PLAIN_JOB_INPUT = "missing.wav"  # the name of the (missing) input of every plain JSON job sent here


@dataclass(frozen=True)
class Jobs:
    """The test inputs' folder, the fault-injecting worker's count of each job's runs, its TMPDIR."""

    inputs: Path
    state: Path
    temp: Path

    def submit(self, stack, **files: str) -> dict[str, str]:
        """Submit each file (a short tone, unless it is in ``inputs`` already); {its key: sample id}."""
        return dict(zip(files, submit_tones(stack.env, self.inputs, *files.values())))

    def runs(self, sample_id: str) -> int:
        return runs(self.state, sample_id)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    return Jobs(*(tmp_path_factory.mktemp(f"monitoring-{name}") for name in ("inputs", "runs", "tmp")))


@pytest.fixture(scope="module")
def monitored(jobs):
    options = StackOptions(monitoring=True, visibility_timeout=VISIBILITY_S)
    with LocalStack(ARTIFACTS / "logs-monitoring", options) as stack:
        stack.start_worker(name="worker", app="tests.worker.fault_injection", extra_env={
            "FAULT_STATE_DIR": str(jobs.state), "PYTHONPATH": str(REPO), "TMPDIR": str(jobs.temp),
            "RETRY_BASE_DELAY_SECONDS": RETRY_DELAY_S, "RETRY_MAX_DELAY_SECONDS": RETRY_DELAY_S})
        url, _ = stack.start_flower(extra_env={"FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"})
        yield stack, url


@pytest.fixture(scope="module")
def finished_tasks(monitored, jobs):
    """Four samples run to the end, with every Flower state their tasks were seen in.

    ``ok`` completes; ``bad`` is not audio (FAILED ``invalid_audio``); ``retried`` fails once
    transiently, then completes; ``broken``'s record makes DynamoDB refuse the job's first
    update, an error the task shell does not classify: the task fails and its message is
    left for SQS to redeliver (``task_acks_on_failure = False``).
    """
    stack, url = monitored
    (jobs.inputs / "bad.wav").write_text("not audio at all")
    ids = jobs.submit(stack, ok="ok.wav", retried="transient1-retried.wav", bad="bad.wav")
    ids["broken"] = _broken_sample(stack)
    seen: dict[str, set] = {name: set() for name in ids}

    def all_final():
        tasks = _tasks_by_sample(url, ids)
        for name, task in tasks.items():
            seen[name].add(task["state"])
        done = {"ok": "SUCCESS", "retried": "SUCCESS", "bad": "FAILURE", "broken": "FAILURE"}
        return tasks if all(tasks.get(name, {}).get("state") == state for name, state in done.items()) else None

    tasks = eventually(all_final, "Flower to show every task in its final state", interval_s=0.25)
    return {name: {"sample_id": ids[name], "task": tasks[name], "states": seen[name]} for name in ids}


def test_inspect_ping_gets_a_pong(monitored):
    stack, _ = monitored

    def ping():
        run = subprocess.run([sys.executable, "-m", "celery", "-A", "audio_tasks", "inspect", "ping", "--timeout=5"],
                             env=stack.env, capture_output=True, text=True, timeout=120)
        return run.stdout if run.returncode == 0 else None

    # Remote control is best effort (as on every broker): a broadcast the worker picks up
    # after the caller's timeout goes unanswered, so the caller asks again.
    assert "pong" in eventually(ping, "a pong from the worker")


def test_plain_json_jobs_show_up_and_hostile_bodies_on_the_monitoring_queues_stop_nothing(monitored):
    """Flower's and the worker's own queues are read through the channel that reads the work queue."""
    stack, url = monitored
    first = _plain_job_in_flower(stack, url)
    assert first["name"] == "audio_tasks.process_sample" and "missing_input" in first["exception"]

    sqs = aws.client("sqs", stack.settings)
    queues = [url for url in sqs.list_queues(QueueNamePrefix=stack.settings.monitoring_prefix).get("QueueUrls", [])
              if "reply" not in url]  # replies are awaited by a caller only during a call
    assert len(queues) >= 2  # Flower's event queue, the worker's control queue
    hostile = ["[" * 100_000 + "]" * 100_000, '{"headers": "text", "properties": []}',
               base64.b64encode(json.dumps({"body": "!!", "properties": {"body_encoding": "base64"}}).encode()).decode()]
    logged = {name: stack.log_path(name).read_text().count(line)  # the logs of earlier runs are kept
              for name, line in (("flower", "Failed to capture events"), ("worker", "Control command error"))}
    for queue in queues:
        for body in hostile:
            sqs.send_message(QueueUrl=queue, MessageBody=body)
    # Flower's event thread and the worker's remote control each meet an empty message, log it and start
    # over with a fresh consumer (Flower: a new event queue; events sent meanwhile are not shown).
    for name, line in (("flower", "Failed to capture events"), ("worker", "Control command error")):
        eventually(lambda: stack.log_path(name).read_text().count(line) > logged[name], f"{name} to meet them")
    assert eventually(lambda: _plain_job_in_flower(stack, url, timeout_s=15), "Flower to show jobs again")
    assert all(process.poll() is None for process in stack.processes())


def _plain_job_in_flower(stack, url, timeout_s: float = 120) -> dict | None:
    """Send a plain JSON job with boto3 (its input is missing); Flower's record of it once it failed."""
    key = f"incoming/{uuid.uuid4()}/{PLAIN_JOB_INPUT}"
    message_id = send_body(stack, {"bucket": stack.env["INPUT_BUCKET"], "key": key})

    def shown():  # received (its arguments known) and failed: a consumer restarting meanwhile may miss one
        task = _api(url, "/api/tasks").get(message_id)
        return task if task and task["state"] == "FAILURE" and task["args"] is not None else None
    try:
        task = eventually(shown, "Flower to show the plain JSON job as finished", timeout_s)
    except AssertionError:
        return None
    assert derived_sample_id(stack.env["INPUT_BUCKET"], key) in task["args"]
    return task


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


def test_a_failed_sample_is_a_failure_in_flower_and_its_message_is_acked(monitored, jobs, finished_tasks):
    stack, url = monitored
    bad, broken = finished_tasks["bad"], finished_tasks["broken"]
    record = SampleRecords(stack.settings).get(bad["sample_id"])
    assert record["status"] == "FAILED" and record["error"]["code"] == "invalid_audio"
    # The record's code and message are the task's exception.
    assert bad["task"]["exception"] == f"JobFailed('invalid_audio', {record['error']['message']!r})"
    assert "ValidationException" in broken["task"]["exception"]

    # Acked: of the four messages only the unexpected failure's is left (in flight, until SQS
    # redelivers it), and the failed sample ran once. Acked messages are deleted in batches,
    # within 0.5 s of the ack (audio_tasks.worker.batched_deletes).
    eventually(lambda: _depths(stack) == {"visible": 0, "in_flight": 1}, "only the unexpected failure's message left",
               timeout_s=30)
    assert jobs.runs(bad["sample_id"]) == 1

    # Besides these two, the plain JSON jobs of an earlier test failed (their inputs are missing).
    plain = {task_id for task_id, task in _api(url, "/api/tasks").items()
             if task["state"] == "FAILURE" and PLAIN_JOB_INPUT in (task.get("args") or "")}
    [worker] = [w for w in _api(url, "/workers?json=1")["data"] if w["hostname"] == bad["task"]["worker"]]
    assert worker["task-failed"] == 2 + len(plain)  # the Failed counter
    failed = _api(url, "/tasks/datatable?draw=1&start=0&length=50&search[value]=state:FAILURE"
                       "&order[0][column]=0&order[0][dir]=asc&columns[0][data]=name")["data"]
    assert {t["uuid"] for t in failed} == {bad["task"]["uuid"], broken["task"]["uuid"], *plain}  # the Failed filter


def test_a_retried_job_shows_retry_then_success(monitored, jobs, finished_tasks):
    stack, url = monitored
    retried = finished_tasks["retried"]
    assert {"RETRY", "SUCCESS"} <= retried["states"]
    info = _api(url, f"/api/task/info/{retried['task']['uuid']}")
    assert info["retries"] == 1 and "injected transient failure 1" in info["exception"]
    assert SampleRecords(stack.settings).get(retried["sample_id"])["status"] == "COMPLETED"
    assert jobs.runs(retried["sample_id"]) == 2


def test_flower_shows_the_worker_and_the_task_states(monitored, finished_tasks):
    stack, url = monitored
    ok = finished_tasks["ok"]["task"]
    assert ok["name"] == "audio_tasks.process_sample" and ok["state"] == "SUCCESS"
    assert ok["received"] and ok["started"] and ok["runtime"] > 0
    assert ok["result"] == "'COMPLETED'"
    assert ok["worker"].startswith("worker@")

    workers = _api(url, "/workers?json=1")["data"]  # from the events: online, processed counts
    [worker] = [w for w in workers if w["hostname"] == ok["worker"]]
    assert worker["status"] is True and worker["task-received"] >= 4
    assert worker["freq"] == 10  # EVENT_HEARTBEAT_SECONDS' default, with no --heartbeat-interval

    def inspected():  # from remote control: what Flower's worker page shows (see the ping test)
        info = _api(url, f"/api/workers?refresh=1&workername={ok['worker']}").get(ok["worker"], {})
        return info if {"registered", "active", "reserved", "stats"} <= set(info) else None

    info = eventually(inspected, "Flower's worker inspection")
    assert "audio_tasks.process_sample" in info["registered"]
    assert info["active"] == info["reserved"] == [] and info["stats"]["pool"]["max-concurrency"] == 2


def test_flower_and_its_metrics_need_credentials(monitored, finished_tasks):
    _, url = monitored
    for path in ("/api/tasks", "/metrics", "/broker", "/api/queues"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}{path}", timeout=30)
        assert refused.value.code == 401, path
    metrics = _get(url, "/metrics")  # Prometheus's basic_auth scrape setting sends the same header
    assert 'flower_events_total{task="audio_tasks.process_sample",type="task-succeeded"' in metrics
    assert 'flower_events_total{task="audio_tasks.process_sample",type="task-failed"' in metrics
    assert 'flower_events_total{task="audio_tasks.process_sample",type="task-retried"' in metrics


def test_the_broker_page_shows_the_work_queue_and_dlq_depths(monitored, finished_tasks):
    stack, url = monitored
    rows = {row["queue"]: row for row in _api(url, "/api/queues")["queues"]}
    assert set(rows) == {stack.settings.queue_name, stack.settings.dlq_name}
    work, dlq = rows[stack.settings.queue_name], rows[stack.settings.dlq_name]
    assert (work["visible"], work["in_flight"], work["delayed"]) == (0, 1, 0)  # the unexpected failure's
    assert (dlq["visible"], dlq["in_flight"], dlq["delayed"]) == (0, 0, 0)
    assert work["oldest_age_s"] is None  # the emulator has no CloudWatch SQS metrics
    page = _get(url, "/broker")  # Flower's own nav link: its 404 for SQS is replaced
    assert f'<tr id="{stack.settings.dlq_name}">' in page and "In flight" in page and "Workers</a>" in page
    assert _get(url, "/queues") == page


def test_terminate_from_flower_fails_the_sample_cancelled_and_deletes_its_message(monitored, jobs,
                                                                                  finished_tasks):
    stack, url = monitored
    sample_id = jobs.submit(stack, long="sleep300-long.wav")["long"]
    task = eventually(lambda: (t := _tasks_by_sample(url, {"long": sample_id}).get("long")) and
                      t["state"] == "STARTED" and t, "the long job to start")
    eventually(lambda: list(jobs.temp.glob(JOB_FOLDERS)), "the job's temporary folder (for its input)")
    _post(url, f"/api/task/revoke/{task['uuid']}?terminate=true")  # Flower's Terminate button

    record = eventually(lambda: (r := SampleRecords(stack.settings).get(sample_id))["status"] == "FAILED" and r,
                        "the terminated sample's record to be final")
    assert {k: record["error"][k] for k in ("code", "reason", "signal")} == \
        {"code": "cancelled", "reason": "terminated", "signal": "SIGTERM"}
    assert record["error"]["worker"] == task["worker"] and task["worker"] in record["error"]["message"]
    assert list(jobs.temp.glob(JOB_FOLDERS)) == []  # SIGTERM unwound the job: its folder is gone
    assert eventually(lambda: _tasks_by_sample(url, {"long": sample_id})["long"]["state"] == "REVOKED",
                      "Flower to show the task revoked")
    assert eventually(lambda: _depths(stack)["in_flight"] == 1, "its message to be deleted")  # the broken one's
    s3 = aws.client("s3", stack.settings)
    assert s3.list_objects_v2(Bucket=stack.settings.output_bucket, Prefix=f"processed/{sample_id}/")["KeyCount"] == 0
    # The worker replaced the killed pool process and goes on working.
    after = jobs.submit(stack, after="after.wav")["after"]
    assert eventually(lambda: SampleRecords(stack.settings).get(after)["status"] == "COMPLETED",
                      "the next job to complete")


def test_a_job_revoked_while_queued_is_never_run_and_fails_cancelled(monitored, jobs, finished_tasks):
    stack, url = monitored
    task_id, sample_id = str(uuid.uuid4()), f"revoked-{uuid.uuid4()}"
    revoke = subprocess.run([sys.executable, "-m", "celery", "-A", "audio_tasks", "control", "revoke", task_id],
                            env=stack.env, capture_output=True, text=True, timeout=60)
    assert revoke.returncode == 0, revoke.stderr
    [worker] = [w["hostname"] for w in _api(url, "/workers?json=1")["data"] if w["status"]]
    eventually(lambda: task_id in _api(url, f"/api/workers?refresh=1&workername={worker}")
               .get(worker, {}).get("revoked", []), "the worker to hold the revoke")

    key = f"incoming/{sample_id}/tone.wav"
    SampleRecords(stack.settings).create(sample_id, f"s3://{stack.settings.input_bucket}/{key}")
    _send(stack, f"process_sample.apply_async(args=({sample_id!r}, {stack.settings.input_bucket!r}, {key!r}), "
                 f"task_id={task_id!r})")
    record = eventually(lambda: (r := SampleRecords(stack.settings).get(sample_id))["status"] == "FAILED" and r,
                        "the revoked sample's record to be final")
    assert {k: record["error"][k] for k in ("code", "reason", "signal", "worker")} == \
        {"code": "cancelled", "reason": "revoked", "signal": None, "worker": worker}
    assert record["attempts"] == 0 and jobs.runs(sample_id) == 0  # never started
    assert eventually(lambda: _depths(stack)["in_flight"] == 1, "its message to be deleted")


def test_reply_queues_do_not_grow_with_page_views(monitored, finished_tasks):
    stack, url = monitored
    worker = finished_tasks["ok"]["task"]["worker"]
    _api(url, f"/api/workers?refresh=1&workername={worker}")  # Flower's reply queue exists from here on
    before = _monitoring_resources(stack)["queues"]
    for _ in range(10):  # each: eight inspect calls (stats, registered, active, ...), awaited
        _api(url, f"/api/workers?refresh=1&workername={worker}")
        _get(url, "/workers?refresh=1")  # the workers page: five more, in the background
    after = _monitoring_resources(stack)["queues"]
    assert after == before
    assert sum(".reply." in name or "-reply-" in name for name in after) == 1  # Flower's one reply queue


def test_a_plain_worker_takes_the_heartbeat_setting_and_inspect_d_returns_with_every_reply(monitored,
                                                                                          finished_tasks):
    stack, url = monitored
    plain = stack.start_worker(name="plain", extra_env={"EVENT_HEARTBEAT_SECONDS": "7",
                                                        "SQS_WAIT_TIME_SECONDS": "1"})  # celery -A audio_tasks
    try:
        name = eventually(lambda: next((w for w in _worker_names(url) if w.startswith("plain@")), None),
                          "Flower to see the plain worker")
        workers = {w["hostname"]: w for w in _api(url, "/workers?json=1")["data"]}
        assert workers[name]["freq"] == 7  # the worker-heartbeat events' interval, as the worker sends it
        both = [name, finished_tasks["ok"]["task"]["worker"]]
        # Both named workers reply within seconds: the call returns then, not after its 300 s timeout.
        ping = subprocess.run([sys.executable, "-m", "celery", "-A", "audio_tasks", "inspect", "ping",
                               "-d", ",".join(both), "--timeout=300", "--json"],
                              env=stack.env, capture_output=True, text=True, timeout=200)
        assert ping.returncode == 0, ping.stderr
        assert set(json.loads(ping.stdout)) == set(both)
    finally:
        assert stack.stop_worker(plain) == 0


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
def test_a_browser_sees_the_failed_filter_and_the_queue_depths(monitored, finished_tasks):
    from playwright.sync_api import sync_playwright

    stack, url = monitored
    bad, ok = finished_tasks["bad"], finished_tasks["ok"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                       viewport={"width": 1600, "height": 900}).new_page()
            page.goto(f"{url}/workers", timeout=60_000)
            page.get_by_text("worker@").first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "flower-workers.png"), full_page=True)

            page.goto(f"{url}/tasks", timeout=60_000)
            page.get_by_text(ok["sample_id"]).wait_for(timeout=60_000)  # the args column, by default
            page.get_by_role("button", name="Failed").click()
            page.get_by_text(bad["sample_id"]).wait_for(timeout=60_000)
            page.get_by_text(ok["sample_id"]).wait_for(state="detached", timeout=60_000)
            failed_rows = page.locator("#tasks-table tbody tr").all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "flower-tasks-failed.png"), full_page=True)

            page.get_by_role("link", name="Broker").click()
            page.locator("#queue-table").wait_for(timeout=60_000)
            queues = page.locator("#queue-table tbody tr").all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "flower-broker.png"), full_page=True)
        finally:
            browser.close()
    assert all("FAILURE" in row for row in failed_rows)  # with the plain JSON jobs of an earlier test
    assert any(finished_tasks["broken"]["sample_id"][:20] in row for row in failed_rows)
    assert any(bad["sample_id"] in row and "invalid_audio" in row for row in failed_rows)
    work, dlq = stack.settings.queue_name, stack.settings.dlq_name
    assert sorted(row.split()[:5] for row in queues) == sorted([[work, "0", "1", "0", "unknown"],
                                                                [dlq, "0", "0", "0", "unknown"]])


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


# -- helpers ---------------------------------------------------------------------------
def _broken_sample(stack) -> str:
    """A QUEUED sample whose record DynamoDB cannot claim (``attempts`` is a string), enqueued."""
    sample_id, key = f"broken-{uuid.uuid4()}", "incoming/broken/tone.wav"
    SampleRecords(stack.settings).create(sample_id, f"s3://{stack.settings.input_bucket}/{key}")
    aws.client("dynamodb", stack.settings).update_item(
        TableName=stack.settings.samples_table, Key={"sample_id": {"S": sample_id}},
        UpdateExpression="SET attempts = :text", ExpressionAttributeValues={":text": {"S": "not a number"}})
    _send(stack, f"process_sample.delay({sample_id!r}, {stack.settings.input_bucket!r}, {key!r})")
    return sample_id


def _send(stack, call: str) -> None:
    code = f"from audio_tasks.worker.tasks import process_sample; {call}"
    subprocess.run([sys.executable, "-c", code], env=stack.env, check=True, timeout=60)


def _tasks_by_sample(url: str, sample_ids: dict[str, str]) -> dict[str, dict]:
    """Flower's task for each named sample (found by its args), with ``uuid``."""
    tasks = _api(url, "/api/tasks")
    return {name: {**info, "uuid": task_id} for task_id, info in tasks.items()
            for name, sample_id in sample_ids.items() if sample_id in (info.get("args") or "")}


def _worker_names(url: str) -> list[str]:
    return [w["hostname"] for w in _api(url, "/workers?json=1")["data"]]


def _depths(stack) -> dict:
    attributes = aws.client("sqs", stack.settings).get_queue_attributes(
        QueueUrl=stack.env["SQS_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    return {"visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}


def _monitoring_resources(stack) -> dict:
    settings = stack.settings
    queues = [u.rsplit("/", 1)[-1] for u in aws.client("sqs", settings).list_queues(
        QueueNamePrefix=settings.monitoring_prefix).get("QueueUrls", [])]
    subscriptions = [s["Endpoint"] for s in aws.client("sns", settings).list_subscriptions()["Subscriptions"]]
    return {"queues": sorted(queues), "subscriptions": sorted(subscriptions)}


def _request(url: str, path: str, method: str = "GET") -> str:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


def _get(url: str, path: str) -> str:
    return _request(url, path)


def _post(url: str, path: str) -> str:
    return _request(url, path, "POST")


def _api(url: str, path: str):
    return json.loads(_get(url, path))
