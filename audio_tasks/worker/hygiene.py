"""What a pool process leaves behind goes soon after it dies: its job files, and its ffmpeg children.

A pool process dies mid-job when something SIGKILLs it — the hard time limit, the shutdown
budget, the kernel's OOM killer — and Celery starts another in its place. Its job's temporary
directory (a copy of the input, up to ``MAX_INPUT_BYTES``, 2 GiB, and ``house.wav``) would
stay in ``TMPDIR`` for the life of the container, and fill the task's ephemeral storage.

So each pool process keeps its temporary files under a directory of its own,
``TMPDIR/audio-tasks-pool-<pid>`` (made ``tempfile``'s default directory when the process
starts), and every pool process, when it starts, deletes those of pool processes that no
longer exist: a dead one's files are gone as soon as its replacement starts. (A directory
whose pid has been given to an unrelated live process stays until that one ends.)

The ffmpeg children of a killed pool process are killed with it by the kernel: they are
started with a parent-death signal (``audio_tasks.audio.ffmpeg.dies_with_this_process``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "audio-tasks-pool-"


def start_pool_process(**_) -> Path:
    """Sweep dead pool processes' directories and give this one its own (``worker_process_init``)."""
    root = Path(tempfile.gettempdir())
    for leftover in sweep(root):
        log.info("removed %s, left by a pool process that died", leftover, extra={"event": "swept"})
    own = root / f"{PREFIX}{os.getpid()}"
    shutil.rmtree(own, ignore_errors=True)  # left by an earlier process with this pid
    own.mkdir(mode=0o700)
    tempfile.tempdir = str(own)
    return own


def sweep(root: Path) -> list[Path]:
    """Delete the pool-process directories under ``root`` whose process is gone; returns them."""
    removed = []
    for path in root.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX):]
        if pid.isdigit() and not _alive(int(pid)) and _ours(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _ours(path: Path) -> bool:
    try:
        return path.stat().st_uid == os.getuid()
    except FileNotFoundError:  # another process swept it first
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
