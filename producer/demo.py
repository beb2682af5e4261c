"""``make demo``: the whole job on the embedded local stack, start to finish.

Starts the emulator, a real worker and Flower (printing its URL), submits generated examples (a tone, noise, a
sweep, silence, plus two deliberately bad files) and any files the user names, waits,
prints a table, copies the artifacts to the output folder and stops everything. Exits 0
only if every good sample COMPLETED and every bad one FAILED with a reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from audio_tasks.vocabulary import Status

EXPECTED_FAILURES = {"not-audio.wav", "empty.wav"}
# The demo worker's SQS long poll. A stopping worker first lets its last poll end (see
# audio_tasks/worker/shutdown.py), so production's 20 s held the demo's end up to 20 s
# after its last sample was done; a short-lived demo has no idle polling to save.
DEMO_POLL_S = 1


def run(user_files: list[Path], out_dir: Path) -> int:
    from audio_tasks.local_stack import LocalStack, StackOptions

    missing = [str(f) for f in user_files if not f.is_file()]
    if missing:
        print(f"audio-tasks demo: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="audio-tasks-demo-") as tmp:
        examples = make_examples(Path(tmp))
        inputs = [*examples, *user_files]
        print(f"starting the local stack (logs in {out_dir / 'logs'})...", file=sys.stderr, flush=True)
        with LocalStack(out_dir / "logs", StackOptions(monitoring=True, wait_time_seconds=DEMO_POLL_S)) as stack:
            stack.start_worker()
            print(f"Flower (live monitoring, while the demo runs): {stack.start_flower()[0]} "
                  f"(login {stack.flower_login})", file=sys.stderr, flush=True)
            os.environ.update(stack.env)  # the producer below talks to the same stack
            rows = _submit_and_wait([str(p) for p in inputs], stack.settings, out_dir)
    _print_table(rows)
    (out_dir / "summary.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    unexpected = [r for r in rows if r["status"] != r["expected"]]
    for row in unexpected:
        print(f"UNEXPECTED: {row['file']} is {row['status']}, expected {row['expected']}", file=sys.stderr)
    print(f"artifacts in {out_dir}/", file=sys.stderr)
    return 1 if unexpected else 0


def _submit_and_wait(inputs: list[str], settings, out_dir: Path) -> list[dict]:
    from audio_tasks import aws
    from audio_tasks.aws.records import SampleRecords
    from audio_tasks.aws.storage import parse_s3_uri
    from producer.submission import submit_sources, wait_for_final

    records = SampleRecords(settings)
    submitted, errors = submit_sources(inputs, [], settings, records)
    if errors:
        raise RuntimeError(f"could not submit: {errors}")
    print(f"submitted {len(submitted)} samples; waiting...", file=sys.stderr, flush=True)
    finals, _ = wait_for_final(records, [s["sample_id"] for s in submitted], timeout_s=600,
                               on_final=lambda r: print(f"  {r['sample_id'][:8]} {r['status']}",
                                                        file=sys.stderr, flush=True))
    s3 = aws.client("s3", settings)
    rows = []
    for sample in submitted:
        name = Path(sample["input"]).name
        record = finals.get(sample["sample_id"]) or records.get(sample["sample_id"])
        results = record.get("results") or {}
        for artifact, uri in (results.get("artifacts") or {}).items():
            bucket, key = parse_s3_uri(uri)
            target = out_dir / name / artifact
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
        rows.append({
            "file": name, "sample_id": record["sample_id"], "status": record["status"],
            "expected": Status.FAILED if name in EXPECTED_FAILURES else Status.COMPLETED,
            "duration_s": results.get("duration_s"), "channels": results.get("channels"),
            "sample_rate": results.get("sample_rate"), "codec": results.get("codec"),
            "error": (record.get("error") or {}).get("message"),
        })
    return rows


def _print_table(rows: list[dict]) -> None:
    header = f"{'sample':<24} {'status':<10} {'duration':>9} {'ch':>3} {'rate':>6} {'codec':<10} error"
    print(header)
    print("-" * len(header))
    for r in rows:
        duration = f"{r['duration_s']:.2f}s" if r["duration_s"] is not None else "-"
        print(f"{r['file'][:24]:<24} {r['status']:<10} {duration:>9} {r['channels'] or '-':>3} "
              f"{r['sample_rate'] or '-':>6} {(r['codec'] or '-')[:10]:<10} {r['error'] or ''}")


def make_examples(folder: Path) -> list[Path]:
    """Generate the demo's example inputs in ``folder``; returns their paths."""
    from audio_tasks.audio.ffmpeg import ffmpeg_exe

    rate = 44100
    t = np.arange(3 * rate) / rate
    rng = np.random.default_rng(7)
    tone = 10 ** (-12 / 20) * np.sin(2 * np.pi * 440 * t)
    sweep = 0.5 * np.sin(2 * np.pi * (50 * t + (8000 - 50) / (2 * 3) * t**2))
    write_wav(folder / "tone-440hz.wav", np.column_stack([tone, tone]), rate)
    write_wav(folder / "silence.wav", np.zeros((2 * rate, 1)), rate)
    write_wav(folder / "noise.wav", 0.1 * rng.standard_normal((3 * rate, 1)), rate)
    write_wav(folder / "sweep.wav", np.column_stack([sweep, sweep]), rate)
    for source, target, codec in (("noise.wav", "noise.flac", ["-c:a", "flac"]),
                                  ("sweep.wav", "sweep.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"])):
        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(folder / source), *codec,
                        str(folder / target)], check=True)
        (folder / source).unlink()
    (folder / "not-audio.wav").write_text("this is a text file, not audio\n")
    (folder / "empty.wav").write_bytes(b"")
    return sorted(folder.iterdir())


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Write float samples in [-1, 1], shape (frames, channels), as 16-bit PCM WAV."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
