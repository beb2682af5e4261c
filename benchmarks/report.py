"""Benchmark rows: a measured value, its target, pass/fail; printed as a table and saved as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass
class Row:
    name: str
    value: float
    unit: str
    target: str = "report"  # "report": measured for the record, no target
    passed: bool | None = None
    detail: str = ""


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {platform.python_version()}"


def table(rows: list[Row], mode: str) -> str:
    lines = [f"audio_tasks benchmarks ({mode}) — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}", "",
             f"| {'measure':<46} | {'value':>12} | {'target':<14} | result |",
             f"|{'-' * 48}|{'-' * 14}|{'-' * 16}|--------|"]
    for row in rows:
        result = "report" if row.passed is None else "PASS" if row.passed else "FAIL"
        value = f"{row.value:.3g} {row.unit}".strip()
        lines.append(f"| {row.name:<46} | {value:>12} | {row.target:<14} | {result:<6} |")
    details = [f"- {row.name}: {row.detail}" for row in rows if row.detail]
    return "\n".join(lines + ([""] + details if details else []))


def save(rows: list[Row], mode: str, path: Path) -> None:
    path.write_text(json.dumps({"mode": mode, "machine": machine(),
                                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
