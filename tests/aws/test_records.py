"""Sample record transitions against DynamoDB in the emulator."""

import uuid

import pytest

from audio_tasks.aws.records import RecordExists, RecordNotFound, SampleRecords


@pytest.fixture
def records(stack):
    return SampleRecords(stack.settings)


URI = "s3://bucket/key.wav"


def _new(records) -> str:
    sample_id = str(uuid.uuid4())
    records.create(sample_id, URI)
    return sample_id


def test_a_new_record_is_queued(records):
    sample_id = _new(records)
    record = records.get(sample_id)
    assert record["status"] == "QUEUED" and record["attempts"] == 0
    assert record["input_uri"] == "s3://bucket/key.wav"
    assert record["created_at"] == record["updated_at"]


def test_ids_are_unique_and_a_refused_create_returns_the_record_it_found(records):
    sample_id = _new(records)
    records.start(sample_id, URI)
    with pytest.raises(RecordExists) as exists:
        records.create(sample_id, "s3://other/key.wav")
    assert (exists.value.record["status"], exists.value.record["input_uri"]) == ("PROCESSING", URI)


def test_happy_path_counts_attempts_and_stores_results(records):
    sample_id = _new(records)
    assert records.start(sample_id, URI)["attempts"] == 1
    assert records.start(sample_id, URI)["attempts"] == 2  # a redelivery after a crash
    done = records.complete(sample_id, {"duration_s": 1.5, "loudness": float("-inf"), "tags": ["a"]})
    assert done["status"] == "COMPLETED"
    assert records.get(sample_id)["results"] == {"duration_s": 1.5, "loudness": None, "tags": ["a"]}


def test_completed_never_goes_back(records):
    sample_id = _new(records)
    records.start(sample_id, URI)
    records.complete(sample_id, {})
    assert records.start(sample_id, URI) is None
    assert records.fail(sample_id, {"code": "x", "message": "late failure"}) is None
    assert records.requeue(sample_id) is None
    assert records.get(sample_id)["status"] == "COMPLETED"


def test_only_a_processing_record_completes(records):
    sample_id = _new(records)
    assert records.complete(sample_id, {}) is None
    assert records.get(sample_id)["status"] == "QUEUED"


def test_failure_keeps_the_reason_and_is_final(records):
    sample_id = _new(records)
    records.start(sample_id, URI)
    failed = records.fail(sample_id, {"code": "invalid_audio", "message": "not audio"})
    assert failed["status"] == "FAILED" and failed["error"]["code"] == "invalid_audio"
    assert records.start(sample_id, URI) is None
    assert records.requeue(sample_id)["status"] == "QUEUED"  # a redrive may try again


def test_unknown_samples_are_reported(records):
    with pytest.raises(RecordNotFound):
        records.get("no-such-sample")
    with pytest.raises(RecordNotFound):
        records.fail("no-such-sample", {"code": "invalid_audio", "message": "m"})


def test_a_job_for_a_sample_without_a_record_creates_it_as_it_starts(records):
    sample_id = str(uuid.uuid4())  # a producer that only sent a message
    started = records.start(sample_id, URI)
    assert (started["status"], started["attempts"], started["input_uri"]) == ("PROCESSING", 1, URI)
    assert started["created_at"] == started["updated_at"]
    again = records.start(sample_id, "s3://other/key.wav")  # a redelivery: the record keeps its input
    assert (again["attempts"], again["input_uri"], again["created_at"]) == (2, URI, started["created_at"])


def test_records_created_and_read_in_batches(records):
    ids = [str(uuid.uuid4()) for _ in range(130)]  # more than one BatchGetItem (100) and BatchWriteItem (25)
    assert records.create_many([(sample_id, f"s3://bucket/{n}.wav") for n, sample_id in enumerate(ids[:60])]) == []
    found = records.get_many(ids)
    assert sorted(found) == sorted(ids[:60])
    assert {(r["status"], r["attempts"]) for r in found.values()} == {("QUEUED", 0)}
    assert found[ids[7]]["input_uri"] == "s3://bucket/7.wav"
