"""Build the CreateSampleRecord deployment package: ``make lambda-zip``.

``python -m deploy.lambda_package OUT.zip [--code-only]`` writes a zip holding the code the
handler imports (``audio_tasks/``, ``producer/``, ``celeryconfig.py``) and, unless
``--code-only``, the project's runtime dependencies installed by pip for Lambda's
platform (``PYTHON_VERSION``, ``PLATFORMS``) — except those only the worker uses
(``WORKER_ONLY``). The zip is reproducible: sorted entries, fixed timestamps.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("audio_tasks", "producer", "celeryconfig.py")
# Not imported on the handler's path (tests/test_import_weight.py keeps it so): Flower's UI,
# the ffmpeg binary, plotting, and the audio core's numpy/scipy (and its BLAS thread limit).
WORKER_ONLY = {"flower", "imageio-ffmpeg", "matplotlib", "numpy", "scipy", "threadpoolctl"}
# The Lambda runtime (python3.12, Amazon Linux 2023, glibc 2.34): pycurl, which
# celery[sqs] requires, has no wheel for the older manylinux2014 of python3.11's runtime.
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def requirements() -> list[str]:
    """The project's dependencies that the Lambda needs, as pip requirement strings."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in dependencies if re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower() not in WORKER_ONLY]


def build(out: Path, code_only: bool = False) -> Path:
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as tmp:
        roots = [ROOT]
        if not code_only:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--target", tmp, *(f"--platform={p}" for p in PLATFORMS), "--implementation=cp",
                            f"--python-version={PYTHON_VERSION}", "--only-binary=:all:", *requirements()],
                           check=True)
            roots.append(Path(tmp))
        files = {path.relative_to(root).as_posix(): path
                 for root in roots for path in _files(root, CODE if root == ROOT else None)}
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, _EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                package.writestr(info, files[name].read_bytes())
    return out


def _files(root: Path, only: tuple[str, ...] | None):
    tops = [root / name for name in only] if only else list(root.iterdir())
    for top in tops:
        for path in ([top] if top.is_file() else sorted(top.rglob("*"))):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.lambda_package", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--code-only", action="store_true", help="leave out the dependencies (no network)")
    args = parser.parse_args(argv)
    path = build(args.out, args.code_only)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
