"""Graceful shutdown (SIGTERM, as ECS stops a task) of a real worker, with a second worker
standing by. The stack's visibility timeout is long (60 s) so that only a release by the
stopping worker, not an expiry, can hand its jobs over quickly.

The stopping worker long-polls for 20 s, as in production, and holds fewer jobs than its
prefetch limit, so its next poll is open on the queue when SIGTERM comes: moto, like SQS,
hands that poll whatever becomes visible, even once nobody will read the answer.
"""

from __future__ import annotations

import time

import pytest

from audio_tasks.local_stack import StackOptions
from tests.support import eventually
from tests.worker.reliability_support import TALLY, FaultyStack, report_tally

pytestmark = pytest.mark.e2e

# The stopping worker polls like production (20 s), holds one running and two prefetched jobs.
STOPPING = {"SQS_WAIT_TIME_SECONDS": "20", "WORKER_PREFETCH_MULTIPLIER": "3", "TASK_TIME_LIMIT": "120"}
STANDBY = {"SQS_WAIT_TIME_SECONDS": "2", "TASK_TIME_LIMIT": "120"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, pytestconfig):
    report_tally(pytestconfig)
    options = StackOptions(visibility_timeout=60, wait_time_seconds=2, max_receive_count=3)
    with FaultyStack("shutdown", options, tmp_path_factory.mktemp("shutdown"), {}) as stack:
        yield stack


def _start_stopping_worker(faulty, workers, name, jobs, **env):
    """A worker holding ``jobs`` (the first running, the rest prefetched)."""
    worker = faulty.stack.start_worker(name=name, app="tests.worker.fault_injection", concurrency=1,
                                       extra_env={**faulty.worker_env, **STOPPING, **env})
    workers.append(worker)
    ids = faulty.submit(*jobs)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (faulty.runs(ids[0]) and _received(faulty, name) == len(ids)):
        time.sleep(0.1)
    assert faulty.runs(ids[0]) == 1 and _received(faulty, name) == len(ids)
    return worker, ids


def _start_standby(faulty, workers, name) -> None:
    workers.append(faulty.start_worker(f"{name}-standby", **STANDBY))


def _received(faulty, name) -> int:
    return sum(1 for line in faulty.worker_log(name) if line["message"].endswith("] received"))


def _logged_at(faulty, worker_name: str, sample_id: str, message: str) -> str:
    """When (ISO time, from the worker's own log) ``worker_name`` logged ``message`` about ``sample_id``."""
    [line] = [line for line in faulty.worker_log(worker_name)
              if line.get("sample_id") == sample_id and line["message"].startswith(message)]
    return line["time"]


def test_sigterm_lets_the_running_job_finish_and_hands_prefetched_jobs_over_at_once(faulty, workers):
    worker, (running, *prefetched) = _start_stopping_worker(faulty, workers, "stopping", ["sleep12-running.wav",
                                                                                   "ok-1.wav", "ok-2.wav"])
    _start_standby(faulty, workers, "stopping")
    worker.send_signal(15)
    TALLY["faults injected"] += 1
    records = faulty.wait_final([running, *prefetched], 120)
    assert all(r["status"] == "COMPLETED" and r["attempts"] == 1 for r in records.values()), records
    TALLY["completed"] += 3
    assert worker.wait(timeout=60) == 0
    assert [faulty.runs(s) for s in (running, *prefetched)] == [1, 1, 1]
    standby = {line.get("sample_id") for line in faulty.worker_log("stopping-standby")
               if line["message"].startswith("processing")}
    assert standby == set(prefetched)
    # kombu alone made them visible only once the running job had ended (then 20 s more)
    finished = _logged_at(faulty, "stopping", running, "completed")
    assert all(_logged_at(faulty, "stopping-standby", s, "processing") < finished for s in prefetched)


def test_a_job_that_outlasts_the_budget_is_released_after_the_last_poll_and_receivable_at_once(faulty, workers):
    worker, [job] = _start_stopping_worker(faulty, workers, "overdue", ["hold60-overdue.wav"],
                                           SHUTDOWN_BUDGET_SECONDS="2")
    worker.send_signal(15)
    TALLY["faults injected"] += 1
    # Released once the open poll has closed (it would have taken the job), not at 2 s ...
    eventually(lambda: _released(faulty, "overdue"), "the overdue job to be released", timeout_s=40)
    # ... and then receivable at once: nothing else polls yet, and its visibility timeout is 60 s.
    eventually(faulty.visible, "the released job to be visible", timeout_s=10)
    assert worker.wait(timeout=30) == 0
    [later] = faulty.submit("ok-after-exit.wav")  # no poll of the stopped worker is left open to take it
    eventually(lambda: faulty.visible() == 2, "a job sent after the exit to be visible too", timeout_s=10)
    _start_standby(faulty, workers, "overdue")
    records = faulty.wait_final([job, later], 60)
    assert (records[job]["status"], records[job]["attempts"]) == ("COMPLETED", 2), records[job]
    assert (records[later]["status"], records[later]["attempts"]) == ("COMPLETED", 1), records[later]
    TALLY["completed"] += 2
    assert faulty.runs(job) == 2 and _released(faulty, "overdue") == [job]


def test_a_prefetched_job_the_last_poll_takes_is_released_again_at_once(faulty, workers):
    worker, [running, prefetched] = _start_stopping_worker(faulty, workers, "taken", ["sleep6-running.wav",
                                                                                     "ok-prefetched.wav"])
    worker.send_signal(15)  # the prefetched job is released, and the open poll takes it
    TALLY["faults injected"] += 1
    given_back = "Consumer for queue audio-processing is gone, releasing 1 received message(s)"  # kombu's line
    eventually(lambda: any(line["message"] == given_back for line in faulty.worker_log("taken")),
               "the last poll's answer to be released", timeout_s=10)
    eventually(faulty.visible, "the prefetched job to be visible again", timeout_s=10)
    assert worker.wait(timeout=30) == 0
    _start_standby(faulty, workers, "taken")
    records = faulty.wait_final([running, prefetched], 60)
    assert all(r["status"] == "COMPLETED" and r["attempts"] == 1 for r in records.values()), records
    TALLY["completed"] += 2


def _released(faulty, worker_name: str) -> list[str]:
    return [line["sample_id"] for line in faulty.worker_log(worker_name) if line.get("event") == "released"]
