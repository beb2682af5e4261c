"""Pipeline speed against ffmpeg doing the same work, and peak memory against duration."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from audio_tasks.audio.ffmpeg import ffmpeg_exe
from audio_tasks.audio.options import AudioOptions
from audio_tasks.audio.pipeline import house_gain_db, process_file
from benchmarks.report import Row


def make_mp3(path: Path, minutes: float) -> Path:
    """A stereo 44.1 kHz 128 kbit/s MP3: a tone over pink noise, with a slow level swell."""
    if not path.exists():
        seconds = f"{minutes * 60:.3f}"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=330:d={seconds}:r=44100",
                        "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:a=0.2:r=44100",
                        "-filter_complex", "[0][1]amix=inputs=2,volume='0.8+0.4*sin(t/7)':eval=frame,"
                                           "aformat=channel_layouts=stereo",
                        "-c:a", "libmp3lame", "-b:a", "128k", str(path)], check=True, timeout=900)
    return path


def _timed(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], check=True, timeout=900)


def pipeline_speed(work_dir: Path, minutes: float) -> list[Row]:
    source = make_mp3(work_dir / f"speed-{minutes:g}min.mp3", minutes)
    options = AudioOptions()
    ebur128_s = _timed(lambda: _ffmpeg("-i", str(source), "-af", "ebur128=peak=true", "-f", "null", "-"))
    analysis_s = _timed(lambda: process_file(source))
    out = work_dir / "speed-out"
    full_s = _timed(lambda: process_file(source, out, options=options))
    without_descriptors_s = _timed(lambda: process_file(source, work_dir / "speed-out-plain",
                                                        options=replace(options, descriptors=False)))
    descriptor_share = full_s / without_descriptors_s - 1
    gain = house_gain_db(json.loads((out / "analysis.json").read_text()), options)
    chain_s = ebur128_s + _timed(lambda: _ffmpeg(
        "-i", str(source), "-af", f"volume={gain}dB,aresample=44100:resampler=soxr", "-c:a", "pcm_s16le",
        str(work_dir / "chain-house.wav"))) + _timed(lambda: _ffmpeg(
            "-i", str(source), "-c:a", "libmp3lame", "-b:a", "128k", str(work_dir / "chain-preview.mp3")))
    label = f"{minutes:g}-min stereo MP3"
    return [
        Row("analysis time ÷ ffmpeg ebur128=peak=true", analysis_s / ebur128_s, "×", "≤ 1.0", analysis_s / ebur128_s <= 1.0,
            f"{label}: ours {analysis_s:.2f} s (decode + loudness, LRA, true peak, levels, silence, waveform, "
            f"spectrum), ffmpeg {ebur128_s:.2f} s"),
        Row("full job time ÷ ffmpeg command chain", full_s / chain_s, "×", "≤ 0.8", full_s / chain_s <= 0.8,
            f"{label}: ours {full_s:.2f} s (analysis + house WAV + MP3 preview + artifacts), chain {chain_s:.2f} s "
            "(ebur128 pass, gain+resample to WAV, MP3 encode, one after another)"),
        Row("descriptors' added time ÷ job without them", descriptor_share, "×", "≤ 0.30", descriptor_share <= 0.30,
            f"{label}: full job {full_s:.2f} s, without tempo/key/pitch/onsets/loop/problems "
            f"{without_descriptors_s:.2f} s"),
    ]


def memory_vs_duration(work_dir: Path, durations: tuple[float, ...]) -> list[Row]:
    peaks = {}
    for minutes in durations:
        source = make_mp3(work_dir / f"memory-{minutes:g}min.mp3", minutes)
        run = subprocess.run([sys.executable, "-m", "benchmarks.peak_rss", str(source), str(work_dir / "memory-out")],
                             capture_output=True, text=True, check=True, timeout=1800)
        peaks[minutes] = json.loads(run.stdout.strip().splitlines()[-1])
    rows = [Row(f"peak RSS, full job, {m:g}-min input", p["self_mib"], "MiB",
                "≤ 250 MiB" if m == max(durations) else "report",
                p["self_mib"] <= 250 if m == max(durations) else None,
                f"largest ffmpeg child {p['children_mib']:.0f} MiB") for m, p in peaks.items()]
    growth = peaks[max(durations)]["self_mib"] / peaks[min(durations)]["self_mib"]
    rows.append(Row(f"peak RSS growth {max(durations):g} ÷ {min(durations):g} min", growth, "×", "≤ 1.25 (flat)",
                    growth <= 1.25))
    return rows
