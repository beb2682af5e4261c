"""How many times each job's work started, counted across worker processes by the fault-injecting app."""

from __future__ import annotations

import os
from pathlib import Path


def record_run(state_dir: Path, sample_id: str) -> int:
    """Note one more start of ``sample_id``'s work; returns how many there have been."""
    with open(state_dir / f"{sample_id}.runs", "a") as log:
        log.write(f"{os.getpid()}\n")
    return runs(state_dir, sample_id)


def runs(state_dir: Path, sample_id: str) -> int:
    path = state_dir / f"{sample_id}.runs"
    return len(path.read_text().splitlines()) if path.exists() else 0
