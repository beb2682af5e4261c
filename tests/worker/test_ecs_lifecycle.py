"""What ECS does to a worker's task — scale-in, deploys, killed processes — against real workers.

Each worker is told its ECS agent is ``tests.worker.ecs_agent`` (a local server implementing the
documented task-protection endpoint), which also plays ECS's part in a scale-in: it stops a task
only if it is not protected. A deploy is a SIGTERM, as ECS sends it. The queue's visibility timeout
is 60 s, so only a release hands a job over quickly; the workers poll for 5 s, so that each one
stopped settles its last poll within 5 s (test_shutdown.py covers the 20 s of production).
"""

from __future__ import annotations

import json
import math
import os
import signal
from datetime import datetime
from pathlib import Path

import pytest

from audio_tasks.local_stack import StackOptions
from tests.support import eventually
from tests.worker.ecs_agent import FakeEcsAgent
from tests.worker.reliability_support import TALLY, FaultyStack, report_tally

pytestmark = pytest.mark.e2e

TIME_LIMIT_S, BUDGET_S, MAX_RECEIVES = 120, 2, 3


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, pytestconfig):
    report_tally(pytestconfig)
    options = StackOptions(visibility_timeout=60, wait_time_seconds=5, max_receive_count=MAX_RECEIVES)
    with FaultyStack("lifecycle", options, tmp_path_factory.mktemp("lifecycle"),
                     {"TASK_TIME_LIMIT": str(TIME_LIMIT_S), "SHUTDOWN_BUDGET_SECONDS": str(BUDGET_S)}) as stack:
        yield stack


@pytest.fixture(scope="module")
def agent():
    with FakeEcsAgent() as server:
        yield server


def _start(faulty, workers, agent, name: str, concurrency: int = 1):
    worker = faulty.stack.start_worker(name=name, app="tests.worker.fault_injection", concurrency=concurrency,
                                       extra_env={**faulty.worker_env, "ECS_AGENT_URI": agent.uri(name)})
    workers.append(worker)
    return worker


@pytest.fixture(scope="module")
def tasks(faulty, agent):
    """A worker with two pool processes, started after the long-job test (which runs its own)."""
    worker = _start(faulty, [], agent, "tasks", concurrency=2)
    yield worker
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)


def _logged(faulty, worker: str, sample_id: str, message: str) -> float:
    """When (epoch seconds, from the worker's own log) ``worker`` logged ``message`` about ``sample_id``."""
    [line] = [line for line in faulty.worker_log(worker)
              if line.get("sample_id") == sample_id and line["message"].startswith(message)]
    return datetime.fromisoformat(line["time"]).timestamp()


def test_a_long_job_survives_a_scale_in_and_a_deploy_within_max_receive_count(faulty, workers, agent):
    """A job 10 times the shutdown budget: the scale-in stops the idle task, not the protected one;
    the deploy's SIGTERM releases it once, to the new revision's task, which finishes it."""
    old = {name: _start(faulty, workers, agent, name) for name in ("old-a", "old-b")}
    [job] = faulty.submit(f"sleep{10 * BUDGET_S}-long.wav")
    busy = eventually(lambda: faulty.runs(job) == 1 and next((n for n in old if agent.protected(n)), None),
                      "the job to start on a protected task")
    [idle] = set(old) - {busy}
    assert agent.scale_in(list(old)) == idle  # ECS's choice: the task that is not protected
    old[idle].send_signal(signal.SIGTERM)
    TALLY["faults injected"] += 1
    _start(faulty, workers, agent, "new")  # the deploy: a task of the new revision, then the old one stopped
    assert faulty.runs(job) == 1 and old[busy].poll() is None  # the busy task ran on untouched
    old[busy].send_signal(signal.SIGTERM)
    TALLY["faults injected"] += 1
    record = faulty.wait_final([job], 120)[job]
    assert (record["status"], record["attempts"]) == ("COMPLETED", 2), record
    TALLY["completed"] += 1
    assert [old[name].wait(timeout=60) for name in sorted(old)] == [0, 0]
    assert faulty.runs(job) == 2  # once on the old task (released), once on the new one
    assert not [m for m in faulty.dead_letters() if m["sample_id"] == job]  # within maxReceiveCount


def test_a_worker_is_protected_while_its_jobs_run_and_unprotected_once_idle(faulty, tasks, agent):
    jobs = faulty.submit("sleep3-first.wav", "sleep3-second.wav")
    records = faulty.wait_final(jobs, 90)
    assert all(r["status"] == "COMPLETED" for r in records.values()), records
    TALLY["completed"] += 2
    calls = eventually(lambda: (c := agent.calls("tasks")) and not c[-1].body["ProtectionEnabled"] and c,
                       "the protection to be dropped", timeout_s=30)
    minutes = math.ceil(2 * (TIME_LIMIT_S + 60) / 60)  # covers a job to its hard limit, renewed after one limit
    assert [c.body for c in calls] == [{"ProtectionEnabled": True, "ExpiresInMinutes": minutes},
                                       {"ProtectionEnabled": False}]  # once for both jobs, not per job
    assert all(c.status == 200 for c in calls)
    ended = [_logged(faulty, "tasks", s, "completed") for s in jobs]
    assert calls[0].wall < min(ended) and max(ended) < calls[1].wall  # on while the jobs ran, off only after


def test_a_refused_protection_is_logged_and_the_job_runs_anyway(faulty, tasks, agent):
    agent.refusing = True
    try:
        [job] = faulty.submit("sleep2-refused.wav")
        assert faulty.wait_final([job], 60)[job]["status"] == "COMPLETED"
        TALLY["completed"] += 1
    finally:
        agent.refusing = False
    [warning, *_] = [line for line in faulty.worker_log("tasks")
                     if line.get("event") == "protection_failed" and "TASK_NOT_VALID" in line["message"]]
    assert warning["level"] == "WARNING"


def test_a_killed_pool_process_leaves_no_ffmpeg_running_and_its_files_are_removed(faulty, tasks):
    [job] = faulty.submit("hold60-killed.wav")
    note = faulty.state / f"{job}.held"
    held = json.loads(eventually(lambda: note.exists() and note.read_text(), "the job to start ffmpeg and wait"))
    job_dir = Path(held["job_dir"])
    assert job_dir.parent.name == f"audio-tasks-pool-{held['pool_pid']}" and job_dir.is_dir()
    assert _running(held["ffmpeg_pid"])
    os.kill(held["pool_pid"], signal.SIGKILL)  # as the hard time limit, the shutdown budget or the OOM killer do
    TALLY["faults injected"] += 1
    eventually(lambda: not _running(held["ffmpeg_pid"]), "ffmpeg to die with its pool process", timeout_s=10)
    eventually(lambda: not job_dir.parent.exists(), "the dead pool process's files to be removed", timeout_s=30)
    assert tasks.poll() is None  # the worker carries on, with a new pool process
    swept = [line for line in faulty.worker_log("tasks") if line.get("event") == "swept"]
    assert any(str(job_dir.parent) in line["message"] for line in swept)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
