"""JobArguments.bind: the one reading of a job's arguments, as process_sample would bind them."""

import inspect

import pytest

from audio_tasks.message import JOB_FIELDS, InvalidArguments, JobArguments


def test_positional_and_keyword_arguments_bind_alike():
    expected = JobArguments("s-1", "bucket", "incoming/a.wav")
    assert JobArguments.bind(["s-1", "bucket", "incoming/a.wav"], {}) == expected
    assert JobArguments.bind(["s-1"], {"key": "incoming/a.wav", "bucket": "bucket"}) == expected


@pytest.mark.parametrize("args, kwargs, message", [
    (["s-1", "b"], {}, "missing or empty fields: key"),
    (["s-1", "b", " "], {}, "missing or empty fields: key"),
    (["s-1", 7, None], {}, "missing or empty fields: bucket, key"),
    (["s-1", "b", "k", "extra"], {}, "got 4 positional arguments"),
    (["s-1", "b"], {"sample_id": "again", "key": "k"}, "unexpected or repeated argument 'sample_id'"),
    (["s-1", "b", "k"], {"priority": 1}, "unexpected or repeated argument 'priority'"),
    ({"sample_id": "s-1"}, {}, "arguments must be a list"),
    (["s-1", "b", "k"], ["not", "a", "dict"], "arguments must be a list"),
])
def test_anything_that_is_not_a_job_is_refused_with_a_reason(args, kwargs, message):
    with pytest.raises(InvalidArguments, match=message):
        JobArguments.bind(args, kwargs)


def test_the_fields_are_the_tasks_parameters(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the app's settings; nothing is sent
    from audio_tasks.worker.tasks import process_sample

    assert tuple(inspect.signature(process_sample.run).parameters) == JOB_FIELDS
