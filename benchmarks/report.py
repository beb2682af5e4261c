"""Benchmark rows: a measured value, its target, pass/fail; printed as a table and saved as JSON.

Each run's table is compared with the previous committed results of the same mode (git's
``HEAD`` version of the results file, else the file as it is): the change column shows how
far each value moved, and whether that is better or worse where the row has a target
(within ±5 % it is left unjudged: these machines are noisy).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

NOISE = 0.05


@dataclass
class Row:
    name: str
    value: float
    unit: str
    target: str = "report"  # "report": measured for the record, no target
    passed: bool | None = None
    detail: str = ""

    def change(self, previous: dict[str, float]) -> str:
        """How this value moved since ``previous`` (values by row name), e.g. ``-42 % better``."""
        before = previous.get(self.name)
        if before is None:
            return "new"
        if before <= 0:  # a ratio to zero or a negative value says nothing: show the old value
            return f"was {before:.3g}".replace("-", "−")
        moved = self.value / before - 1
        text = f"{moved:+.0%}".replace("-", "−")
        if self.target.startswith(("≤", "≥")) and abs(moved) >= NOISE:
            lower_is_better = self.target.startswith("≤")
            text += " better" if (moved < 0) == lower_is_better else " worse"
        return text


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {platform.python_version()}"


def load_average() -> str:
    return " / ".join(f"{load:.1f}" for load in os.getloadavg())


def previous_values(path: Path) -> dict[str, float]:
    """Values by row name of the committed results at ``path`` (else of the file as it is; else none)."""
    show = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent, capture_output=True, text=True)
    text = show.stdout if show.returncode == 0 else path.read_text() if path.exists() else ""
    return {row["name"]: row["value"] for row in json.loads(text)["rows"]} if text else {}


def table(rows: list[Row], mode: str, previous: dict[str, float], load: str) -> str:
    lines = [f"audio_tasks benchmarks ({mode}) — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}; "
             f"load average {load} (1/5/15 min) at the end", "",
             f"| {'measure':<48} | {'value':>12} | {'target':<14} | result | {'change':<13} |",
             f"|{'-' * 50}|{'-' * 14}|{'-' * 16}|--------|{'-' * 15}|"]
    for row in rows:
        result = "report" if row.passed is None else "PASS" if row.passed else "FAIL"
        value = f"{row.value:.3g} {row.unit}".strip()
        lines.append(f"| {row.name:<48} | {value:>12} | {row.target:<14} | {result:<6} | {row.change(previous):<13} |")
    details = [f"- {row.name}: {row.detail}" for row in rows if row.detail]
    return "\n".join(lines + ([""] + details if details else []))


def save(rows: list[Row], mode: str, path: Path, load: str) -> None:
    path.write_text(json.dumps({"mode": mode, "machine": machine(), "load_average": load,
                                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
