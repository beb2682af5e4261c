"""Pipeline speed against ffmpeg doing the same work, and peak memory against duration.

The reference for the full job is the tight two-pass ffmpeg chain an engineer would write
instead: pass 1 measures (``ebur128=peak=true``), pass 2 decodes once and writes both the
gain-adjusted, resampled house WAV and the MP3 and Opus previews (``house_and_preview_pass``).
Both sides run once untimed first; wall and CPU time (user + system, children included) are
compared. The issue's 128 kbit/s MP3 is copied into our MP3 preview, so a second pair of
rows measures a 192 kbit/s MP3, whose preview both sides encode.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from audio_tasks.audio.ffmpeg import ffmpeg_exe
from audio_tasks.audio.options import AudioOptions
from audio_tasks.audio.pipeline import house_gain_db, process_file
from benchmarks.report import Row


def make_mp3(path: Path, minutes: float, kbps: int = 128) -> Path:
    """A stereo 44.1 kHz MP3 at ``kbps``: a tone over pink noise, with a slow level swell."""
    if not path.exists():
        seconds = f"{minutes * 60:.3f}"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=330:d={seconds}:r=44100",
                        "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:a=0.2:r=44100",
                        "-filter_complex", "[0][1]amix=inputs=2,volume='0.8+0.4*sin(t/7)':eval=frame,"
                                           "aformat=channel_layouts=stereo",
                        "-c:a", "libmp3lame", "-b:a", f"{kbps}k", str(path)], check=True, timeout=900)
    return path


def _timed(call) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``call()``: this process's threads and the child processes it waited for."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    began, began_cpu = time.perf_counter(), cpu()
    call()
    return time.perf_counter() - began, cpu() - began_cpu


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], check=True, timeout=900)


def ebur128_pass(source: Path) -> None:
    """Pass 1 of the tight chain: measure loudness and true peak."""
    _ffmpeg("-i", str(source), "-af", "ebur128=peak=true", "-f", "null", "-")


def house_and_preview_pass(source: Path, gain_db: float, out_dir: Path) -> None:
    """Pass 2 of the tight chain: one decode, three outputs — the gain-adjusted 44.1 kHz 16-bit house
    WAV, the 128 kbit/s MP3 preview and the 96 kbit/s Opus preview."""
    _ffmpeg("-i", str(source),
            "-map", "0:a", "-af", f"volume={gain_db}dB,aresample=44100:resampler=soxr", "-c:a", "pcm_s16le",
            str(out_dir / "chain-house.wav"),
            "-map", "0:a", "-c:a", "libmp3lame", "-b:a", "128k", str(out_dir / "chain-preview.mp3"),
            "-map", "0:a", "-c:a", "libopus", "-b:a", "96k", str(out_dir / "chain-preview.opus"))


def tight_chain(source: Path, gain_db: float, out_dir: Path) -> None:
    """Both passes of the tight chain."""
    ebur128_pass(source)
    house_and_preview_pass(source, gain_db, out_dir)


def pipeline_speed(work_dir: Path, minutes: float, pairs: int = 3) -> list[Row]:
    source = make_mp3(work_dir / f"speed-{minutes:g}min.mp3", minutes)
    options = AudioOptions()
    plain = replace(options, descriptors=False)
    warm = make_mp3(work_dir / "speed-warmup.mp3", 0.1)  # a first run pays for imports
    process_file(warm, work_dir / "speed-warm-out", options=options)
    house_and_preview_pass(warm, 0.0, work_dir)
    ebur128_wall, ebur128_cpu = _timed(lambda: ebur128_pass(source))
    analysis_s, _ = _timed(lambda: process_file(source, options=plain))  # what ebur128 measures, and more
    out = work_dir / "speed-out"
    runs = _paired(lambda: process_file(source, out, options=options),
                   lambda: process_file(source, work_dir / "speed-out-plain", options=plain), pairs)
    (with_s, without_s), (with_cpu, without_cpu) = runs["wall"], runs["cpu"]
    full_wall, full_cpu = statistics.median(with_s), statistics.median(with_cpu)
    descriptor_share = statistics.median(a / b for a, b in zip(with_s, without_s)) - 1
    descriptor_cpu = statistics.median(a / b for a, b in zip(with_cpu, without_cpu)) - 1
    gain = house_gain_db(json.loads((out / "analysis.json").read_text()), options)
    pass2_wall, pass2_cpu = _timed(lambda: house_and_preview_pass(source, gain, work_dir))
    chain_wall, chain_cpu = ebur128_wall + pass2_wall, ebur128_cpu + pass2_cpu
    label = f"{minutes:g}-min stereo MP3"
    chain = ("ffmpeg -i IN -af ebur128=peak=true -f null -; then ffmpeg -i IN -map 0:a -af "
             "'volume=GAINdB,aresample=44100:resampler=soxr' -c:a pcm_s16le house.wav -map 0:a -c:a libmp3lame "
             "-b:a 128k preview.mp3 -map 0:a -c:a libopus -b:a 96k preview.opus")
    return [
        Row("analysis time ÷ ffmpeg ebur128=peak=true", analysis_s / ebur128_wall, "×", "≤ 1.0",
            analysis_s / ebur128_wall <= 1.0,
            f"{label}: ours {analysis_s:.2f} s (decode + loudness, LRA, true peak, levels, silence, waveform, "
            f"spectrum; the descriptors have rows of their own), ffmpeg {ebur128_wall:.2f} s"),
        Row("full job time ÷ tight ffmpeg chain", full_wall / chain_wall, "×", "≤ 0.8", full_wall / chain_wall <= 0.8,
            f"{label} at 128 kbit/s: ours {full_wall:.2f} s (median of {pairs}: analysis + descriptors + house WAV "
            f"+ Opus preview + artifacts; the MP3 preview is the source's own stream, copied), the chain "
            f"{chain_wall:.2f} s: {chain}"),
        Row("full job CPU ÷ tight ffmpeg chain", full_cpu / chain_cpu, "×", "≤ 0.8", full_cpu / chain_cpu <= 0.8,
            f"{label}: ours {full_cpu:.2f} CPU-s, the chain {chain_cpu:.2f} CPU-s (user + system, ffmpeg included)"),
        Row("descriptors' added time ÷ job without them", descriptor_share, "×", "≤ 0.30", descriptor_share <= 0.30,
            f"{label}: median of {pairs} paired runs (ABBA order) of the full job with and without "
            f"tempo/key/pitch/onsets/loop/problems: {_seconds(with_s)} vs {_seconds(without_s)}"),
        Row("descriptors' added CPU ÷ job CPU without them", descriptor_cpu, "×",
            detail=f"{label}: the same runs' CPU time (all threads and the ffmpeg processes): {_seconds(with_cpu)} "
                   f"vs {_seconds(without_cpu)}; it depends less on the machine's load than the wall time"),
    ]


def reencoded_preview_speed(work_dir: Path, minutes: float, pairs: int = 2) -> list[Row]:
    """The full job against the tight chain on a 192 kbit/s MP3, whose MP3 preview is encoded by
    LAME as the chain's is (a source at or below the preview's 128 kbit/s is copied instead)."""
    source = make_mp3(work_dir / f"speed-{minutes:g}min-192k.mp3", minutes, kbps=192)
    out = work_dir / "speed-out-192k"
    process_file(source, out)  # untimed: the gain for the chain's second pass
    gain = house_gain_db(json.loads((out / "analysis.json").read_text()), AudioOptions())
    tight_chain(source, gain, work_dir)
    runs = _paired(lambda: process_file(source, out), lambda: tight_chain(source, gain, work_dir), pairs)
    (ours_s, chain_s), (ours_cpu, chain_cpu) = runs["wall"], runs["cpu"]
    wall = statistics.median(a / b for a, b in zip(ours_s, chain_s))
    cpu = statistics.median(a / b for a, b in zip(ours_cpu, chain_cpu))
    label = f"{minutes:g}-min stereo MP3 at 192 kbit/s, both sides encoding the MP3 preview"
    return [
        Row("full job time ÷ tight chain, MP3 preview encoded", wall, "×", "≤ 0.8", wall <= 0.8,
            f"{label}: median of {pairs} paired runs (ABBA order), ours {_seconds(ours_s)}, "
            f"the chain {_seconds(chain_s)}"),
        Row("full job CPU ÷ tight chain, MP3 preview encoded", cpu, "×", "≤ 0.8", cpu <= 0.8,
            f"{label}: ours {_seconds(ours_cpu)} CPU, the chain {_seconds(chain_cpu)} CPU"),
    ]


def _paired(a, b, pairs: int) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU times of ``a`` and ``b`` run alternately (a b, b a, ...), so a drifting
    machine load weighs on both alike: {"wall": (a's, b's), "cpu": (a's, b's)}."""
    times = {"wall": ([], []), "cpu": ([], [])}
    for pair in range(pairs):
        for index in (0, 1) if pair % 2 == 0 else (1, 0):
            wall, cpu = _timed((a, b)[index])
            times["wall"][index].append(wall)
            times["cpu"][index].append(cpu)
    return times


