"""``python -m benchmarks.peak_rss FILE OUT_DIR [--no-descriptors]``: run the full job on FILE
in this fresh process and print its peak RSS in MiB, as JSON.

The peak is the kernel's high-water mark of this process's own memory (``VmHWM``), not
``getrusage``'s ``ru_maxrss``: a process started by ``subprocess`` keeps its parent's
high-water mark across exec, so ``ru_maxrss`` reported the benchmark runner's ~300 MiB
for every input. For the same reason the ffmpeg children's peak is not reported.
"""

import json
import sys
from pathlib import Path

from audio_tasks.audio.options import AudioOptions
from audio_tasks.audio.pipeline import process_file


def high_water_mib() -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


process_file(Path(sys.argv[1]), Path(sys.argv[2]), options=AudioOptions(descriptors="--no-descriptors" not in sys.argv))
print(json.dumps({"self_mib": high_water_mib()}))
