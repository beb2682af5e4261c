"""One pass over a file: probe, decode once, feed every analyser, write the artifacts.

``process_file`` is the whole pure job: a path in, a ``ProcessResult`` (metadata,
measurements, artifact files in ``out_dir``) out. The task shell and the local
``analyze`` command both call it; neither knows how the audio is measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audio_tasks.audio.ffmpeg import MediaInfo, PcmStream, probe
from audio_tasks.errors import InputTooLarge, InvalidAudio


@dataclass(frozen=True)
class Limits:
    """Inputs beyond these are refused as permanent errors before any decoding."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 4 * 3600
    decode_timeout_s: float = 600.0


@dataclass
class ProcessResult:
    metadata: dict
    measurements: dict
    artifacts: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict:
        """Metadata and measurements as one flat JSON-ready dict."""
        return {**self.metadata, **self.measurements}


def process_file(path: Path, out_dir: Path, limits: Limits = Limits()) -> ProcessResult:
    """Measure ``path`` and write its artifacts into ``out_dir``.

    Raises InvalidAudio / InputTooLarge (permanent) for input that cannot be processed.
    """
    size = path.stat().st_size
    if size == 0:
        raise InvalidAudio("the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InputTooLarge(f"the file is {size} bytes; the limit is {limits.max_bytes}")
    info = probe(path)
    if info.duration_s is not None and info.duration_s > limits.max_duration_s:
        raise InputTooLarge(
            f"the audio lasts {info.duration_s:.0f} s; the limit is {limits.max_duration_s:.0f} s")
    peak = np.float32(0.0)
    sum_squares = 0.0
    with PcmStream(path, timeout_s=limits.decode_timeout_s) as stream:
        for block in stream.blocks():
            peak = max(peak, np.abs(block).max())
            sum_squares += float(np.square(block, dtype=np.float64).sum())
        frames, rate, channels = stream.frames, stream.sample_rate, stream.channels
    metadata = _metadata(info, size, frames, rate, channels)
    rms = (sum_squares / (frames * channels)) ** 0.5
    measurements = {"sample_peak_dbfs": _db(float(peak)), "rms_dbfs": _db(rms)}
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ProcessResult(metadata, measurements)
    analysis_path = out_dir / "analysis.json"
    analysis_path.write_text(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n")
    result.artifacts["analysis.json"] = analysis_path
    return result


def _metadata(info: MediaInfo, size: int, frames: int, rate: int, channels: int) -> dict:
    return {
        "container": info.container,
        "codec": info.codec,
        "sample_rate": rate,
        "channels": channels,
        "channel_layout": info.channel_layout,
        "bit_depth": info.bit_depth,
        "duration_s": round(frames / rate, 6),
        "frames": frames,
        "size_bytes": size,
    }


def _db(amplitude: float) -> float | None:
    """Amplitude (1.0 = full scale) in dBFS; None for digital silence."""
    return round(float(20 * np.log10(amplitude)), 3) if amplitude > 0 else None
