"""Fixtures of the worker tests that start workers on a module's own ``faulty`` stack."""

from __future__ import annotations

import pytest


@pytest.fixture
def workers():
    """The workers a test starts (append them), stopped (SIGTERM) when it ends, so the next test's
    jobs go to its own workers."""
    started = []
    yield started
    for worker in started:
        if worker.poll() is None:
            worker.send_signal(15)
            worker.wait(timeout=60)
