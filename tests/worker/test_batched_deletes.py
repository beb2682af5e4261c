"""Acked messages are deleted from SQS in batches, by a thread, and none is left behind at close."""

import logging
import uuid

import pytest

from audio_tasks import aws
from audio_tasks.worker.batched_deletes import BatchedDeletes
from tests.support import eventually


class _CountingClient:
    """The real boto3 client, counting the DeleteMessageBatch requests made through it."""

    def __init__(self, client):
        self.client, self.batches = client, []

    def delete_message_batch(self, **request):
        self.batches.append(len(request["Entries"]))
        return self.client.delete_message_batch(**request)


@pytest.fixture
def queue(stack):
    sqs = aws.client("sqs", stack.settings)
    url = sqs.create_queue(QueueName=f"deletes-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    yield url, sqs
    sqs.delete_queue(QueueUrl=url)


def _received(sqs, url, count) -> list[str]:
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job {i}"}
                                                      for i in range(start, min(start + 10, count))])
    handles = []
    while len(handles) < count:
        handles += [m["ReceiptHandle"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                                    WaitTimeSeconds=1).get("Messages", [])]
    return handles


def _in_flight(sqs, url) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_ten_acks_go_out_as_one_batch_without_waiting(queue):
    url, sqs = queue
    client = _CountingClient(sqs)
    deletes = BatchedDeletes(lambda queue_url: client, linger_s=3600)  # nothing goes out on the clock
    for handle in _received(sqs, url, 10):
        deletes.add(url, handle)
    eventually(lambda: client.batches == [10], "the full batch of 10")
    assert _in_flight(sqs, url) == 0
    deletes.close()


def test_close_sends_what_is_pending_in_batches_of_at_most_ten(queue):
    url, sqs = queue
    client = _CountingClient(sqs)
    deletes = BatchedDeletes(lambda queue_url: client, linger_s=3600)
    for handle in _received(sqs, url, 15):
        deletes.add(url, handle)
    deletes.close()
    assert client.batches == [10, 5]
    assert _in_flight(sqs, url) == 0


def test_a_lone_ack_is_deleted_once_it_has_lingered_and_so_is_the_next(queue):
    url, sqs = queue
    deletes = BatchedDeletes(lambda queue_url: sqs, linger_s=0.2)
    for round_ in ("first", "second"):  # the second finds the thread idle, waiting for work
        [handle] = _received(sqs, url, 1)
        deletes.add(url, handle)
        eventually(lambda: _in_flight(sqs, url) == 0, f"the {round_} lone message deleted")
    deletes.close()


def test_a_delete_sqs_refuses_is_logged_and_the_rest_of_its_batch_still_deleted(queue, caplog):
    url, sqs = queue
    deletes = BatchedDeletes(lambda queue_url: sqs, linger_s=60)
    handles = _received(sqs, url, 2)
    deletes.add(url, "not-a-receipt-handle")
    for handle in handles:
        deletes.add(url, handle)
    with caplog.at_level(logging.WARNING, logger="audio_tasks.worker.batched_deletes"):
        deletes.close()
    assert _in_flight(sqs, url) == 0
    assert any("could not delete an acked message" in record.getMessage() for record in caplog.records)


def test_an_ack_after_close_is_deleted_at_once(queue):
    url, sqs = queue
    deletes = BatchedDeletes(lambda queue_url: sqs)
    deletes.close()
    [handle] = _received(sqs, url, 1)
    deletes.add(url, handle)
    assert _in_flight(sqs, url) == 0
