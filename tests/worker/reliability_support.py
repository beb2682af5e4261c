"""Helpers shared by the reliability tests: a fault-injecting stack, jobs, and a fault tally."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from audio_tasks import aws
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from audio_tasks.local_stack import LocalStack, StackOptions
from audio_tasks.vocabulary import FINAL_STATES
from tests.support import ARTIFACTS, REPO, eventually, json_lines, run_cli, submit_tones
from tests.worker.run_counts import runs

TALLY: Counter = Counter()  # see _TallyReport.ROWS


class FaultyStack:
    """A LocalStack whose workers run ``tests.worker.fault_injection``; jobs are picked by file name."""

    def __init__(self, name: str, options: StackOptions, tmp: Path, worker_env: dict):
        self.stack = LocalStack(ARTIFACTS / "logs" / name, options)
        self.state = tmp / "runs"
        self.inputs = tmp / "inputs"
        self.worker_env = {"FAULT_STATE_DIR": str(self.state), "PYTHONPATH": str(REPO), **worker_env}

    def __enter__(self) -> "FaultyStack":
        shutil.rmtree(self.stack.log_dir, ignore_errors=True)  # tests read these logs: this run's only
        self.state.mkdir(parents=True, exist_ok=True)
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.stack.__enter__()
        self.env = self.stack.env
        self.records = SampleRecords(self.stack.settings)
        self.sqs = aws.client("sqs", self.stack.settings)
        return self

    def __exit__(self, *exc) -> None:
        self.stack.__exit__(*exc)

    def start_worker(self, name: str, **env) -> object:
        return self.stack.start_worker(name=name, app="tests.worker.fault_injection",
                                       extra_env={**self.worker_env, **env})

    def submit(self, *names: str) -> list[str]:
        """Upload a short tone under each file name and enqueue it; returns the sample ids."""
        ids = submit_tones(self.env, self.inputs, *names)
        TALLY["jobs submitted"] += len(ids)
        return ids

    def wait_final(self, sample_ids: list[str], timeout_s: float) -> dict[str, dict]:
        """The records, once each is COMPLETED or FAILED."""
        def final():
            records = {s: self.records.get(s) for s in sample_ids}
            return records if all(r["status"] in FINAL_STATES for r in records.values()) else None
        return eventually(final, f"samples {sample_ids} to reach a final state", timeout_s, interval_s=0.5)

    def runs(self, sample_id: str) -> int:
        """How many times a pool process started this job's work."""
        return runs(self.state, sample_id)

    def artifacts(self, record: dict) -> dict[str, bytes]:
        s3 = aws.client("s3", self.stack.settings)
        return {name: s3.get_object(Bucket=b, Key=k)["Body"].read()
                for name, (b, k) in ((n, parse_s3_uri(u)) for n, u in record["results"]["artifacts"].items())}

    def dead_letters(self) -> list[dict]:
        """``audio-tasks dlq list --json``."""
        run = run_cli(self.env, "dlq", "list", "--json")
        assert run.returncode == 0, run.stderr
        return json_lines(run.stdout)

    def visible(self) -> int:
        """Messages on the work queue that a receive would return now (none in flight or delayed)."""
        return int(self.sqs.get_queue_attributes(QueueUrl=self.env["SQS_QUEUE_URL"], AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])

    def worker_log(self, name: str) -> list[dict]:
        return [json.loads(line) for line in self.stack.log_path(name).read_text().splitlines()
                if line.startswith("{")]


class _TallyReport:
    """Prints TALLY in pytest's terminal summary."""

    ROWS = ("faults injected", "jobs submitted", "completed", "failed as expected", "lost",
            "bad messages dead-lettered")

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "reliability under fault injection")
        for row in self.ROWS:
            terminalreporter.write_line(f"{row:<27} {TALLY[row]:>5}")


def report_tally(config) -> None:
    """Have the session print the fault tally at the end (once, however many modules ask)."""
    if not config.pluginmanager.has_plugin("reliability-tally"):
        config.pluginmanager.register(_TallyReport(), "reliability-tally")