def _seconds(times: list[float]) -> str:
    return "/".join(f"{t:.2f}" for t in times) + " s"


def memory_vs_duration(work_dir: Path, durations: tuple[float, ...]) -> list[Row]:
    sources = {minutes: make_mp3(work_dir / f"memory-{minutes:g}min.mp3", minutes) for minutes in durations}
    peaks = {minutes: _peak_rss(source, work_dir) for minutes, source in sources.items()}
    rows = [Row(f"peak RSS, full job, {m:g}-min input", p["self_mib"], "MiB",
                "≤ 250 MiB" if m == max(durations) else "report",
                p["self_mib"] <= 250 if m == max(durations) else None) for m, p in peaks.items()]
    growth = peaks[max(durations)]["self_mib"] / peaks[min(durations)]["self_mib"]
    rows.append(Row(f"peak RSS growth {max(durations):g} ÷ {min(durations):g} min", growth, "×", "≤ 1.25 (flat)",
                    growth <= 1.25))
    shortest = min(durations)
    with_mib = peaks[shortest]["self_mib"]
    without_mib = _peak_rss(sources[shortest], work_dir, "--no-descriptors")["self_mib"]
    rows.append(Row(f"peak RSS with ÷ without descriptors, {shortest:g} min", with_mib / without_mib, "×",
                    detail=f"{with_mib:.0f} vs {without_mib:.0f} MiB"))
    return rows


def _peak_rss(source: Path, work_dir: Path, *flags: str) -> dict:
    """The full job on ``source`` in a fresh process: its peak RSS (``benchmarks.peak_rss``)."""
    run = subprocess.run([sys.executable, "-m", "benchmarks.peak_rss", str(source), str(work_dir / "memory-out"),
                          *flags], capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(run.stdout.strip().splitlines()[-1])
