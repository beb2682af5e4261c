"""The emulator's own request log (moto's recorder): every SQS and SNS call made in a window
(with ``everything``: DynamoDB and S3 calls too).

Counting here rather than in botocore also counts the asynchronous pycurl requests kombu's
SQS transport makes. The emulator records only when started with ``MOTO_RECORDER_FILEPATH``
set (``benchmarks.__main__`` sets it for every stack it starts).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.request import Request, urlopen


@dataclass(frozen=True)
class Call:
    action: str  # e.g. ReceiveMessage, Publish
    target: str  # the queue or topic it names (its last path or ARN part), "" if none


class Recorder:
    def __init__(self, endpoint: str, everything: bool = False):
        self._endpoint, self._everything = endpoint, everything

    def start(self) -> None:
        """Forget what was recorded so far and record from now on."""
        self._control("reset-recording")
        self._control("start-recording")

    def stop(self) -> list[Call]:
        """Stop recording; the SQS and SNS calls recorded since ``start``."""
        self._control("stop-recording")
        text = urlopen(f"{self._endpoint}/moto-api/recorder/download-recording", timeout=30).read().decode()
        calls = (json.loads(line) for line in text.splitlines() if line.strip())
        return [call for entry in calls for call in [_call(entry) or (self._everything and _other(entry))] if call]

    def _control(self, action: str) -> None:
        urlopen(Request(f"{self._endpoint}/moto-api/recorder/{action}", method="POST"), timeout=10).read()


def _call(entry: dict) -> Call | None:
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    target = headers.get("x-amz-target", "")
    if target.startswith("AmazonSQS."):  # SQS's JSON protocol (botocore)
        named = json.loads(body or "{}").get("QueueUrl", "")
        return Call(target.split(".", 1)[1], named.rsplit("/", 1)[-1])
    credential = headers.get("authorization", "")
    if "/sqs/aws4_request" not in credential and "/sns/aws4_request" not in credential:
        return None
    fields = {**parse_qs(entry.get("url", "").partition("?")[2]), **parse_qs(body)}  # the query protocol
    named = (fields.get("QueueUrl") or fields.get("TopicArn") or [""])[0]
    return Call((fields.get("Action") or ["unknown"])[0], named.rsplit("/", 1)[-1].rsplit(":", 1)[-1])


def _other(entry: dict) -> Call | None:
    """A DynamoDB or S3 call: DynamoDB by its X-Amz-Target, S3 by method (a listing by its query)."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    target = headers.get("x-amz-target", "")
    if target.startswith("DynamoDB_"):
        return Call(target.split(".", 1)[1], "")
    if "/s3/aws4_request" in headers.get("authorization", ""):
        url = entry.get("url", "")
        return Call("ListObjectsV2" if "list-type=2" in url else f"S3 {entry.get('method', '?')}", "")
    return None
