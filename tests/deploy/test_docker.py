"""docker/Dockerfile, checked without a Docker engine: hadolint, and what it must contain."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)

ROOT = REPO
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_hadolint_is_clean_at_its_strictest():
    hadolint = Path(sys.executable).parent / "hadolint"
    run = subprocess.run([hadolint, "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_slim_python_311_non_root_and_the_entrypoint():
    instructions = _instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and not users[-1].split(":")[0] in ("root", "0")
    assert ("ENTRYPOINT", '["/usr/local/bin/entrypoint.sh"]') in instructions
    assert any(op == "COPY" and "docker/entrypoint.sh /usr/local/bin/entrypoint.sh" in arg for op, arg in instructions)


def test_every_copied_path_exists_and_no_secret_is_baked_in():
    for op, arg in _instructions():
        if op == "COPY":
            sources = [word for word in arg.split() if not word.startswith("--")][:-1]
            assert sources and all((ROOT / source).exists() for source in sources), arg
        if op in ("ENV", "ARG"):
            assert not re.search(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL)", arg, re.I), arg
