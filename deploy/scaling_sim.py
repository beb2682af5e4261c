"""Scaling simulator: the worker service's target-tracking policy against job scenarios.

``python -m deploy.scaling_sim [--scenario NAME] [--job-seconds S] ...`` prints, for each
scenario, drain time, p50/p95 wait, peak tasks and task-hours under the template's
policy (backlog per task) and under the naive one (raw queue depth), side by side.
Policy numbers (min/max, target, cooldowns, worker concurrency) are read from the
CloudFormation template, so the simulation cannot drift from what is deployed.

The model, in 1 s steps:

- jobs arrive per scenario (seeded); a free worker slot takes the oldest visible message
  at once (long polling) and is busy ``job_seconds``;
- every ``PERIOD`` s CloudWatch records one datapoint: visible messages
  (ApproximateNumberOfMessagesVisible) and running tasks (RunningTaskCount);
- target tracking, as Application Auto Scaling runs it: the scale-out alarm fires when the
  last 3 datapoints are above the target, the scale-in alarm when the last 15 are below
  90 % of it; while an alarm is firing, each datapoint sets capacity to
  ``ceil(capacity × metric / target)`` within min..max; a scale-out waits
  ``ScaleOutCooldown`` after the previous one, a scale-in ``ScaleInCooldown``;
- a new task takes a random 30–60 s (Fargate placement, image pull, worker start) before
  it consumes; a removed task finishes its running jobs first (warm shutdown);
- a run lasts until 30 min after the last job ends (so the scale-in shows), and
  task-hours count every task from its launch to its stop over that span (what Fargate bills).

Not modelled: CloudWatch's reporting delay, failures and retries, uneven job times.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

from deploy import template as cfn

PERIOD = 60  # s between CloudWatch datapoints
SCALE_OUT_POINTS, SCALE_IN_POINTS, SCALE_IN_RATIO = 3, 15, 0.9


@dataclass(frozen=True)
class Policy:
    name: str
    metric: Callable[[int, int], float]  # (visible messages, running tasks) -> metric
    target: float
    min_tasks: int
    max_tasks: int
    scale_out_cooldown: int
    scale_in_cooldown: int

    def desired(self, capacity: int, value: float) -> int:
        """Target tracking's proportional step, clamped to min..max."""
        return max(self.min_tasks, min(self.max_tasks, math.ceil(capacity * value / self.target)))


def backlog_per_task(visible: int, running: int) -> float:
    """The template's metric math: visible / running, a count below 1 taken as 1."""
    return visible / max(running, 1)


def raw_depth(visible: int, running: int) -> float:
    return float(visible)


def policies_from_template(template: cfn.Template | None = None) -> tuple[Policy, Policy]:
    """(backlog per task, raw queue depth) with the template's numbers."""
    t = template or cfn.load()
    target = t.properties("WorkerScalableTarget")
    tracking = t.properties("BacklogPerTaskScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    common = dict(target=float(t.value(tracking["TargetValue"])), min_tasks=int(t.value(target["MinCapacity"])),
                  max_tasks=int(t.value(target["MaxCapacity"])), scale_out_cooldown=tracking["ScaleOutCooldown"],
                  scale_in_cooldown=tracking["ScaleInCooldown"])
    return Policy("backlog per task", backlog_per_task, **common), Policy("raw queue depth", raw_depth, **common)


def worker_concurrency(template: cfn.Template | None = None) -> int:
    t = template or cfn.load()
    return int(t.value({"Ref": "WorkerConcurrency"}))


# -- scenarios: arrival times in seconds --------------------------------------------------
def _poisson(rate: Callable[[float], float], duration: int, rng: random.Random) -> Iterator[float]:
    """Arrivals of a Poisson process with time-varying ``rate`` (jobs/s), by thinning."""
    peak = max(rate(s) for s in range(0, duration, 60))
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration:
            return
        if rng.random() < rate(t) / peak:
            yield t


def _daily_rate(t: float) -> float:
    """Quiet at night (0.02 jobs/s), a midday peak of 0.42 jobs/s: about 10,000 jobs a day."""
    hour = (t / 3600) % 24
    return 0.02 + 0.4 * max(0.0, math.sin(math.pi * (hour - 6) / 12)) ** 2


SCENARIOS: dict[str, Callable[[random.Random], list[float]]] = {
    "steady trickle": lambda rng: list(_poisson(lambda t: 1 / 60, 6 * 3600, rng)),
    "burst of 1,000": lambda rng: [0.0] * 1000,
    "daily curve": lambda rng: list(_poisson(_daily_rate, 24 * 3600, rng)),
    "burst of 100,000": lambda rng: [0.0] * 100_000,
}


# -- the simulation ------------------------------------------------------------------------
@dataclass
class _Task:
    ready_at: float
    slots: list[float]  # when each worker slot is next free
    launched_at: float
    draining: bool = False


