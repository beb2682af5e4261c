"""Producers stay light: sending a job never loads the audio core (numpy, scipy, matplotlib)."""

import subprocess
import sys

from tests.conftest import clean_env


def test_the_lambda_and_the_task_module_do_not_load_the_audio_core():
    probe = ("import sys, producer.lambda_handler, producer.cli, audio_tasks.worker.tasks; "
             "print(sorted(m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], env=clean_env(AWS_ENDPOINT_URL="http://127.0.0.1:9"),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
