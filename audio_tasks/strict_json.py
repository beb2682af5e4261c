"""JSON from strangers: parsed so that no text can crash, hang or mislead the reader.

Python's ``json.loads`` raises ``RecursionError`` (not ``ValueError``) on deep nesting — a
200 KB body of ``[[[[…`` ended a worker with "Unrecoverable error" — and it accepts what
JSON (RFC 8259) does not promise to mean anything: duplicate keys (the last one silently
wins, so two readers may disagree), ``NaN``/``Infinity``, and ``\\ud800`` escapes that make
strings no UTF-8 encoder can write. ``loads`` refuses all of these with ``RefusedJson``, a
``ValueError`` whose text says what was wrong, and nothing else ever escapes it.

Its cost is linear in the text: one C parse plus one walk over the values (a 64 KiB body
is read in about a millisecond).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # a Celery envelope nests 4 levels, a job's options a few more
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class RefusedJson(ValueError):
    """The text is not JSON this project accepts; ``str(error)`` says why."""


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """The value ``text`` holds, or RefusedJson: not JSON, too deep, duplicate keys, NaN, lone surrogates."""
    if not isinstance(text, str):
        raise RefusedJson(f"expected text, got {type(text).__name__}")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
    except RefusedJson:
        raise
    except RecursionError:
        raise RefusedJson(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError; an integer of more than 4300 digits
        raise RefusedJson(f"not JSON ({_first_line(exc)})") from None
    _check(value, max_depth)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict:
    result = {}
    for key, value in pairs:
        if key in result:
            raise RefusedJson(f"duplicate key {key[:80]!r}")
        result[key] = value
    return result


def _constant(name: str):
    raise RefusedJson(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RefusedJson(f"{text[:40]} is out of the range of a 64-bit float")
    return value


def _check(value: Any, max_depth: int) -> None:
    """Depth and strings, walked without recursion (the value may be ~1000 levels deep)."""
    _check_string(value)
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            raise RefusedJson(f"nested deeper than {max_depth} levels")
        for child in ((*container.keys(), *container.values()) if isinstance(container, dict) else container):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            else:
                _check_string(child)


def encodable(text: str) -> bool:
    """Whether UTF-8 can encode ``text`` (a JSON ``"\\ud800"`` escape, read by another parser, makes one it cannot)."""
    return not _SURROGATE.search(text)


def _check_string(value: Any) -> None:
    if isinstance(value, str) and not encodable(value):
        raise RefusedJson("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
