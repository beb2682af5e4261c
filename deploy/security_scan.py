"""checkov over the deployment: the template as deployed by default, the template with
every option on (``template.EVERY_OPTION_ON``), and the Dockerfile.

checkov evaluates only the resources whose conditions hold with the parameters'
defaults, so one scan of the template would never look at Flower's load balancer or the
buckets the stack can create. Suppressions live next to what they excuse, each with its
reason: a resource's ``Metadata.checkov.skip`` in the template, a ``# checkov:skip=``
line in the Dockerfile.

checkov runs from its own virtualenv (``make .venv-checkov/.installed``, pinned in
``deploy/requirements-checkov.txt``): it pins boto3, networkx and packaging to versions
older than the project's, so it cannot share the project's environment.

``python -m deploy.security_scan`` prints checkov's findings and exits 1 if any check
failed (or checkov is missing), 0 otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy import template

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
DOCKERFILE = ROOT / "docker" / "Dockerfile"
_SUMMARY = re.compile(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)")


@dataclass(frozen=True)
class Scan:
    target: str
    passed: int
    failed: int
    skipped: int
    output: str


def scan(path: Path, framework: str, target: str) -> Scan:
    """One checkov run, offline (``--skip-download``: no guideline or policy download)."""
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make .venv-checkov/.installed`")
    run = subprocess.run([str(CHECKOV), "--skip-download", "--quiet", "--compact", "--framework", framework,
                          "-f", str(path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    counts = _SUMMARY.search(run.stdout)
    if counts is None:
        raise RuntimeError(f"checkov printed no summary for {target} (exit {run.returncode}):\n"
                           f"{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return Scan(target, *map(int, counts.groups()), run.stdout)


def scan_all() -> list[Scan]:
    scans = [scan(template.PATH, "cloudformation", "template, default parameters")]
    with tempfile.TemporaryDirectory() as tmp:
        variant = Path(tmp) / "every-option-on.json"
        variant.write_text(json.dumps(template.load().with_defaults(template.EVERY_OPTION_ON).body, indent=2))
        scans.append(scan(variant, "cloudformation", "template, every option on"))
    scans.append(scan(DOCKERFILE, "dockerfile", "docker/Dockerfile"))
    return scans


def main() -> int:
    try:
        scans = scan_all()
    except (FileNotFoundError, RuntimeError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for s in scans:
        if s.failed:
            print(s.output)
        print(f"checkov: {s.target}: {s.passed} passed, {s.failed} failed, {s.skipped} suppressed with a reason")
    return 1 if any(s.failed for s in scans) else 0


if __name__ == "__main__":
    sys.exit(main())
