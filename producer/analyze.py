"""``audio-tasks analyze FILE...``: the processing pipeline on local files, no queue, no AWS.

Prints one line (or, with ``--json``, one JSON object) per file; a file that cannot be
processed prints ``{"file", "error": {"code", "message"}}`` and the command exits 1
after processing the rest. With ``--out DIR`` each file's artifacts go to DIR/<name>/.
Options default to the house standard (``AudioOptions``), whatever the environment says;
``--preset``, ``--target-lufs`` and ``--true-peak-ceiling`` apply as a job's ``options`` would.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from audio_tasks.audio.errors import AudioError, InvalidOptions
from audio_tasks.audio.options import DEFAULT_PRESET, JOB_OPTIONS, LOUDNESS_PRESETS, AudioOptions, Limits
from audio_tasks.vocabulary import ErrorCode
from producer.output import emit


def add_parser(commands) -> None:
    parser = commands.add_parser("analyze", help="measure local files (and make artifacts with --out)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    parser.add_argument("--out", type=Path, help="write each file's artifacts to OUT/<file name>/")
    house = AudioOptions()  # each option's dest is the AudioOptions field (or job option) it sets
    parser.add_argument("--preset", dest="preset", choices=tuple(LOUDNESS_PRESETS),
                        help=f"loudness of house.wav (default {DEFAULT_PRESET}; the next two override it)")
    parser.add_argument("--target-lufs", dest="target_lufs", type=float)
    parser.add_argument("--true-peak-ceiling", dest="true_peak_ceiling_dbtp", type=float)
    parser.add_argument("--house-rate", dest="house_sample_rate", type=int, default=house.house_sample_rate)
    parser.add_argument("--trim-silence", dest="trim_silence", action="store_true")
    parser.add_argument("--preview-bitrate", dest="preview_bitrate_kbps", type=int,
                        default=house.preview_bitrate_kbps, metavar="KBPS")
    parser.add_argument("--samples-per-pixel", dest="waveform_samples_per_pixel", type=int,
                        default=house.waveform_samples_per_pixel)
    parser.add_argument("--waveform-bits", dest="waveform_bits", type=int, choices=(8, 16),
                        default=house.waveform_bits)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except InvalidOptions as exc:
        print(f"audio-tasks analyze: {exc.message}", file=sys.stderr)
        return 2
    from audio_tasks.audio.pipeline import (
        process_file,  # numpy/scipy: only for this command
    )

    failures = 0
    for number, path in enumerate(args.files, 1):
        print(f"[{number}/{len(args.files)}] analysing {path}", file=sys.stderr, flush=True)
        out_dir = _artifact_dir(args.out, path, number) if args.out else None
        try:
            if not path.is_file():
                error = {"code": ErrorCode.NOT_A_FILE, "message": f"no such file: {path}"}
            else:
                summary = {"file": str(path), **process_file(path, out_dir, Limits(), options).summary()}
                emit(args.json, summary, _human(summary))
                continue
        except AudioError as exc:
            error = {"code": exc.code, "message": exc.message}
        failures += 1
        emit(args.json, {"file": str(path), "error": error}, f"{path}: ERROR {error['code']}: {error['message']}")
    return 1 if failures else 0


def _options(args: argparse.Namespace) -> AudioOptions:
    """The options given on the command line: AudioOptions fields, then the job options."""
    given = {name: value for name, value in vars(args).items() if value is not None}
    house = AudioOptions(**{f.name: given[f.name] for f in fields(AudioOptions) if f.name in given})
    return house.for_job({name: given[name] for name in JOB_OPTIONS if name in given})


def _artifact_dir(root: Path, path: Path, number: int) -> Path:
    target = root / path.name
    return target if not target.exists() else root / f"{path.name}.{number}"


def _human(s: dict) -> str:
    def fmt(value, unit):
        return "-" if value is None else f"{value}{unit}"

    return (f"{s['file']}: {s['codec']} {s['sample_rate']} Hz {s['channels']} ch {s['duration_s']:.2f} s | "
            f"{fmt(s['integrated_lufs'], ' LUFS')} LRA {fmt(s['loudness_range_lu'], ' LU')} "
            f"TP {fmt(s['true_peak_dbtp'], ' dBTP')} peak {fmt(s['sample_peak_dbfs'], ' dBFS')} "
            f"RMS {fmt(s['rms_dbfs'], ' dBFS')} clipped {s['clipped_samples']} silence {s['silence_ratio']:.0%}")
