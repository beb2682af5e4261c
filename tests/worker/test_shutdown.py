"""Graceful shutdown (SIGTERM, as ECS stops a task) of a real worker, with a second worker
standing by. The stack's visibility timeout is long (60 s) so that only a release by the
stopping worker, not an expiry, can hand its jobs over quickly.
"""

from __future__ import annotations

import time

import pytest

from audio_tasks.local_stack import StackOptions
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


@pytest.fixture
def workers(faulty):
    """The workers a test starts, stopped (SIGTERM) when it ends, so the next test's jobs go
    to its own workers."""
    started = []
    yield started
    for worker in started:
        worker.send_signal(15)
        worker.wait(timeout=60)


def _start_stopping_worker(faulty, workers, name, jobs, **env):
    """A worker holding ``jobs`` (the first running, the rest prefetched), plus a standby worker."""
    worker = faulty.stack.start_worker(name=name, app="tests.worker.fault_injection", concurrency=1,
                                       extra_env={**faulty.worker_env, **STOPPING, **env})
    workers.append(worker)
    ids = faulty.submit(*jobs)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (faulty.runs(ids[0]) and _received(faulty, name) == len(ids)):
        time.sleep(0.1)
    assert faulty.runs(ids[0]) == 1 and _received(faulty, name) == len(ids)
    workers.append(faulty.start_worker(f"{name}-standby", **STANDBY))
    return worker, ids


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


def test_a_job_that_outlasts_the_shutdown_budget_is_released_and_finished_elsewhere(faulty, workers):
    worker, [job] = _start_stopping_worker(faulty, workers, "overdue", ["sleep16-overdue.wav"],
                                           SHUTDOWN_BUDGET_SECONDS="2")
    worker.send_signal(15)
    TALLY["faults injected"] += 1
    assert worker.wait(timeout=12) == 0  # before the job's own 16 s
    record = faulty.wait_final([job], 90)[job]
    assert record["status"] == "COMPLETED" and record["attempts"] == 2, record
    TALLY["completed"] += 1
    assert faulty.runs(job) == 2
    released = [line for line in faulty.worker_log("overdue") if line.get("event") == "released"]
    assert [line["sample_id"] for line in released] == [job]
