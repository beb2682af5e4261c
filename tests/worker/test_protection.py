"""Scale-in protection's decisions, against a local server implementing the ECS agent's documented
endpoint (``tests.worker.ecs_agent``), with the clock in the test's hands. The calls a real worker
makes around real jobs are asserted in test_ecs_lifecycle.py.
"""

import logging
import math

import pytest

from audio_tasks.local_stack import free_port
from audio_tasks.worker.protection import MAX_MINUTES, EcsAgent, Protection, ProtectionError, ProtectionPolicy
from tests.worker.ecs_agent import FakeEcsAgent


@pytest.fixture
def agent():
    with FakeEcsAgent() as server:
        yield server


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("limit_s", [2, 600, 3600, 43200])
def test_the_expiry_covers_a_job_that_starts_at_the_last_moment_before_renewal(limit_s):
    policy = ProtectionPolicy(limit_s)
    assert policy.expires_in_minutes <= MAX_MINUTES  # the largest TASK_TIME_LIMIT (12 h) fits the endpoint's 48 h
    # Renewed once less than needed_s remains, so a job starting just before that is still covered.
    assert policy.needed_s >= limit_s
    assert policy.expires_in_minutes * 60 >= 2 * policy.needed_s


def test_the_default_time_limit_protects_for_122_minutes():
    assert ProtectionPolicy(3600).expires_in_minutes == math.ceil(2 * (3600 + 60) / 60) == 122


def test_a_busy_worker_is_protected_renewed_and_released_once_idle(agent):
    clock, policy = Clock(), ProtectionPolicy(600)
    protection = Protection(EcsAgent(agent.uri("t1")), policy, clock)
    protection.update(busy=False)
    assert agent.calls("t1") == []  # never protected: nothing to drop
    protection.update(busy=True)
    [enable] = agent.calls("t1")
    assert enable.body == {"ProtectionEnabled": True, "ExpiresInMinutes": policy.expires_in_minutes}
    assert agent.protected("t1")
    clock.now += policy.expires_in_minutes * 60 - policy.needed_s - 1  # still enough left for a new job
    protection.update(busy=True)
    assert len(agent.calls("t1")) == 1
    clock.now += 2  # now a job starting could outlive it: renewed
    protection.update(busy=True)
    assert [c.body for c in agent.calls("t1")][1] == enable.body
    protection.update(busy=False)
    clock.now += 4.9
    protection.update(busy=False)
    assert len(agent.calls("t1")) == 2  # idle for less than the grace: kept
    clock.now += 0.2
    protection.update(busy=False)
    assert agent.calls("t1")[-1].body == {"ProtectionEnabled": False}
    assert not agent.protected("t1")


def test_a_refusal_is_logged_retried_later_and_never_raised(agent, caplog):
    clock = Clock()
    protection = Protection(EcsAgent(agent.uri("t2")), ProtectionPolicy(600), clock)
    agent.refusing = True
    with caplog.at_level(logging.WARNING, logger="audio_tasks.worker.protection"):
        protection.update(busy=True)
        clock.now += 5
        protection.update(busy=True)  # too soon to ask again
    assert len(agent.calls("t2")) == 1
    assert "TASK_NOT_VALID: The task is not part of a service" in caplog.text
    agent.refusing = False
    clock.now += 5
    protection.update(busy=True)
    assert len(agent.calls("t2")) == 2 and agent.protected("t2")


def test_the_agent_client_reports_each_documented_way_of_saying_no(agent):
    client = EcsAgent(agent.uri("t3"))
    assert client.protect(True, 5)["ProtectionEnabled"] is True
    with pytest.raises(ProtectionError, match="InvalidParameterException"):
        client.protect(True, MAX_MINUTES + 1)
    with pytest.raises(ProtectionError, match="ResourceNotFoundException"):
        EcsAgent(agent.uri("t3").replace("/t3", "/unknown-task")).protect(False)
    with pytest.raises(ProtectionError, match="did not answer"):
        EcsAgent(f"http://127.0.0.1:{free_port()}/api/x").protect(False)
