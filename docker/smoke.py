"""``make image-smoke``: the built image, run as ECS runs it, against the embedded local stack.

Usage: ``python docker/smoke.py ENGINE IMAGE`` (ENGINE is docker or podman).

Every container gets host networking (the emulator listens on 127.0.0.1), the image's own
user, and what its task definition in the CloudFormation template says, applied as Fargate
applies it: a read-only root filesystem, the dropped capabilities, and each mount point as
an empty volume that takes the image's directory (owner, mode) only where the image declares
it a VOLUME; elsewhere Fargate's bind mount is root's, mode 0755. The stop timeout and the
health-check command are read from there too. Each check prints PASS or FAIL with the
reason; the containers' output is kept in ``test-artifacts/image-smoke/``. Exit 0 when every
check passed, else 1. Then it prints the image's size, layer by layer (goal: ≤ 500 MB).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from audio_tasks import aws
from audio_tasks.audio.ffmpeg import ffmpeg_exe
from audio_tasks.aws.records import SampleRecords
from audio_tasks.aws.storage import parse_s3_uri
from audio_tasks.local_stack import LocalStack, free_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "cloudformation" / "ecsAudioProcessing-cloudformation-template.json"
ARTIFACTS = ROOT / "test-artifacts" / "image-smoke"
ARTIFACT_NAMES = {"analysis.json", "house.wav", "preview.mp3", "preview.opus", "spectrogram.png", "waveform.json",
                  "waveform-small.png", "waveform-large.png"}
SIZE_GOAL_MB = 500
FLOWER_AUTH = ("smoke", "not-a-secret")
# Celery prints this from its signal handler, outside logging; the worker's own JSON line follows.
CELERY_SHUTDOWN_LINE = re.compile(r"worker: (Warm|Cold) shutdown \(MainProcess\)")
# Every boto3 client is built by aws.client(service, settings); docker/Dockerfile keeps only their models.
AWS_CLIENT_CALL = re.compile(r'\bclient\("([a-z0-9-]+)"')


class CheckFailed(Exception):
    """A check's outcome, with the reason a reader needs."""


def container_definition(task_definition: str) -> dict:
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    return resources[task_definition]["Properties"]["ContainerDefinitions"][0]


WORKER, FLOWER = container_definition("WorkerTaskDefinition"), container_definition("FlowerTaskDefinition")


