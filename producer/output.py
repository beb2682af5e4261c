"""How every ``audio-tasks`` command prints a result: a line for people, or one JSON object (``--json``)."""

from __future__ import annotations

import json
import sys


def emit(as_json: bool, obj: dict, text: str, stream=None) -> None:
    """Print ``obj`` as one sorted JSON object if ``as_json``, else ``text``; flushed at once."""
    print(json.dumps(obj, sort_keys=True, default=str) if as_json else text, file=stream or sys.stdout, flush=True)
