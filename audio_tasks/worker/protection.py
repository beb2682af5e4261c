"""ECS task scale-in protection while the worker runs jobs, through the ECS agent's endpoint.

ECS stops tasks on scale-in and during deployments; a job longer than
``SHUTDOWN_BUDGET_SECONDS`` would be released and start over each time. ECS does not stop
a *protected* task for either: a task protects itself with
``PUT $ECS_AGENT_URI/task-protection/v1/state {"ProtectionEnabled": true, "ExpiresInMinutes": N}``
(1-2880 minutes; the agent calls ``ecs:UpdateTaskProtection`` with the task role) and
drops it with ``{"ProtectionEnabled": false}``. The agent answers
``{"protection": {...}}``, or ``{"failure": {...}}`` / ``{"error": {...}}``.

``TaskProtection`` is a worker bootstep (main process) whose thread looks at the running
jobs every ``_LOOK_S``:

- a job is running and the task is not protected for at least ``TASK_TIME_LIMIT`` more
  (+ ``_MARGIN_S``): protect it for twice that, so a job that starts now is covered to
  its hard limit, and a worker busy for longer is renewed about once per time limit
  (3600 s → 122 minutes, renewed once fewer than 61 remain);
- no job has run for ``_IDLE_GRACE_S``: drop the protection, so ECS may stop the task
  (back-to-back jobs keep it: no agent call per job);
- a failed call (agent unreachable, an error or failure answer) is logged and tried
  again after ``_RETRY_S``; it never touches a job.

Without ``ECS_AGENT_URI`` (anywhere but on ECS) the step does nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from celery import bootsteps
from celery.worker.state import active_requests

from audio_tasks.worker.context import current

log = logging.getLogger(__name__)

MAX_MINUTES = 2880  # the endpoint's limit (48 h)
_MARGIN_S = 60  # the agent's round trip to ECS, and clock skew
_IDLE_GRACE_S = 5.0
_RETRY_S = 10.0
_LOOK_S = 0.2
_HTTP_TIMEOUT_S = 5.0


class ProtectionError(Exception):
    """The agent could not set the protection; the text says why."""


class EcsAgent:
    """The task scale-in protection endpoint of the ECS agent at ``agent_uri`` (``ECS_AGENT_URI``)."""

    def __init__(self, agent_uri: str):
        self.url = agent_uri.rstrip("/") + "/task-protection/v1/state"

    def protect(self, enabled: bool, expires_in_minutes: int | None = None) -> dict:
        """PUT the protection; returns the agent's ``protection`` object, or raises ProtectionError."""
        body = {"ProtectionEnabled": enabled}
        if expires_in_minutes is not None:
            body["ExpiresInMinutes"] = expires_in_minutes
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:
                reply = _json(response.read())
        except urllib.error.HTTPError as exc:
            reply = _json(exc.read()) or {"error": {"Code": f"HTTP {exc.code}", "Message": exc.reason}}
        except (OSError, ValueError) as exc:  # refused, timed out, not HTTP
            raise ProtectionError(f"the ECS agent at {self.url} did not answer: {exc}") from None
        if isinstance(reply.get("protection"), dict):
            return reply["protection"]
        problem = reply.get("failure") or reply.get("error") or {}
        reason = problem.get("Reason") or problem.get("Code") or "no protection in the answer"
        detail = problem.get("Detail") or problem.get("Message") or ""
        raise ProtectionError(f"the ECS agent refused: {reason}{': ' + detail if detail else ''}")


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ProtectionPolicy:
    """When to ask for what, given the hard time limit of a job."""

    task_time_limit_s: int

    @property
    def needed_s(self) -> int:
        """How much protection a job starting now needs."""
        return self.task_time_limit_s + _MARGIN_S

    @property
    def expires_in_minutes(self) -> int:
        return min(MAX_MINUTES, math.ceil(2 * self.needed_s / 60))

    def wanted(self, busy: bool, idle_s: float, remaining_s: float | None) -> bool | None:
        """True: protect (again); False: drop it; None: leave it. ``remaining_s`` None: not protected."""
        if busy:
            return True if remaining_s is None or remaining_s < self.needed_s else None
        if remaining_s is not None and idle_s >= _IDLE_GRACE_S:
            return False
        return None


class Protection:
    """The task's protection as this worker last set it, kept in line with its running jobs."""

    def __init__(self, agent: EcsAgent, policy: ProtectionPolicy, clock=time.monotonic):
        self.agent, self.policy, self.clock = agent, policy, clock
        self.until: float | None = None  # when the protection we set expires; None: not protected
        self._idle_since: float | None = None
        self._retry_at = 0.0

    def update(self, busy: bool) -> None:
        """Call often: sets or drops the protection when the policy says so. Never raises."""
        now = self.clock()
        if busy:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        idle_s = 0.0 if self._idle_since is None else now - self._idle_since
        remaining = None if self.until is None else self.until - now
        wanted = self.policy.wanted(busy, idle_s, remaining)
        if wanted is None or now < self._retry_at:
            return
        minutes = self.policy.expires_in_minutes if wanted else None
        try:
            self.agent.protect(wanted, minutes)
        except ProtectionError as exc:
            self._retry_at = now + _RETRY_S
            log.warning("could not %s scale-in protection (jobs are not affected; trying again in %.0f s): %s",
                        "set" if wanted else "drop", _RETRY_S, exc, extra={"event": "protection_failed"})
            return
        self.until = now + minutes * 60 if wanted else None
        if wanted:
            log.info("scale-in protection on for %d minutes: a job is running", minutes,
                     extra={"event": "protected"})
        else:
            log.info("scale-in protection off: no job for %.0f s", _IDLE_GRACE_S, extra={"event": "unprotected"})


class TaskProtection(bootsteps.StartStopStep):
    """Runs ``Protection.update`` on a daemon thread for the life of the worker (see the module docstring)."""

    label = "task scale-in protection"

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        settings = current().settings
        self.protection = (Protection(EcsAgent(settings.ecs_agent_uri), ProtectionPolicy(settings.task_time_limit))
                           if settings.ecs_agent_uri else None)

    def start(self, worker):
        if self.protection is not None:
            threading.Thread(target=self._run, name="task-protection", daemon=True).start()

    def _run(self):
        while True:
            time.sleep(_LOOK_S)
            try:
                self.protection.update(busy=bool(active_requests))
            except Exception:  # never let the thread die: the next look may succeed
                log.exception("scale-in protection update failed")
