"""``python -m benchmarks.peak_rss FILE OUT_DIR [--no-descriptors]``: run the full job on FILE
in this fresh process and print its peak RSS and its ffmpeg children's, in MiB, as JSON."""

import json
import resource
import sys
from pathlib import Path

from audio_tasks.audio.options import AudioOptions
from audio_tasks.audio.pipeline import process_file

options = AudioOptions(descriptors="--no-descriptors" not in sys.argv[3:])
process_file(Path(sys.argv[1]), Path(sys.argv[2]), options=options)
print(json.dumps({"self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
