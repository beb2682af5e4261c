"""The CreateSampleRecord Lambda's input checks, in-process: every malformed request is refused
with a specific code before any AWS call (botocore's ``_make_api_call`` is watched for one)."""

import base64
import json

import botocore.client
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_tasks.message import derived_sample_id
from producer import lambda_handler

BUCKET = "audio-tasks-input"


@pytest.fixture
def aws_calls(monkeypatch):
    """The AWS calls the handler makes; settings for an emulator that is never reached."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("INPUT_BUCKET", BUCKET)
    lambda_handler._context.cache_clear()
    calls = []
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call",
                        lambda client, operation, params: calls.append(operation))
    yield calls
    lambda_handler._context.cache_clear()


def _api_event(body: dict) -> dict:
    return {"httpMethod": "POST", "requestContext": {"stage": "prod"}, "body": json.dumps(body)}


def _s3_event(key: str, size, **object_fields) -> dict:
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": size, **object_fields}}}]}


def _body(response: dict) -> dict:
    """The result inside any of the three reply shapes."""
    if "body" in response:
        return {"statusCode": response["statusCode"], **json.loads(response["body"])}
    if "results" in response:
        return response["results"][0] if response["results"] else response
    return response


GOOD_KEY = "incoming/x/a.wav"
BAD_EVENTS = [
    ({"key": GOOD_KEY}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": "  "}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": "big"}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "sample_id": "a/b"}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "colour": "red"}, 400, "invalid_request"),
    (["not", "an", "object"], 400, "invalid_request"),
    ({"bucket": "someone-elses-bucket", "key": GOOD_KEY}, 400, "wrong_bucket"),
    ({"bucket": BUCKET, "key": "processed/x/a.wav"}, 400, "key_outside_input_prefix"),
    ({"bucket": BUCKET, "key": "incoming/../processed/a.wav"}, 400, "key_outside_input_prefix"),
    ({"bucket": BUCKET, "key": "incoming/x/"}, 400, "key_outside_input_prefix"),
    ({"bucket": BUCKET, "key": "incoming/x/notes.txt"}, 415, "unsupported_extension"),
    ({"bucket": BUCKET, "key": "incoming/x/noextension"}, 415, "unsupported_extension"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": 0}, 400, "empty_input"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": 2 * 1024**3 + 1}, 413, "input_too_large"),
    (_api_event({"bucket": BUCKET}), 400, "invalid_request"),
    ({"httpMethod": "POST", "body": "{not json"}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": "!!", "isBase64Encoded": True}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": base64.b64encode(b"[1]").decode(), "isBase64Encoded": True}, 400,
     "invalid_request"),
    (_s3_event("incoming/x/a.txt", 10), 415, "unsupported_extension"),
    ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete"}]}, 400, "invalid_request"),
    ({"Records": []}, 400, "invalid_request"),
    ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}, 400, "invalid_request"),
    # Every field of the wrong type or shape: a 400 with a reason, never an exception.
    (_s3_event(GOOD_KEY, "1024"), 400, "invalid_request"),  # a string size (raised TypeError)
    (_s3_event(GOOD_KEY, 10.5), 400, "invalid_request"),
    (_s3_event(GOOD_KEY, True), 400, "invalid_request"),
    (_s3_event(["incoming/a.wav"], 10), 400, "invalid_request"),
    (_s3_event(GOOD_KEY, 10, versionId=["v"]), 400, "invalid_request"),
    (_s3_event("incoming/x/\ud800.wav", 10), 400, "invalid_request"),
    ({"Records": ["not a record"]}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": 1.5}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": None, "sample_id": 7}, 400, "invalid_request"),
    ({"bucket": ["x"], "key": GOOD_KEY}, 400, "invalid_request"),
    ({"bucket": BUCKET, "key": "incoming/x/\udfff.wav"}, 400, "invalid_request"),  # UTF-8 cannot encode it
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": 10**4000}, 413, "input_too_large"),
    ({"bucket": BUCKET, "key": GOOD_KEY, "size": -1}, 400, "empty_input"),
    ({"httpMethod": "POST", "body": {"bucket": BUCKET}}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": "e30=", "isBase64Encoded": "yes"}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": "[" * 100_000 + "]" * 100_000}, 400, "invalid_request"),  # RecursionError
    ({"httpMethod": "POST", "body": '{"bucket": "a", "bucket": "b", "key": "k"}'}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": '{"bucket": "a", "key": "k", "size": NaN}'}, 400, "invalid_request"),
    ({"httpMethod": "POST", "body": base64.b64encode(b"\xff{}").decode(), "isBase64Encoded": True}, 400,
     "invalid_request"),
    ({"bucket": BUCKET, "key": "incoming/" + "x" * 100_000 + ".wav"}, 400, "key_outside_input_prefix"),
]


@pytest.mark.parametrize("event, status, code", BAD_EVENTS, ids=range(len(BAD_EVENTS)))
def test_bad_requests_are_refused_with_specific_errors_before_any_aws_call(aws_calls, event, status, code):
    body = _body(lambda_handler.handler(event))
    assert (body["statusCode"], body["error"]["code"]) == (status, code)
    assert 0 < len(body["error"]["message"]) < 1000
    assert aws_calls == []


def test_an_s3_records_sample_id_is_derived_from_its_object_version(monkeypatch, aws_calls):
    sent = []
    monkeypatch.setattr(lambda_handler, "enqueue_sample", lambda records, bucket, key, sample_id, dispatch: sent.append(sample_id))
    lambda_handler.handler(_s3_event("incoming/x/a+b.wav", 10, versionId="v1", sequencer="0A"))
    lambda_handler.handler(_s3_event("incoming/x/a+b.wav", 10, versionId="null", sequencer="0A"))
    lambda_handler.handler(_s3_event("incoming/x/a+b.wav", 10))
    assert sent == [derived_sample_id(BUCKET, "incoming/x/a b.wav", version) for version in ("v1", "0A", None)]


@pytest.fixture(scope="module")
def unavailable_aws():
    """Every AWS call fails as a 503 would; the list of calls made."""
    calls = []

    def refuse(client, operation, params):
        calls.append(operation)
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "not here"}}, operation)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        patch.setenv("INPUT_BUCKET", BUCKET)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
        lambda_handler._context.cache_clear()
        yield calls
    lambda_handler._context.cache_clear()


EVENT_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                          max_size=3), max_leaves=8)
EVENT_FIELDS = st.sampled_from(["bucket", "key", "size", "sample_id", "Records", "httpMethod", "body",
                                "isBase64Encoded", "requestContext"])


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(EVENT_FIELDS, EVENT_VALUES | st.just(BUCKET) | st.just(GOOD_KEY), max_size=4) | EVENT_VALUES)
def test_any_event_is_answered_or_fails_only_at_aws(unavailable_aws, event):
    """Whatever the event: a reply with a status and a bounded reason, or (valid requests) AWS's own error."""
    unavailable_aws.clear()
    try:
        reply = lambda_handler.handler(event)
    except ClientError:
        assert unavailable_aws  # only a request that passed every check reaches AWS
        return
    assert isinstance(reply["statusCode"], int) and len(json.dumps(reply)) < 10_000
