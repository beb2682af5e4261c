"""``audio-tasks``: submit samples, follow them, run the local stack, analyse files.

Exit codes: 0 success; 1 some sample failed or could not be submitted; 2 bad usage or
configuration; 3 ``--wait`` timed out before every sample was final.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from audio_tasks.audio.options import LOUDNESS_PRESETS
from audio_tasks.settings import ConfigError, Settings
from audio_tasks.vocabulary import Status
from producer import analyze, dlq, reconcile
from producer.output import emit

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command is not _flower:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.flower_args = unknown
    try:
        return args.command(args)
    except ConfigError as exc:
        print(f"audio-tasks: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as exc:
        print(f"audio-tasks: AWS request failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audio-tasks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="upload (if local) and enqueue samples; re-running resumes",
                                 description="Submit local files, S3 objects (s3://bucket/key) and every object "
                                             "under S3 prefixes (s3://bucket/prefix/). Re-running the same "
                                             "submission skips the samples it already submitted.")
    submit.add_argument("inputs", nargs="+", metavar="PATH_OR_S3_URI")
    submit.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="with s3://bucket/prefix/: only the keys below the prefix that match GLOB "
                             "(e.g. '*.wav'; * also matches /); may be repeated")
    submit.add_argument("--resubmit", action="store_true",
                        help="submit every input as a new sample, even one submitted before")
    submit.add_argument("--wait", action="store_true", help="follow the samples until each is final")
    submit.add_argument("--timeout", type=float, default=900, help="seconds --wait may take (default 900)")
    submit.add_argument("--json", action="store_true", help="one JSON object per sample on stdout")
    submit.add_argument("--preset", choices=tuple(LOUDNESS_PRESETS),
                        help="loudness of house.wav for these jobs (default: the workers' LOUDNESS_PRESET)")
    submit.set_defaults(command=_submit)

    status = commands.add_parser("status", help="show a sample record")
    status.add_argument("sample_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(command=_status)

    flower = commands.add_parser("flower", help="run Flower (live monitoring) for this app",
                                 description="Flower with the janitor, auth checks and a queue-depths page; "
                                             "further arguments are Flower's options (e.g. --port=5555)")
    flower.set_defaults(command=_flower)

    janitor = commands.add_parser("janitor", help="delete stale monitoring queues and SNS subscriptions")
    janitor.set_defaults(command=_janitor)

    local = commands.add_parser("local", help="run the emulated AWS stack, a worker and Flower until Ctrl-C")
    local.add_argument("--log-dir", type=Path, default=Path(".local-stack"))
    local.add_argument("--concurrency", type=int, default=2)
    local.set_defaults(command=_local)

    analyze.add_parser(commands)
    dlq.add_parser(commands)
    reconcile.add_parser(commands)

    demo = commands.add_parser("demo", help="run example samples (and FILES) through the local stack")
    demo.add_argument("files", nargs="*", type=Path)
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.set_defaults(command=_demo)
    return parser


def _demo(args) -> int:
    from producer.demo import run

    return run(args.files, args.out)


# -- submit / status -----------------------------------------------------------------
def _submit(args) -> int:
    from audio_tasks.aws.records import SampleRecords
    from producer.submission import submit_sources, wait_for_final

    settings = Settings.from_env()
    records = SampleRecords(settings)
    options = {"preset": args.preset} if args.preset else None
    submitted, errors = submit_sources(args.inputs, args.include, settings, records, fresh=args.resubmit,
                                       options=options)
    for error in errors:
        emit(args.json, error, f"{error['input']}: not submitted: {error['error']['message']}", stream=sys.stderr)
    if not args.wait:
        for sample in submitted:
            note = "  (already submitted)" if sample["action"] == "skipped" else ""
            emit(args.json, sample, f"{sample['sample_id']}  {sample['status']:<10} {sample['input']}{note}")
        return EXIT_FAILED if errors else EXIT_OK
    finals, timed_out = wait_for_final(records, [s["sample_id"] for s in submitted], args.timeout,
                                       on_final=_progress_printer(len(submitted)))
    for sample in submitted:
        record = finals.get(sample["sample_id"]) or records.get(sample["sample_id"])
        emit(args.json, {"input": sample["input"], "action": sample["action"], **record},
             _record_line(sample["input"], record))
    if timed_out:
        print(f"audio-tasks: timed out after {args.timeout:.0f} s", file=sys.stderr)
        return EXIT_TIMEOUT
    ok = not errors and all(r["status"] == Status.COMPLETED for r in finals.values())
    return EXIT_OK if ok else EXIT_FAILED


def _status(args) -> int:
    from audio_tasks.aws.records import RecordNotFound, SampleRecords

    try:
        record = SampleRecords(Settings.from_env()).get(args.sample_id)
    except RecordNotFound:
        print(f"audio-tasks: no sample {args.sample_id!r}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(record, sort_keys=True))
    else:
        for key in sorted(record):
            value = record[key]
            print(f"{key:>12}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return EXIT_OK


def _record_line(source: str, record: dict) -> str:
    results = record.get("results") or {}
    detail = (f"{results.get('duration_s', 0):.2f}s {results.get('channels')}ch {results.get('sample_rate')}Hz"
              if record["status"] == Status.COMPLETED else (record.get("error") or {}).get("message", ""))
    return f"{record['sample_id']}  {record['status']:<10} {source}  {detail}"


def _progress_printer(total: int):
    done = 0

    def on_final(record: dict) -> None:
        nonlocal done
        done += 1
        print(f"[{done}/{total}] {record['sample_id']} {record['status']}", file=sys.stderr, flush=True)

    return on_final


# -- monitoring ----------------------------------------------------------------------
def _monitoring(module: str):
    return __import__(f"audio_tasks.monitoring.{module}", fromlist=["main"])


def _flower(args) -> int:
    return _monitoring("flower").main(args.flower_args)


def _janitor(args) -> int:
    swept = _monitoring("janitor").sweep(Settings.from_env())
    print(f"deleted {len(swept.queues_deleted)} stale queues and {len(swept.subscriptions_deleted)} "
          f"subscriptions; {len(swept.queues_kept)} live queues kept")
    return EXIT_OK


# -- local ---------------------------------------------------------------------------
def _local(args) -> int:
    from audio_tasks.local_stack import LocalStack, StackOptions

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print("starting the local stack (emulator, resources, worker, Flower)...", file=sys.stderr)
    with LocalStack(args.log_dir, StackOptions(monitoring=True)) as stack:
        stack.start_worker(concurrency=args.concurrency)
        print(f"Flower (live monitoring): {stack.start_flower()[0]} (login {stack.flower_login})", file=sys.stderr)
        print("ready. In another shell (these start a second worker, `celery -A audio_tasks worker`, too):\n",
              file=sys.stderr)
        for key, value in stack.service_env.items():
            print(f"export {key}={shlex.quote(value)}")
        print(flush=True)  # a blank line ends them
        print(f"\nlogs in {args.log_dir}/; Ctrl-C stops everything.", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if any(proc.poll() is not None for proc in stack.processes()):
                print("audio-tasks: a local stack process exited; stopping", file=sys.stderr)
                return EXIT_FAILED
    print("stopped.", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
