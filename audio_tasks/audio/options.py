"""What the pipeline may be given and asked to make: input limits and audio options.

Plain dataclasses with no numpy behind them, so the settings, the CLI and the Lambda can
describe a job without loading the audio core. Each default is defined here once: the
settings (``audio_tasks.settings``), ``audio-tasks analyze`` and the local stack read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Inputs beyond these are refused as permanent errors."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 4 * 3600
    decode_timeout_s: float = 600.0


@dataclass(frozen=True)
class AudioOptions:
    """How the artifacts are made; the defaults are the house standard."""

    house_sample_rate: int = 44100
    target_lufs: float = -23.0
    true_peak_ceiling_dbtp: float = -1.0
    trim_silence: bool = False
    silence_threshold_dbfs: float = -60.0
    preview_bitrate_kbps: int = 128
    waveform_samples_per_pixel: int = 256
    waveform_bits: int = 8
    descriptors: bool = True  # tempo, key, pitch, onsets, loop, problems (audio/descriptors/)
