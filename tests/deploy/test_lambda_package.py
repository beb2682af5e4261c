"""``make lambda-zip``'s builder: what the package holds and that the handler imports from it.

The dependencies need PyPI, so here the package is built ``--code-only``; its Python
modules are imported straight from the zip (zipimport), ahead of the working tree.
"""

import subprocess
import sys
import zipfile

import pytest

from deploy import lambda_package

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)


def test_the_package_holds_the_code_and_the_handler_imports_from_it(tmp_path):
    package = lambda_package.build(tmp_path / "a.zip", code_only=True)
    names = zipfile.ZipFile(package).namelist()
    assert {"producer/lambda_handler.py", "producer/enqueue.py", "audio_tasks/worker/tasks.py", "celeryconfig.py"} <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "deploy/", "docker/")) or "__pycache__" in n]
    probe = "import producer.lambda_handler as h, audio_tasks.worker.tasks as t; print(h.__file__); print(t.__file__)"
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(package), "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                              "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"{package}/producer/lambda_handler.py", f"{package}/audio_tasks/worker/tasks.py"]


def test_the_package_is_reproducible(tmp_path):
    first = lambda_package.build(tmp_path / "1.zip", code_only=True).read_bytes()
    assert lambda_package.build(tmp_path / "2.zip", code_only=True).read_bytes() == first


def test_worker_only_dependencies_are_left_out():
    requirements = lambda_package.requirements()
    assert any(r.startswith("celery[sqs]") for r in requirements)
    assert not [r for r in requirements if r.split(">")[0].split("=")[0] in lambda_package.WORKER_ONLY]