class Containers:
    """Runs IMAGE with ENGINE as ECS would, against ``stack``; removes what it started."""

    def __init__(self, engine: str, image: str, stack: LocalStack, scratch: Path):
        self.engine, self.image, self.stack, self.scratch = engine, image, stack, scratch
        self._started: list[str] = []
        # Only what the stack configures, never the host's own environment.
        self.base_env = {k: v for k, v in stack.env.items() if os.environ.get(k) != v}
        volumes = self._engine("image", "inspect", "--format", "{{json .Config.Volumes}}", image, check=True)
        self.image_volumes = set(json.loads(volumes.stdout) or {})

    def run_args(self, name: str, env: dict, definition: dict) -> list[str]:
        """``definition``'s container settings as run flags, the way Fargate applies them."""
        flags = ["--name", name, "--network", "host"]
        if definition.get("ReadonlyRootFilesystem"):
            flags.append("--read-only")
            if self.engine == "podman":  # else podman adds writable tmpfs on /tmp, /run and /var/tmp
                flags.append("--read-only-tmpfs=false")
        for mount in definition.get("MountPoints", []):
            path = mount["ContainerPath"]
            if path in self.image_volumes:  # a new volume: the engine copies the image's directory into it
                flags += ["--volume", path]
            else:  # Fargate's plain bind mount: an empty directory, root's, mode 0755
                empty = Path(tempfile.mkdtemp(dir=self.scratch))
                empty.chmod(0o755)
                flags += ["--volume", f"{empty}:{path}"]
        flags += [f"--cap-drop={cap}" for cap in definition.get("LinuxParameters", {}).get("Capabilities", {})
                  .get("Drop", [])]
        return flags + [arg for k, v in {**self.base_env, **env}.items() for arg in ("--env", f"{k}={v}")]

    def run(self, label: str, env: dict, *args: str, entrypoint: str | None = None, definition: dict = WORKER,
            timeout: float = 180) -> subprocess.CompletedProcess:
        """Run to completion; returns its exit code and output."""
        name = self._name(label)
        override = ["--entrypoint", entrypoint] if entrypoint else []
        try:
            return self._engine("run", *self.run_args(name, env, definition), *override, self.image, *args,
                                timeout=timeout)
        finally:
            self.save_logs(name, label)

    def start(self, label: str, env: dict, *args: str, definition: dict = WORKER) -> str:
        """Start detached; returns the container's name."""
        name = self._name(label)
        self._engine("run", "--detach", *self.run_args(name, env, definition), self.image, *args, check=True)
        return name

    def wait_for_log(self, name: str, needle: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.logs(name):
                return
            if self.state(name)["Running"] is not True:
                raise CheckFailed(f"{name} exited with {self.state(name)['ExitCode']} before logging {needle!r}")
            time.sleep(0.5)
        raise CheckFailed(f"{name} did not log {needle!r} within {timeout:.0f} s")

    def logs(self, name: str) -> str:
        run = self._engine("logs", name)
        return run.stdout + run.stderr

    def state(self, name: str) -> dict:
        return json.loads(self._engine("inspect", "--format", "{{json .State}}", name, check=True).stdout)

    def exec(self, name: str, *command: str) -> subprocess.CompletedProcess:
        return self._engine("exec", name, *command, timeout=60)

    def stop(self, name: str, timeout_s: int) -> subprocess.CompletedProcess:
        return self._engine("stop", "--time", str(timeout_s), name, timeout=timeout_s + 60)

    def save_logs(self, name: str, label: str) -> None:
        (ARTIFACTS / f"{label}.log").write_text(self.logs(name))

    def remove_all(self) -> None:
        for name in self._started:
            self._engine("rm", "--force", "--volumes", name)

    def size_report(self) -> list[str]:
        """The image's uncompressed size, and each layer of 0.1 MB or more, base first."""
        size = int(self._engine("image", "inspect", "--format", "{{.Size}}", self.image, check=True).stdout)
        goal = "met" if size <= SIZE_GOAL_MB * 1e6 else "NOT met"
        lines = [f"image size: {size / 1e6:.0f} MB uncompressed (goal ≤ {SIZE_GOAL_MB} MB: {goal})"]
        for layer_size, created_by in reversed(self._layers()):
            if layer_size >= 1e5:
                lines.append(f"  {layer_size / 1e6:8.1f} MB  {' '.join(created_by.split())[:100]}")
        return lines

    def _layers(self) -> list[tuple[int, str]]:
        """(bytes, instruction) per layer, newest first. podman 4.3 ignores --human=false in a template."""
        if self.engine == "podman":
            history = json.loads(self._engine("history", "--format", "json", self.image, check=True).stdout)
            return [(layer["size"], layer["CreatedBy"]) for layer in history]
        history = self._engine("history", "--human=false", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                               self.image, check=True).stdout
        return [(int(size), created_by) for size, created_by in
                (line.split("\t", 1) for line in history.splitlines() if line.strip())]

    def _name(self, label: str) -> str:
        name = f"audio-tasks-smoke-{label}-{uuid.uuid4().hex[:6]}"
        self._started.append(name)
        return name

    def _engine(self, *args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
        run = subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if check and run.returncode != 0:
            raise CheckFailed(f"{self.engine} {args[0]} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
        return run


class Smoke:
    """The checks, in the order they run; each returns a short note or raises CheckFailed."""

    def __init__(self, containers: Containers, inputs: Path):
        self.c, self.stack, self.inputs = containers, containers.stack, inputs
        self.records = SampleRecords(self.stack.settings)
        self.service = ""

    def checks(self):
        return [
            ("non-root user; of the filesystem only the task definition's mount points are writable",
             self.user_and_filesystem),
            ("the installed package is imported, the working directory is empty", self.installed_package),
            ("botocore has the model of every AWS service the code calls", self.botocore_models),
            ("service: a job submitted from the host is COMPLETED with all artifacts", self.service_job),
            ("the task definition's health check passes in the running worker", self.health_check),
            ("SIGTERM mid-job: warm shutdown, exit 0 within the StopTimeout", self.sigterm_mid_job),
            ("service: every line it wrote, start to stop, is one JSON object", self.json_logs),
            ("task: one job from the environment, exit 0, record COMPLETED", self.task_mode),
            ("flower: 401 without credentials, 200 with them", self.flower),
            ("flower with monitoring off: exit 78, one JSON error line", self.flower_without_monitoring),
            ("no PROCESSING_MODE: non-zero exit, one JSON error line", self.missing_mode),
            ("unknown PROCESSING_MODE: non-zero exit, one JSON error line", self.unknown_mode),
        ]

    # -- the image itself --------------------------------------------------------------
    def user_and_filesystem(self) -> str:
        mounts = [mount["ContainerPath"] for mount in WORKER["MountPoints"]]
        probe = "id -u; for dir in / /opt/audio-tasks /srv " + " ".join(mounts) + \
                "; do touch $dir/probe 2>/dev/null && echo $dir; done; true"
        run = self.c.run("user", {}, "-c", probe, entrypoint="/bin/sh")
        uid, *writable = run.stdout.split() or ["?"]
        if run.returncode != 0 or uid in ("0", "?"):
            raise CheckFailed(f"uid {uid} (exit {run.returncode}): the image must run as a non-root user")
        if writable != mounts:
            raise CheckFailed(f"writable: {writable}, expected exactly {mounts} (a mount point must be a VOLUME "
                              "of the image: Fargate mounts it root's, mode 0755, otherwise)")
        return f"uid {uid}, writable {' '.join(writable)}"

    def installed_package(self) -> str:
        code = "import audio_tasks, os; print(audio_tasks.__file__); print(os.listdir('.'))"
        run = self.c.run("package", {}, "-c", code, entrypoint="python")
        lines = run.stdout.splitlines()
        if run.returncode != 0 or len(lines) != 2:
            raise CheckFailed(f"python exited {run.returncode}: {run.stderr.strip()[-500:]}")
        if "/site-packages/" not in lines[0] or lines[1] != "[]":
            raise CheckFailed(f"audio_tasks from {lines[0]}, working directory holds {lines[1]}: build "
                              "leftovers there would shadow the installed package")
        return lines[0]

    def botocore_models(self) -> str:
        called = {service for folder in ("audio_tasks", "producer") for path in (ROOT / folder).rglob("*.py")
                  for service in AWS_CLIENT_CALL.findall(path.read_text())}
        code = "import botocore.session; print(*botocore.session.get_session().get_available_services())"
        run = self.c.run("botocore", {}, "-c", code, entrypoint="python")
        if run.returncode != 0:
            raise CheckFailed(f"python exited {run.returncode}: {run.stderr.strip()[-500:]}")
        missing = called - set(run.stdout.split())
        if missing:
            raise CheckFailed(f"no botocore model for {sorted(missing)}, which the code calls: keep it in "
                              "docker/Dockerfile's deps stage")
        return " ".join(sorted(called))

    # -- service mode --------------------------------------------------------------------
    def service_job(self) -> str:
        self.service = self.c.start("service", {"PROCESSING_MODE": "service"})
        self.c.wait_for_log(self.service, " ready.")
        [record] = self._submit(self.inputs / "tone.wav", "--wait", "--timeout", "180")
        if record["status"] != "COMPLETED":
            raise CheckFailed(f"sample {record['sample_id']} is {record['status']}: {record.get('error')}")
        artifacts = record["results"]["artifacts"]
        if set(artifacts) != ARTIFACT_NAMES:
            raise CheckFailed(f"artifacts {sorted(artifacts)}, expected {sorted(ARTIFACT_NAMES)}")
        s3 = aws.client("s3", self.stack.settings)
        sizes = {name: s3.head_object(Bucket=parse_s3_uri(uri)[0], Key=parse_s3_uri(uri)[1])["ContentLength"]
                 for name, uri in artifacts.items()}
        if not all(sizes.values()):
            raise CheckFailed(f"empty artifacts in S3: {sizes}")
        return f"sample {record['sample_id']}, {len(sizes)} artifacts in S3"

    def health_check(self) -> str:
        check = WORKER["HealthCheck"]["Command"]
        command = ["/bin/sh", "-c", check[1]] if check[0] == "CMD-SHELL" else check[1:]
        run = self.c.exec(self._running_service(), *command)
        if run.returncode != 0:
            raise CheckFailed(f"{' '.join(command)} exited {run.returncode}: {(run.stdout + run.stderr).strip()}")
        return " ".join(command)

    def json_logs(self) -> str:
        if not self.service:
            raise CheckFailed("the service container never started (see above)")
        lines = [line for line in self.c.logs(self.service).splitlines() if line.strip()]
        for line in lines:
            try:
                json.loads(line)
            except ValueError:
                if not CELERY_SHUTDOWN_LINE.fullmatch(line):
                    raise CheckFailed(f"not JSON: {line[:200]}") from None
        return f"{len(lines)} lines"

    def sigterm_mid_job(self) -> str:
        name, stop_timeout = self._running_service(), WORKER["StopTimeout"]
        [record] = self._submit(self.inputs / "ten-minutes.mp3")
        sample_id = record["sample_id"]
        deadline = time.monotonic() + 120
        while self.records.get(sample_id)["status"] == "QUEUED" and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.records.get(sample_id)["status"] != "PROCESSING":
            raise CheckFailed(f"sample {sample_id} is {self.records.get(sample_id)['status']}, not PROCESSING: "
                              "the stop would not be mid-job")
        started = time.monotonic()
        self.c.stop(name, stop_timeout)
        elapsed = time.monotonic() - started
        self.c.save_logs(name, "service")
        state, final = self.c.state(name), self.records.get(sample_id)["status"]
        if state["ExitCode"] != 0 or elapsed >= stop_timeout:
            raise CheckFailed(f"exit {state['ExitCode']} after {elapsed:.0f} s (StopTimeout {stop_timeout} s): "
                              "the engine killed it, or it failed")
        if "warm shutdown" not in self.c.logs(name).lower():
            raise CheckFailed("exit 0 but no warm shutdown in its log")
        if final not in ("COMPLETED", "QUEUED"):
            raise CheckFailed(f"sample {sample_id} was left {final} (expected finished, or released to QUEUED)")
        return f"exit 0 after {elapsed:.0f} s (StopTimeout {stop_timeout} s), sample {final}"

    # -- task mode -----------------------------------------------------------------------
    def task_mode(self) -> str:
        sample_id = f"smoke-task-{uuid.uuid4().hex[:8]}"
        bucket, key = self.stack.env["INPUT_BUCKET"], f"incoming/{sample_id}/tone.wav"
        aws.client("s3", self.stack.settings).upload_file(str(self.inputs / "tone.wav"), bucket, key)
        self.records.create(sample_id, f"s3://{bucket}/{key}")
        run = self.c.run("task", {"PROCESSING_MODE": "task", "SAMPLE_ID": sample_id, "S3_BUCKET": bucket,
                                  "S3_KEY": key})
        status = self.records.get(sample_id)["status"]
        if run.returncode != 0 or status != "COMPLETED":
            raise CheckFailed(f"exit {run.returncode}, record {status}: {run.stderr.strip()[-500:]}")
        return f"sample {sample_id}"

    # -- flower mode ---------------------------------------------------------------------
    def flower(self) -> str:
        port = free_port()
        name = self.c.start("flower", {"PROCESSING_MODE": "flower", "MONITORING_ENABLED": "true",
                                       "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH), "FLOWER_PORT": str(port)},
                            "--address=127.0.0.1", definition=FLOWER)
        url = f"http://127.0.0.1:{port}/"
        try:
            self.c.wait_for_log(name, "Flower is at")
            anonymous, authorised = _http_status(url), _http_status(url, FLOWER_AUTH)
        finally:
            self.c.stop(name, 30)
            self.c.save_logs(name, "flower")
        if (anonymous, authorised) != (401, 200):
            raise CheckFailed(f"{url}: {anonymous} without credentials, {authorised} with them")
        return url

    def flower_without_monitoring(self) -> str:
        run = self.c.run("flower-off", {"PROCESSING_MODE": "flower", "MONITORING_ENABLED": "false",
                                        "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)}, definition=FLOWER)
        return _one_json_error(run, expected_code=78)

    # -- bad modes -----------------------------------------------------------------------
    def missing_mode(self) -> str:
        return _one_json_error(self.c.run("no-mode", {}))

    def unknown_mode(self) -> str:
        return _one_json_error(self.c.run("bad-mode", {"PROCESSING_MODE": "worker"}))

    # -- helpers -------------------------------------------------------------------------
    def _running_service(self) -> str:
        if not self.service or self.c.state(self.service)["Running"] is not True:
            raise CheckFailed("the service container is not running (see the check above)")
        return self.service

    def _submit(self, path: Path, *options: str) -> list[dict]:
        run = subprocess.run([sys.executable, "-m", "producer.cli", "submit", str(path), "--json", *options],
                             env=self.stack.env, capture_output=True, text=True, timeout=240,
                             stdin=subprocess.DEVNULL)
        if run.returncode not in (0, 1):
            raise CheckFailed(f"audio-tasks submit exited {run.returncode}: {run.stderr.strip()[-500:]}")
        return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def _one_json_error(run: subprocess.CompletedProcess, expected_code: int | None = None) -> str:
    """The run failed with one JSON line on stderr, and ``expected_code`` if given."""
    lines = run.stderr.splitlines()
    try:
        [record] = [json.loads(line) for line in lines]
    except ValueError:
        raise CheckFailed(f"exit {run.returncode}; stderr is not one JSON line: {run.stderr.strip()[:500]!r}") from None
    if run.returncode == 0 or (expected_code is not None and run.returncode != expected_code):
        raise CheckFailed(f"exit {run.returncode} (expected {expected_code or 'non-zero'}): {record}")
    return f"exit {run.returncode}: {record.get('message', record)}"


def _http_status(url: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def make_inputs(folder: Path) -> None:
    """A 2 s tone (a quick job) and 10 minutes of MP3 (a job still running when SIGTERM comes)."""
    for name, duration in (("tone.wav", 2), ("ten-minutes.mp3", 600)):
        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={duration}", "-ac", "2", str(folder / name)],
                       check=True, timeout=120)


def main(engine: str, image: str) -> int:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failures = total = 0
    with tempfile.TemporaryDirectory() as work, LocalStack(ARTIFACTS / "stack") as stack:
        inputs, mounts = Path(work, "inputs"), Path(work, "mounts")
        inputs.mkdir(), mounts.mkdir()
        make_inputs(inputs)
        containers = Containers(engine, image, stack, mounts)
        try:
            for title, check in Smoke(containers, inputs).checks():
                started = time.monotonic()
                try:
                    note, outcome = check(), "PASS"
                except CheckFailed as failure:
                    note, outcome, failures = str(failure), "FAIL", failures + 1
                total += 1
                print(f"{outcome}  {title} ({time.monotonic() - started:.0f} s): {note}", flush=True)
            print("\n".join(containers.size_report()))
        finally:
            containers.remove_all()
    print(f"{total - failures} passed, {failures} failed; container output in {ARTIFACTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    try:
        sys.exit(main(*sys.argv[1:]))
    except CheckFailed as failure:  # the engine itself failed (no such image, no engine)
        sys.exit(f"image-smoke: {failure}")
