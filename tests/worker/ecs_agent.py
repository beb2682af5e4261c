"""A stand-in for the ECS agent's task scale-in protection endpoint, as AWS documents it, and for
ECS's choice of which task a scale-in stops.

Each task is reached at ``uri(task)`` (what ECS puts in ``ECS_AGENT_URI``); its endpoint is
``uri/task-protection/v1/state``:

- ``PUT {"ProtectionEnabled": bool, "ExpiresInMinutes": 1-2880}`` (minutes optional: 120)
  → 200 ``{"protection": {"ExpirationDate", "ProtectionEnabled", "TaskArn"}}``; a body with
  unknown fields or without ``ProtectionEnabled`` → 400 ``{"error": {"Code":
  "InvalidParameterException", ...}}``; minutes out of range → 400 as ECS answers;
- ``GET`` → 200 ``{"protection": ...}``, the task's current state.

``refusing = True`` makes every PUT answer ECS's documented failure shape instead. Every
call is recorded (``calls(task)``). ``scale_in(tasks)`` returns the first task that is not
protected now, the one a scale-in may stop, or None.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = "/task-protection/v1/state"


@dataclass
class Call:
    wall: float  # time.time(), to order against the workers' log lines
    method: str
    body: dict | None
    status: int


@dataclass
class _Task:
    arn: str
    enabled: bool = False
    expires_at: datetime | None = None
    calls: list[Call] = field(default_factory=list)

    def protected(self, now: datetime) -> bool:
        return self.enabled and self.expires_at is not None and now < self.expires_at

    def state(self) -> dict:
        return {"protection": {"ProtectionEnabled": self.protected(datetime.now(timezone.utc)), "TaskArn": self.arn,
                               "ExpirationDate": self.expires_at.isoformat().replace("+00:00", "Z")
                               if self.expires_at else None}}


class FakeEcsAgent:
    def __init__(self):
        self.refusing = False
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeEcsAgent":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def uri(self, task: str) -> str:
        """``ECS_AGENT_URI`` of the task named ``task`` (created on first use)."""
        with self._lock:
            self._tasks.setdefault(task, _Task(f"arn:aws:ecs:us-east-1:123456789012:task/audio/{task}"))
        return f"http://127.0.0.1:{self._server.server_port}/api/{task}"

    def calls(self, task: str) -> list[Call]:
        with self._lock:
            return list(self._tasks[task].calls)

    def protected(self, task: str) -> bool:
        with self._lock:
            return self._tasks[task].protected(datetime.now(timezone.utc))

    def scale_in(self, tasks: list[str]) -> str | None:
        """The task ECS would stop on a scale-in: the first one not protected now."""
        return next((task for task in tasks if not self.protected(task)), None)

    # -- the endpoint ---------------------------------------------------------------------
    def answer(self, task_id: str, method: str, raw: bytes) -> tuple[int, dict]:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return 404, {"error": {"Code": "ResourceNotFoundException",
                                       "Message": "Failed to find a task for the request"}}
            body = None
            if method == "GET":
                status, reply = 200, task.state()
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparseable": raw.decode(errors="replace")}
                status, reply = self._put(task, body)
            task.calls.append(Call(time.time(), method, body, status))
            return status, reply

    def _put(self, task: _Task, body) -> tuple[int, dict]:
        if (not isinstance(body, dict) or set(body) - {"ProtectionEnabled", "ExpiresInMinutes"}
                or not isinstance(body.get("ProtectionEnabled"), bool)):
            return 400, {"error": {"Arn": task.arn, "Code": "InvalidParameterException",
                                   "Message": "UpdateTaskProtection: failed to decode request"}}
        minutes = body.get("ExpiresInMinutes", 120)
        if not isinstance(minutes, int) or not 1 <= minutes <= 2880:
            return 400, {"error": {"Arn": task.arn, "Code": "InvalidParameterException",
                                   "Message": "expiresInMinutes must be between 1 and 2880"}}
        if self.refusing:
            return 200, {"failure": {"Arn": task.arn, "Reason": "TASK_NOT_VALID",
                                     "Detail": "The task is not part of a service"}}
        task.enabled = body["ProtectionEnabled"]
        task.expires_at = datetime.now(timezone.utc) + timedelta(minutes=minutes) if task.enabled else None
        return 200, task.state()


def _handler(agent: FakeEcsAgent):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._serve("GET")

        def do_PUT(self):
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            prefix, _, rest = self.path.partition("/api/")
            task_id, _, path = rest.partition("/")
            if prefix or "/" + path != _PATH:
                status, reply = 404, {"error": {"Code": "NotFound", "Message": self.path}}
            else:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = agent.answer(task_id, method, raw)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):  # quiet: the tests read the recorded calls
            pass

    return Handler
