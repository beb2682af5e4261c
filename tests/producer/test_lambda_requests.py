"""The CreateSampleRecord Lambda's input checks, in-process: every malformed request is refused
with a specific code before any AWS call (botocore's ``_make_api_call`` is watched for one)."""

import base64
import json

import botocore.client
import pytest

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


def _s3_event(key: str, size: int) -> dict:
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": size}}}]}


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
]


@pytest.mark.parametrize("event, status, code", BAD_EVENTS, ids=range(len(BAD_EVENTS)))
def test_bad_requests_are_refused_with_specific_errors_before_any_aws_call(aws_calls, event, status, code):
    body = _body(lambda_handler.handler(event))
    assert (body["statusCode"], body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    assert aws_calls == []
