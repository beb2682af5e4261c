"""The scaling simulator: the template's numbers, the policy's arithmetic, and its timeline."""

import random
import subprocess
import sys

import pytest

from deploy import scaling_sim as sim
from tests.support import REPO

BACKLOG, RAW = sim.policies_from_template()


def _run(name: str, policy, **kwargs):
    arrivals = sim.SCENARIOS[name](random.Random(1))
    return sim.simulate(arrivals, policy, job_seconds=30, concurrency=2, scenario=name, **kwargs)


def test_the_policies_use_the_templates_numbers():
    for policy in (BACKLOG, RAW):
        assert (policy.min_tasks, policy.max_tasks, policy.target) == (1, 10, 10.0)
        assert (policy.scale_out_cooldown, policy.scale_in_cooldown) == (60, 300)
    assert sim.worker_concurrency() == 2


def test_target_tracking_arithmetic():
    # 25 visible on 2 running tasks: 12.5 per task -> 3 tasks; the raw depth asks for 5.
    assert BACKLOG.desired(2, sim.backlog_per_task(25, 2)) == 3
    assert RAW.desired(2, sim.raw_depth(25, 2)) == 5
    assert sim.backlog_per_task(7, 0) == 7  # no running task: divide by 1, not by 0
    assert BACKLOG.desired(1, 1000) == 10 and BACKLOG.desired(5, 0) == 1  # clamped to max and min


def test_a_burst_of_1000_scales_out_after_three_datapoints_and_drains_near_the_bound():
    result = _run("burst of 1,000", BACKLOG)
    assert result.jobs == 1000 and result.peak_tasks == 10
    assert result.scaling[0] == (120, 10)  # datapoints at 0, 60 and 120 s above target
    bound = 1000 * 30 / (10 * 2)  # every job on ten tasks from t = 0
    assert bound <= result.drain_s <= bound + 120 + 60 + 60  # + alarm, task start, a partial first slot
    assert result.scaling[-1][1] == 1  # back to the minimum once drained


def test_cooldowns_and_bounds_hold_over_a_day():
    result = _run("daily curve", BACKLOG)
    times = {"out": [], "in": []}
    previous = 1
    for t, desired in result.scaling:
        assert 1 <= desired <= 10
        times["out" if desired > previous else "in"].append(t)
        previous = desired
    assert times["out"] and times["in"]
    assert all(b - a >= 60 for a, b in zip(times["out"], times["out"][1:]))
    assert all(b - a >= 300 for a, b in zip(times["in"], times["in"][1:]))


def test_a_trickle_stays_on_one_task():
    result = _run("steady trickle", BACKLOG)
    assert result.peak_tasks == 1 and result.scaling == []
    assert result.p95_wait_s < 30


def test_raw_queue_depth_overprovisions_a_daily_curve():
    backlog, raw = _run("daily curve", BACKLOG), _run("daily curve", RAW)
    assert backlog.jobs == raw.jobs
    # The raw depth does not fall when tasks are added, so every queue above the target
    # multiplies the capacity: it runs at the maximum for hours.
    assert raw.task_hours > 1.3 * backlog.task_hours
    assert raw.peak_tasks == 10


@pytest.mark.e2e  # the command runs as a process
def test_the_command_prints_both_policies_side_by_side():
    run = subprocess.run([sys.executable, "-m", "deploy.scaling_sim", "--scenario", "burst of 1,000"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| burst of 1,000 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["backlog per task", "raw queue depth"]


@pytest.mark.e2e  # the command runs as a process
@pytest.mark.parametrize("args", [["--job-seconds", "0"], ["--concurrency", "0"], ["--scenario", "tsunami"]])
def test_bad_arguments_are_refused(args):
    run = subprocess.run([sys.executable, "-m", "deploy.scaling_sim", *args], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "error:" in run.stderr


@pytest.mark.e2e  # the command runs as a process
def test_the_readme_shows_the_default_table():
    run = subprocess.run([sys.executable, "-m", "deploy.scaling_sim"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    table = [line for line in run.stdout.splitlines() if line.startswith("|")]
    readme = (REPO / "README.md").read_text()
    assert len(table) == 2 + 8 and "\n".join(table) in readme