@dataclass
class Result:
    scenario: str
    policy: str
    jobs: int
    drain_s: float  # from the last arrival to the last completion
    p50_wait_s: float
    p95_wait_s: float
    peak_tasks: int
    task_hours: float
    scaling: list[tuple[int, int]] = field(default_factory=list)  # (time, new desired count)


def simulate(arrivals: list[float], policy: Policy, *, job_seconds: float, concurrency: int,
             start_seconds: tuple[float, float] = (30, 60), tail_seconds: int = 1800, seed: int = 1,
             scenario: str = "") -> Result:
    """Run ``arrivals`` through the service under ``policy``; see the module docstring."""
    rng = random.Random(seed)
    pending = deque(sorted(arrivals))
    visible: deque[float] = deque()
    waits: list[float] = []
    tasks = [_Task(0.0, [0.0] * concurrency, 0.0) for _ in range(policy.min_tasks)]
    desired, points, scaling = policy.min_tasks, [], []
    last_out = last_in = -math.inf
    task_seconds, peak, last_done, t = 0.0, len(tasks), 0.0, 0
    end_of_arrivals = max(arrivals, default=0.0)
    while pending or visible or t <= max(last_done, end_of_arrivals) + tail_seconds:
        while pending and pending[0] <= t:
            visible.append(pending.popleft())
        for task in tasks:
            if task.draining or task.ready_at > t:
                continue
            for i, free_at in enumerate(task.slots):
                if free_at <= t and visible:
                    waits.append(t - visible.popleft())
                    task.slots[i] = t + job_seconds
                    last_done = max(last_done, t + job_seconds)
        tasks = [task for task in tasks if not (task.draining and all(s <= t for s in task.slots))]
        task_seconds += len(tasks)
        if t % PERIOD == 0:
            running = sum(1 for task in tasks if task.ready_at <= t)
            points.append(policy.metric(len(visible), running))
            new = _decide(policy, desired, points, t, last_out, last_in)
            if new != desired:
                last_out, last_in = (t, last_in) if new > desired else (last_out, t)
                tasks = _resize(tasks, new, t, concurrency, start_seconds, rng)
                desired = new
                scaling.append((t, new))
        peak = max(peak, len(tasks))
        t += 1
    waits.sort()
    return Result(scenario, policy.name, len(waits), max(0.0, last_done - end_of_arrivals),
                  _percentile(waits, 50), _percentile(waits, 95), peak, task_seconds / 3600, scaling)


def _decide(policy: Policy, desired: int, points: list[float], t: int, last_out: float, last_in: float) -> int:
    latest = points[-1]
    if len(points) >= SCALE_OUT_POINTS and min(points[-SCALE_OUT_POINTS:]) > policy.target:
        new = policy.desired(desired, latest)
        if new > desired and t - last_out >= policy.scale_out_cooldown:
            return new
    if len(points) >= SCALE_IN_POINTS and max(points[-SCALE_IN_POINTS:]) < SCALE_IN_RATIO * policy.target:
        new = policy.desired(desired, latest)
        if new < desired and t - last_in >= policy.scale_in_cooldown:
            return new
    return desired


def _resize(tasks: list[_Task], desired: int, t: int, concurrency: int, start_seconds, rng) -> list[_Task]:
    active = [task for task in tasks if not task.draining]
    for _ in range(desired - len(active)):
        tasks.append(_Task(t + rng.uniform(*start_seconds), [0.0] * concurrency, t))
    surplus = len(active) - desired
    for task in sorted(active, key=lambda task: (-task.ready_at, sum(s > t for s in task.slots)))[:max(surplus, 0)]:
        task.draining = True  # still starting: stops at once; running: finishes its jobs
    return [task for task in tasks if not (task.draining and all(s <= t for s in task.slots))]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1)]


# -- output --------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def table(results: list[Result]) -> str:
    rows = ["| scenario | policy | jobs | drain | p50 wait | p95 wait | peak tasks | task-hours |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r.scenario} | {r.policy} | {r.jobs:,} | {_duration(r.drain_s)} | {_duration(r.p50_wait_s)} "
                    f"| {_duration(r.p95_wait_s)} | {r.peak_tasks} | {r.task_hours:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.scaling_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--job-seconds", type=float, default=30, help="processing time of one job (default 30)")
    parser.add_argument("--concurrency", type=int, default=worker_concurrency(),
                        help="worker processes per task (default: the template's WorkerConcurrency)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.job_seconds <= 0 or args.concurrency < 1:
        parser.error("--job-seconds must be positive and --concurrency at least 1")
    results = []
    for name in args.scenario or SCENARIOS:
        arrivals = SCENARIOS[name](random.Random(args.seed))
        for policy in policies_from_template():
            results.append(simulate(arrivals, policy, job_seconds=args.job_seconds, concurrency=args.concurrency,
                                    seed=args.seed, scenario=name))
    print(f"job {args.job_seconds:g} s, {args.concurrency} worker processes per task, task start 30-60 s, "
          f"datapoints every {PERIOD} s")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
