"""Test helpers: synthesise audio, and measure it with oracles we did not write.

ffmpeg's own filters (ebur128 for loudness/LRA/true peak, astats for levels) and an
independent s16 decode stand as references; pyloudnorm is used where its channel model
matches (mono/stereo).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from audio_tasks.audio.ffmpeg import ffmpeg_exe

# Every artifact a job writes, sorted.
ARTIFACT_NAMES = ["analysis.json", "house.wav", "preview.mp3", "preview.opus", "spectrogram.png",
                  "waveform-large.png", "waveform-small.png", "waveform.json"]


def ffmpeg(*args: str) -> str:
    """Run ffmpeg; returns its stderr (where the analysis filters report)."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stderr


def write_float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """samples: (frames, channels) floats in [-1, 1] → 32-bit float WAV."""
    wavfile.write(path, rate, np.asarray(samples, dtype=np.float32))
    return path


def sine(seconds: float, rate: int, freq: float = 1000.0, dbfs: float = -20.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def stereo(mono: np.ndarray) -> np.ndarray:
    return np.column_stack([mono, mono])


def ebur128(path: Path) -> dict:
    """ffmpeg's ebur128 summary: integrated (LUFS), LRA (LU), true peak (dBTP)."""
    text = ffmpeg("-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-")
    summary = text[text.rindex("Summary:"):]

    def number(label):
        found = re.search(label + r":\s+(-?[\d.]+|-inf)", summary)
        return float(found.group(1)) if found else None

    return {"integrated_lufs": number("I"), "loudness_range_lu": number("LRA"),
            "true_peak_dbtp": number("Peak")}


def astats(path: Path) -> dict:
    """ffmpeg's astats 'Overall' levels: peak and RMS (dBFS), DC offset."""
    text = ffmpeg("-i", str(path), "-af", "astats=measure_perchannel=none", "-f", "null", "-")
    overall = text[text.index("Overall"):]

    def number(label):
        return float(re.search(label + r":\s+(-?[\d.e+-]+|-inf)", overall).group(1))

    return {"sample_peak_dbfs": number("Peak level dB"), "rms_dbfs": number("RMS level dB"),
            "dc_offset": number("DC offset")}


def decode_s16(path: Path, channels: int) -> np.ndarray:
    """An independent decode to 16-bit integers, shape (frames, channels)."""
    run = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-c:a", "pcm_s16le", "-"],
                         capture_output=True, check=True, timeout=120)
    return np.frombuffer(run.stdout, dtype="<i2").reshape(-1, channels)
