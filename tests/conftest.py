"""Shared fixtures: the emulator-backed local stack and a real worker subprocess.

Integration tests talk to moto's server over HTTP (the same boto3/kombu code paths as
production), never to in-process fakes. Helpers live in ``tests.support``.
"""

from __future__ import annotations

import pytest

from audio_tasks.local_stack import LocalStack
from tests.support import ARTIFACTS


@pytest.fixture(scope="session")
def stack():
    """The emulator with the production-shaped resources, for the whole session."""
    with LocalStack(ARTIFACTS / "logs") as local:
        yield local


@pytest.fixture(scope="session")
def worker(stack):
    """One real ``celery -A audio_tasks worker`` process consuming the stack's queue."""
    return stack.start_worker(name="worker")


def pytest_collection_modifyitems(items):
    """A test that uses the emulator is end-to-end, whether or not its module says so."""
    for item in items:
        if {"stack", "worker"} & set(item.fixturenames):
            item.add_marker(pytest.mark.e2e)
