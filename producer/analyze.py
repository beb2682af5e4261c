"""``audio-tasks analyze FILE...``: the processing pipeline on local files, no queue, no AWS.

Prints one line (or, with ``--json``, one JSON object) per file; a file that cannot be
processed prints ``{"file", "error": {"code", "message"}}`` and the command exits 1
after processing the rest. With ``--out DIR`` each file's artifacts go to DIR/<name>/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audio_tasks.audio.options import Limits, Options
from audio_tasks.errors import JobError, NotAFile

REPORTED = ("file", "duration_s", "sample_rate", "channels", "codec", "integrated_lufs", "loudness_range_lu",
            "true_peak_dbtp", "sample_peak_dbfs", "rms_dbfs", "clipped_samples", "silence_ratio")


def add_parser(commands) -> None:
    parser = commands.add_parser("analyze", help="measure local files (and make artifacts with --out)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    parser.add_argument("--out", type=Path, help="write each file's artifacts to OUT/<file name>/")
    defaults = Options()
    parser.add_argument("--target-lufs", type=float, default=defaults.target_lufs)
    parser.add_argument("--true-peak-ceiling", type=float, default=defaults.true_peak_ceiling_dbtp)
    parser.add_argument("--house-rate", type=int, default=defaults.house_sample_rate)
    parser.add_argument("--trim-silence", action="store_true")
    parser.add_argument("--preview-bitrate", type=int, default=defaults.preview_bitrate_kbps, metavar="KBPS")
    parser.add_argument("--samples-per-pixel", type=int, default=defaults.waveform_samples_per_pixel)
    parser.add_argument("--waveform-bits", type=int, choices=(8, 16), default=defaults.waveform_bits)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from audio_tasks.audio.pipeline import process_file  # numpy/scipy: only for this command

    options = Options(house_sample_rate=args.house_rate, target_lufs=args.target_lufs,
                      true_peak_ceiling_dbtp=args.true_peak_ceiling, trim_silence=args.trim_silence,
                      preview_bitrate_kbps=args.preview_bitrate,
                      waveform_samples_per_pixel=args.samples_per_pixel, waveform_bits=args.waveform_bits)
    failures = 0
    for number, path in enumerate(args.files, 1):
        print(f"[{number}/{len(args.files)}] analysing {path}", file=sys.stderr, flush=True)
        out_dir = _artifact_dir(args.out, path, number) if args.out else None
        try:
            if not path.is_file():
                raise NotAFile(f"no such file: {path}")
            summary = {"file": str(path), **process_file(path, out_dir, Limits(), options).summary()}
        except JobError as error:
            failures += 1
            _print(args.json, {"file": str(path), "error": error.as_dict()},
                   f"{path}: ERROR {error.code}: {error.message}")
            continue
        _print(args.json, summary, _human(summary))
    return 1 if failures else 0


def _artifact_dir(root: Path, path: Path, number: int) -> Path:
    target = root / path.name
    return target if not target.exists() else root / f"{path.name}.{number}"


def _print(as_json: bool, obj: dict, text: str) -> None:
    print(json.dumps(obj, sort_keys=True) if as_json else text, flush=True)


def _human(s: dict) -> str:
    def fmt(value, unit):
        return "-" if value is None else f"{value}{unit}"

    return (f"{s['file']}: {s['codec']} {s['sample_rate']} Hz {s['channels']} ch {s['duration_s']:.2f} s | "
            f"{fmt(s['integrated_lufs'], ' LUFS')} LRA {fmt(s['loudness_range_lu'], ' LU')} "
            f"TP {fmt(s['true_peak_dbtp'], ' dBTP')} peak {fmt(s['sample_peak_dbfs'], ' dBFS')} "
            f"RMS {fmt(s['rms_dbfs'], ' dBFS')} clipped {s['clipped_samples']} silence {s['silence_ratio']:.0%}")
