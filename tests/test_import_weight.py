"""Import boundaries: producers stay light, and the audio core stays pure."""

import json
import subprocess
import sys

import pytest

from tests.support import clean_env

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)

FORBIDDEN_IN_THE_CORE = ("boto3", "botocore", "s3transfer", "celery", "kombu", "billiard")


def _loaded(imports: str, candidates: tuple[str, ...]) -> list[str]:
    probe = f"import json, sys, {imports}; print(json.dumps(sorted(m for m in {candidates!r} if m in sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], env=clean_env(AWS_ENDPOINT_URL="http://127.0.0.1:9"),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_lambda_and_the_task_module_do_not_load_the_audio_core():
    assert _loaded("producer.lambda_handler, producer.cli, audio_tasks.worker.tasks",
                   ("numpy", "scipy", "matplotlib", "threadpoolctl")) == []


def test_the_audio_core_imports_nothing_from_aws_celery_kombu_or_billiard():
    from pathlib import Path

    import audio_tasks.audio

    modules = sorted(f"audio_tasks.audio.{p.stem}" for p in Path(audio_tasks.audio.__file__).parent.glob("*.py")
                     if p.stem != "__init__")
    assert "audio_tasks.audio.pipeline" in modules
    assert _loaded(", ".join(modules), FORBIDDEN_IN_THE_CORE) == []
