"""JobArguments.bind: the one reading of a job's arguments, as process_sample would bind them;
derived_sample_id and file_sample_id: one input, one sample."""

import hashlib
import inspect
import json
import uuid

import pytest

from audio_tasks.message import (JOB_FIELDS, OPTIONAL_FIELDS, InvalidArguments, JobArguments, derived_sample_id,
                                 file_sample_id)


def test_positional_and_keyword_arguments_bind_alike():
    expected = JobArguments("s-1", "bucket", "incoming/a.wav")
    assert JobArguments.bind(["s-1", "bucket", "incoming/a.wav"], {}) == expected
    assert JobArguments.bind(["s-1"], {"key": "incoming/a.wav", "bucket": "bucket"}) == expected
    assert expected.options is None  # a three-argument message is the job it always was


def test_options_are_an_optional_json_object_and_travel_as_a_keyword():
    options = {"preset": "streaming"}
    expected = JobArguments("s-1", "bucket", "incoming/a.wav", options)
    assert JobArguments.bind(["s-1", "bucket", "incoming/a.wav"], {"options": options}) == expected
    assert JobArguments.bind(["s-1", "bucket", "incoming/a.wav", options], {}) == expected
    assert JobArguments.bind(["s-1", "bucket", "incoming/a.wav", None], {}).options is None
    assert expected.call() == (["s-1", "bucket", "incoming/a.wav"], {"options": options})
    assert JobArguments("s-1", "bucket", "incoming/a.wav").call() == (["s-1", "bucket", "incoming/a.wav"], {})


@pytest.mark.parametrize("args, kwargs, message", [
    (["s-1", "b"], {}, "missing or empty fields: key"),
    (["s-1", "b", " "], {}, "missing or empty fields: key"),
    (["s-1", 7, None], {}, "missing or empty fields: bucket, key"),
    (["s-1", "b", "k", {}, "extra"], {}, "got 5 positional arguments"),
    (["s-1", "b", "k", "streaming"], {}, "options must be an object or null, got str"),
    (["s-1", "b", "k"], {"options": ["streaming"]}, "options must be an object or null, got list"),
    (["s-1", "b", "k"], {"options": {"x": "y" * 5000}}, "options are longer than 4096 bytes"),
    (["a/b", "b", "k"], {}, "sample_id must be 1-128 letters"),
    (["s" * 129, "b", "k"], {}, "sample_id must be 1-128 letters"),
    (["s-1", "b" * 256, "k"], {}, "bucket is longer than 255 characters"),
    (["s-1", "b", "é" * 513], {}, "key is longer than 1024 bytes"),
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

    parameters = inspect.signature(process_sample.run).parameters
    assert tuple(parameters) == JOB_FIELDS + OPTIONAL_FIELDS
    assert [name for name, p in parameters.items() if p.default is p.empty] == list(JOB_FIELDS)
    assert parameters["options"].default is JobArguments.options is None


def test_a_derived_sample_id_is_uuid5_of_the_input_as_documented():
    # The README tells producers how to compute it: UUID v5 of the JSON array [bucket, key, version or null].
    namespace = uuid.UUID("6b1d4b0e-5c52-4d1e-9d62-0d6f1f0e2a51")
    assert derived_sample_id("in", "a b.wav", "v1") == str(uuid.uuid5(namespace, json.dumps(["in", "a b.wav", "v1"])))
    assert derived_sample_id("in", "a.wav") == str(uuid.uuid5(namespace, '["in", "a.wav", null]'))


def test_submit_ids_with_job_options_append_them_as_sorted_json():
    # The README's Submitting in bulk: other options, another sample; the same options, the same one.
    namespace = uuid.UUID("6b1d4b0e-5c52-4d1e-9d62-0d6f1f0e2a51")
    digest = hashlib.sha256(b"audio").hexdigest()
    expected = f'["sha256:{digest}", "a.wav", "options:{{\\"preset\\": \\"streaming\\", \\"target_lufs\\": -15}}"]'
    assert file_sample_id("a.wav", digest, {"target_lufs": -15, "preset": "streaming"}) == str(
        uuid.uuid5(namespace, expected))
    assert derived_sample_id("in", "a.wav", etag="e1", options={"preset": "podcast"}) == str(
        uuid.uuid5(namespace, '["in", "a.wav", null, "e1", "options:{\\"preset\\": \\"podcast\\"}"]'))
    assert file_sample_id("a.wav", digest, {}) == file_sample_id("a.wav", digest)  # no options: the plain id


def test_submit_ids_are_uuid5_of_the_documented_arrays_and_never_an_object_versions():
    # The README's Submitting in bulk: [bucket, key, null, etag] for an S3 object, ["sha256:<hex>", name] for a file.
    namespace = uuid.UUID("6b1d4b0e-5c52-4d1e-9d62-0d6f1f0e2a51")
    assert derived_sample_id("in", "a.wav", etag="9b2cf535f27731c974343645a3985328") == str(
        uuid.uuid5(namespace, '["in", "a.wav", null, "9b2cf535f27731c974343645a3985328"]'))
    digest = hashlib.sha256(b"audio").hexdigest()
    assert file_sample_id("a.wav", digest) == str(uuid.uuid5(namespace, f'["sha256:{digest}", "a.wav"]'))
    ids = {derived_sample_id("in", "a.wav"), derived_sample_id("in", "a.wav", etag="e1"),
           derived_sample_id("in", "a.wav", etag="e2"), derived_sample_id("in", "a.wav", "e1"),
           file_sample_id("a.wav", digest), file_sample_id("b.wav", digest)}
    assert len(ids) == 6


def test_a_derived_sample_id_is_one_per_object_version():
    ids = {derived_sample_id(b, k, v) for b, k, v in [("in", "a", None), ("in", "a", "v1"), ("in", "a", "v2"),
                                                         ("in", "b", None), ("other", "a", None), ("in", "a\u00e9", None)]}
    assert len(ids) == 6
    assert derived_sample_id("in", "a", "v1") == derived_sample_id("in", "a", "v1")
    assert derived_sample_id("in", "a", "") == derived_sample_id("in", "a", None)
