"""``audio-tasks dlq list|show|redrive|purge``: inspect and recover dead-lettered jobs.

SQS cannot peek: reading the dead-letter queue receives its messages, hidden for
``_HOLD_S`` while they are read, then releases them (visibility 0) unless they were
redriven — also when reading one of them fails. Each read adds one to a message's receive
count. A message is named by its SQS message id, its sample id or its task id; any body
is described without raising (``audio_tasks.aws.sqs_messages``). ``redrive`` puts the
sample's record back to QUEUED (a job whose record was never made makes it when it runs),
sends the message body unchanged to the work queue, then deletes it from the DLQ; a
message that is not a valid job is left there.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

from audio_tasks import aws
from audio_tasks.aws.queues import dead_letter_queue_url, work_queue_url
from audio_tasks.aws.records import RecordNotFound, SampleRecords
from audio_tasks.aws.sqs_messages import describe
from audio_tasks.settings import Settings
from audio_tasks.vocabulary import ErrorCode

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_HOLD_S = 60


def add_parser(commands) -> None:
    parser = commands.add_parser("dlq", help="inspect, redrive or purge the dead-letter queue")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one line per dead-lettered message")
    listing.add_argument("--json", action="store_true", help="one JSON object per message")
    listing.set_defaults(command=_list)
    show = actions.add_parser("show", help="everything about one message")
    show.add_argument("id", help="SQS message id, sample id or task id")
    show.set_defaults(command=_show)
    redrive = actions.add_parser("redrive", help="send messages back to the work queue")
    redrive.add_argument("ids", nargs="*", metavar="ID", help="SQS message ids, sample ids or task ids")
    redrive.add_argument("--all", action="store_true", help="every valid job in the DLQ")
    redrive.set_defaults(command=_redrive)
    purge = actions.add_parser("purge", help="delete every message in the DLQ")
    purge.add_argument("--yes", action="store_true", help="required: purging cannot be undone")
    purge.set_defaults(command=_purge)


class DeadLetters:
    """The DLQ's messages, received and held while a command works on them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.sqs = aws.client("sqs", settings)
        self.url = dead_letter_queue_url(settings, self.sqs)
        self.records = SampleRecords(settings)
        self.held: list[dict] = []  # raw SQS messages received and not yet released or redriven
        self.messages: list[tuple[dict, dict]] = []  # (raw SQS message, its description)

    def __enter__(self) -> "DeadLetters":
        try:
            self._receive_all()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _receive_all(self) -> None:
        seen = set()
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                             VisibilityTimeout=_HOLD_S, AttributeNames=["All"],
                                             MessageAttributeNames=["All"]).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            seen.update(m["MessageId"] for m in fresh)
            self.held.extend(fresh)
        self.messages = [(message, self._info(message)) for message in self.held]

    def __exit__(self, *exc) -> None:
        for message in self.held:  # make them visible again
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=0)

    def _info(self, message: dict) -> dict:
        info = describe(message)
        sent = info["sent_at"]
        info["age_s"] = (round((datetime.now(timezone.utc) - datetime.fromisoformat(sent)).total_seconds())
                         if sent else None)
        info["error"] = ({"code": info["code"] or ErrorCode.UNKNOWN_MESSAGE, "message": info["problem"]}
                         if info["problem"] else None)
        if info["sample_id"]:
            try:
                record = self.records.get(info["sample_id"])
                info["status"], info["error"] = record["status"], record.get("error")
            except RecordNotFound:
                info["status"] = None
        return info

    def find(self, ident: str) -> list[tuple[dict, dict]]:
        return [(m, i) for m, i in self.messages if ident in (i["message_id"], i["sample_id"], i["task_id"])]

    def redrive(self, message: dict, info: dict) -> None:
        """Record back to QUEUED, body to the work queue, message out of the DLQ."""
        if info["sample_id"]:
            try:
                self.records.requeue(info["sample_id"])
            except RecordNotFound:  # never started: the job creates its record when it runs
                pass
        kwargs = {"MessageAttributes": message["MessageAttributes"]} if message.get("MessageAttributes") else {}
        self.sqs.send_message(QueueUrl=work_queue_url(self.settings, self.sqs), MessageBody=message["Body"],
                              **kwargs)
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        self.messages.remove((message, info))
        self.held.remove(message)


def _list(args) -> int:
    with DeadLetters(Settings.from_env()) as dlq:
        if not args.json:
            print(f"{'message id':<36}  {'sample id':<36}  {'recv':>4}  {'age':>7}  error")
        for _, info in dlq.messages:
            if args.json:
                print(json.dumps(info, sort_keys=True))
                continue
            error = info["error"] or {}
            print(f"{info['message_id']:<36}  {info['sample_id'] or '-':<36}  {info['receive_count']:>4}  "
                  f"{_age(info['age_s']):>7}  {error.get('code', '-')}: {error.get('message', '')}")
    return EXIT_OK


def _show(args) -> int:
    with DeadLetters(Settings.from_env()) as dlq:
        found = dlq.find(args.id)
        for message, info in found:
            print(json.dumps({**info, "body": message["Body"]}, indent=2, sort_keys=True))
    if not found:
        print(f"audio-tasks: no message {args.id!r} in the dead-letter queue", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _redrive(args) -> int:
    if bool(args.ids) == args.all:
        print("audio-tasks: dlq redrive takes message ids or --all (not both)", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    with DeadLetters(Settings.from_env()) as dlq:
        selected = list(dlq.messages) if args.all else [pair for ident in args.ids for pair in dlq.find(ident)]
        missing = [ident for ident in args.ids if not dlq.find(ident)]
        for ident in missing:
            print(f"audio-tasks: no message {ident!r} in the dead-letter queue", file=sys.stderr)
            status = EXIT_FAILED
        for message, info in selected:
            if info["problem"]:
                print(f"{info['message_id']}: left in the DLQ: {info['problem']}", file=sys.stderr)
                status = EXIT_FAILED
                continue
            dlq.redrive(message, info)
            print(f"{info['message_id']}  {info['sample_id']}  redriven")
    return status


def _purge(args) -> int:
    if not args.yes:
        print("audio-tasks: dlq purge deletes every dead-lettered message; add --yes to do it", file=sys.stderr)
        return EXIT_USAGE
    settings = Settings.from_env()
    sqs = aws.client("sqs", settings)
    sqs.purge_queue(QueueUrl=dead_letter_queue_url(settings, sqs))
    print("purged", file=sys.stderr)
    return EXIT_OK


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
