"""What the pipeline may be given and asked to make: input limits and audio options.

Plain dataclasses with no numpy behind them, so the settings, the CLI and the Lambda can
describe a job without loading the audio core. Each default is defined here once: the
settings (``audio_tasks.settings``), ``audio-tasks analyze`` and the local stack read them.

Loudness presets for ``house.wav`` (integrated LUFS, true-peak ceiling dBTP): EBU R128
(−23/−1, the default), streaming (−14/−1, the level Spotify and YouTube normalise to) and
podcast (−16/−1, Apple's podcast recommendation). A job may name one or give explicit
values in its message's ``options``, a small JSON object — ``{"preset": "streaming"}`` or
``{"target_lufs": -14, "true_peak_ceiling_dbtp": -1}`` — that ``AudioOptions.for_job``
applies to the deployment's options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from audio_tasks.audio.errors import InvalidOptions

LOUDNESS_PRESETS = {"ebu_r128": (-23.0, -1.0), "streaming": (-14.0, -1.0), "podcast": (-16.0, -1.0)}
DEFAULT_PRESET = "ebu_r128"
TARGET_LUFS_RANGE = (-70.0, 0.0)
TRUE_PEAK_CEILING_RANGE = (-20.0, 0.0)
JOB_OPTIONS = ("preset", "target_lufs", "true_peak_ceiling_dbtp")  # what a job's ``options`` may set


@dataclass(frozen=True)
class Limits:
    """Inputs beyond these are refused as permanent errors."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 4 * 3600
    decode_timeout_s: float = 600.0
    # Temporary disk for the decoded audio kept for the house WAV (float32: 1 GiB holds 50 min
    # of stereo 44.1 kHz); a longer input is decoded a second time for it instead.
    max_spool_bytes: int = 1024**3


@dataclass(frozen=True)
class AudioOptions:
    """How the artifacts are made; the defaults are the house standard."""

    house_sample_rate: int = 44100
    target_lufs: float = LOUDNESS_PRESETS[DEFAULT_PRESET][0]
    true_peak_ceiling_dbtp: float = LOUDNESS_PRESETS[DEFAULT_PRESET][1]
    trim_silence: bool = False
    silence_threshold_dbfs: float = -60.0
    preview_bitrate_kbps: int = 128
    opus_bitrate_kbps: int = 96
    waveform_samples_per_pixel: int = 256
    waveform_bits: int = 8
    descriptors: bool = True  # tempo, key, pitch, onsets, loop, problems (audio/descriptors/)

    def for_job(self, job_options: dict | None) -> AudioOptions:
        """These options with a job's loudness choice applied (its explicit values win over
        its preset); ``InvalidOptions`` says what is wrong with ``job_options``."""
        if not job_options:
            return self
        unknown = sorted(set(job_options) - set(JOB_OPTIONS))
        if unknown:
            raise InvalidOptions(f"unknown option(s) {', '.join(unknown)}: a job may set {', '.join(JOB_OPTIONS)}")
        target, ceiling = self.target_lufs, self.true_peak_ceiling_dbtp
        if "preset" in job_options:
            target, ceiling = loudness_preset(job_options["preset"])
        return replace(self, target_lufs=_number(job_options, "target_lufs", target, TARGET_LUFS_RANGE),
                       true_peak_ceiling_dbtp=_number(job_options, "true_peak_ceiling_dbtp", ceiling,
                                                      TRUE_PEAK_CEILING_RANGE))


def loudness_preset(name: str) -> tuple[float, float]:
    """(target LUFS, true-peak ceiling dBTP) of a preset; InvalidOptions naming the choices."""
    if name not in LOUDNESS_PRESETS:
        raise InvalidOptions(f"unknown loudness preset {name!r}: choose one of {', '.join(LOUDNESS_PRESETS)}")
    return LOUDNESS_PRESETS[name]


def _number(options: dict, name: str, default: float, bounds: tuple[float, float]) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
        raise InvalidOptions(f"{name} must be a number from {bounds[0]:g} to {bounds[1]:g}, got {value!r}")
    return float(value)
