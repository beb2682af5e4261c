"""logs: one JSON object per line, job ids on job lines, and no line longer than the limit whatever it carries."""

import io
import json
import logging

import pytest

from audio_tasks import logs
from audio_tasks.logs import MAX_EXCEPTION_CHARS, MAX_FIELD_CHARS, MAX_LINE_CHARS, cut


@pytest.fixture
def lines():
    """Log to a buffer through the project's formatter; returns a function reading the lines written."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("INFO", buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_job_line_carries_its_ids(lines):
    with logs.job_context("s-1", "t-1"):
        logging.getLogger("x").info("hello %s", "world", extra={"event": "e"})
    [line] = lines()
    assert {k: line[k] for k in ("message", "sample_id", "task_id", "event")} == {
        "message": "hello world", "sample_id": "s-1", "task_id": "t-1", "event": "e"}


def test_long_values_are_cut_in_the_middle_with_a_marker(lines):
    message = "a" * 3000 + "b" * 3000
    logging.getLogger("x").error("rejected: %s", message, extra={"error": {"code": "c", "message": "y" * 10**6}})
    [line] = lines()
    assert line["message"].startswith("rejected: aaa") and line["message"].endswith("bbb")
    assert "[4010 characters cut]" in line["message"] and len(line["message"]) <= MAX_FIELD_CHARS + 40
    assert line["error"]["code"] == "c" and len(line["error"]["message"]) <= MAX_FIELD_CHARS + 40


def test_a_traceback_keeps_its_start_and_end(lines):
    try:
        raise ValueError("v" * 50_000)
    except ValueError:
        logging.getLogger("x").exception("boom")
    [line] = lines()
    assert line["exception"].startswith("Traceback") and len(line["exception"]) <= MAX_EXCEPTION_CHARS + 40


@pytest.mark.parametrize("fields", [
    {"error": {f"k{i}": "\x01" * 1500 for i in range(50)}},  # escapes: 6 characters each in JSON
    {"error": [[[[[["deep"]]]]]], "status": float("nan"), "attempt": 10**5000},
    {"event": "\x02" * 300_000, "error": {"message": "\x03" * 300_000}},
])
def test_no_line_is_over_the_limit_or_not_json_whatever_it_carries(lines, fields):
    with logs.job_context("\x01" * 100_000, "t" * 100_000):
        logging.getLogger("x").warning("m" * 100_000, extra=fields)
    [line] = lines()
    assert len(json.dumps(line, ensure_ascii=False)) <= MAX_LINE_CHARS


def test_a_line_reduced_to_its_ids_says_so(lines):
    with logs.job_context("s" * 3000, "t" * 3000):
        logging.getLogger("x").warning("m", extra={"error": {f"k{i}": "\x01" * 1500 for i in range(50)}})
    [line] = lines()
    assert "line_cut" in line and "error" not in line and line["sample_id"].startswith("sss")


def test_error_lines_are_bounded_too():
    line = json.loads(logs.error_line("audio_tasks", "configuration error: " + "x" * 100_000, event="e"))
    assert len(line["message"]) <= MAX_FIELD_CHARS + 40 and line["event"] == "e"


def test_cut_keeps_short_text_and_says_how_much_it_cut():
    assert cut("short") == "short"
    assert cut("abcdefghij", 4) == "ab…[6 characters cut]…ij"
