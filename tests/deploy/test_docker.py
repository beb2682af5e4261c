"""docker/, checked without a container engine: hadolint, shellcheck, what the Dockerfile must
contain, and the lock files against pyproject.toml. ``make image-smoke`` builds and runs the image."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy import template
from tests.support import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BIN = Path(sys.executable).parent


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def _pins(lock: str) -> dict[str, tuple[str, int]]:
    """{name: (version, number of hashes)} of a `uv pip compile --generate-hashes` file."""
    text = re.sub(r"\\\n", " ", (REPO / "docker" / lock).read_text())
    pins = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, version = line.split()[0].split("==")
            pins[canonicalize_name(name)] = (version, line.count("--hash=sha256:"))
    return pins


def _assert_pinned(requirements: list[str], pins: dict[str, tuple[str, int]]) -> None:
    for requirement in map(Requirement, requirements):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock: run make lock"
        assert requirement.specifier.contains(pins[name][0]), f"{requirement}: the lock pins {pins[name][0]}"


@pytest.mark.e2e  # a linter process (see pyproject.toml's markers)
def test_hadolint_is_clean_at_its_strictest():
    run = subprocess.run([BIN / "hadolint", "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


@pytest.mark.e2e
@pytest.mark.parametrize("script", ["build.sh", "standin-base.sh"])  # the entrypoint's own tests check it
def test_shellcheck_is_clean(script):
    run = subprocess.run([BIN / "shellcheck", "--severity=style", str(REPO / "docker" / script)],
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_the_slim_python_311_base_by_default_any_base_by_argument():
    instructions = _instructions()
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    assert {arg.split()[0] for op, arg in instructions if op == "FROM"} == {"${BASE_IMAGE}"}
    # Debian's python3 is /usr/bin's, the official image's /usr/local/bin's: neither is named.
    assert "/usr/bin/python" not in DOCKERFILE.read_text() and "/usr/local/bin/python" not in DOCKERFILE.read_text()


def test_a_non_root_user_that_does_not_collide_with_debians_audio_group():
    instructions = _instructions()
    users = [arg for op, arg in instructions if op == "USER"]
    assert users == ["10001:10001"]
    [account] = [arg for op, arg in instructions if op == "RUN" and "useradd" in arg]
    assert "groupadd --gid 10001 audio-tasks" in account and "useradd --uid 10001 --gid audio-tasks" in account
    assert ("ENTRYPOINT", '["/usr/local/bin/entrypoint.sh"]') in instructions


def test_every_mount_point_of_the_task_definitions_is_a_volume_of_the_image():
    # Fargate mounts a task volume root's, mode 0755, unless the image declares the path a VOLUME
    # (then it takes the image's directory: /tmp, 1777): uid 10001 could not write it otherwise.
    mounts = {mount["ContainerPath"] for definition in template.load().of_type("AWS::ECS::TaskDefinition").values()
              for container in definition["Properties"]["ContainerDefinitions"]
              for mount in container.get("MountPoints", [])}
    volumes = {path for op, arg in _instructions() if op == "VOLUME" for path in json.loads(arg)}
    assert mounts and mounts <= volumes


def _stages() -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's instructions per build stage, by name ("" for the image itself)."""
    stages, name = {}, None
    for op, arg in _instructions():
        if op == "FROM":
            name = arg.split(" AS ")[1] if " AS " in arg else ""
            stages[name] = []
        elif name is not None:
            stages[name].append((op, arg))
    return stages


def test_dependencies_come_from_the_lock_before_any_source():
    stages = _stages()
    [install] = [arg for op, arg in stages["deps"] if op == "RUN" and "pip" in arg]
    assert "--require-hashes" in install and "-r /opt/audio-tasks/requirements.lock" in install
    image = stages[""]
    copies = [arg for op, arg in image if op == "COPY"]
    assert copies[0] == "--from=deps /opt/audio-tasks/ /opt/audio-tasks/"
    assert not any(source in arg for arg in copies for source in ("audio_tasks", "producer", "pyproject.toml"))
    [wheel] = [arg for op, arg in image if op == "RUN" and "pip" in arg]
    assert "--no-index" in wheel  # the project's wheel: nothing more may be downloaded


def test_every_copied_path_exists_and_no_secret_is_baked_in():
    for op, arg in _instructions():
        if op == "COPY" and "--from=" not in arg:
            sources = [word for word in arg.split() if not word.startswith("--")][:-1]
            assert sources and all((REPO / source).exists() for source in sources), arg
        if op in ("ENV", "ARG"):
            assert not re.search(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL)", arg, re.I), arg


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_nothing_for_development():
    pins = _pins("requirements.lock")
    _assert_pinned(PYPROJECT["project"]["dependencies"], pins)
    assert all(hashes for _, hashes in pins.values())
    development = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert not development & pins.keys() - {"audio-tasks"}


def test_the_build_lock_pins_the_build_backend_with_hashes():
    pins = _pins("build-requirements.lock")
    _assert_pinned(PYPROJECT["build-system"]["requires"], pins)
    assert all(hashes for _, hashes in pins.values())
