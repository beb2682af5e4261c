"""Key and scale: a long-term chroma vector matched to key profiles (Krumhansl–Schmuckler).

- Chroma: the mono mixdown in Hann frames of ~0.37 s (16384 samples at 44.1 kHz: 2.7 Hz
  bins, finer than a semitone from 55 Hz up), not overlapping; the magnitude of every
  bin from A1 (55 Hz) to C7 (2093 Hz) is added to its pitch class, A4 = 440 Hz, equal
  temperament. The file's chroma is the sum over frames (12 numbers, whatever the length).
- Key: the Pearson correlation of that chroma with the 24 rotations of the
  Krumhansl–Kessler major and minor probe-tone profiles (Krumhansl 1990, "Cognitive
  Foundations of Musical Pitch", table 4.1; the Krumhansl–Schmuckler algorithm); the
  best is the key and its correlation the **confidence** (−1..1; ~0.9 for a cadence).
- Tonal or not: the energy-weighted spectral flatness (Wiener entropy) of the same band;
  noise and drums are flat (~0.3–0.6), notes and chords peaky (< 0.05). Above
  ``MAX_FLATNESS``, or with a confidence under ``MIN_CONFIDENCE``, there is no key.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from audio_tasks.audio.blocks import FrameCutter
from audio_tasks.audio.descriptors.status import not_applicable, outcome
from audio_tasks.audio.mixdown import mixdown

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
LOWEST_HZ, HIGHEST_HZ = 55.0, 2093.0
MAX_FLATNESS = 0.2
MIN_CONFIDENCE = 0.7
FIELDS = ("key", "scale", "confidence", "spectral_flatness")
_SILENT_POWER = 1e-10  # per-bin power below which a frame is ignored (≈ −100 dBFS)


class ChromaMeter:
    """Feed float blocks (frames, channels); ``result()`` gives key, scale, confidence."""

    def __init__(self, sample_rate: int, channels: int = 1):
        self.n_fft = 1 << int(np.round(np.log2(0.37 * sample_rate)))
        self._frames_cut = FrameCutter(self.n_fft)  # no overlap: a file-long sum needs no more (and costs half)
        self._window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        frequencies = np.fft.rfftfreq(self.n_fft, 1 / sample_rate)
        self._bins = np.flatnonzero((frequencies >= LOWEST_HZ) & (frequencies <= HIGHEST_HZ))
        midi = 69 + 12 * np.log2(frequencies[self._bins] / 440.0)
        self._pitch_class = np.round(midi).astype(int) % 12
        self.chroma = np.zeros(12)
        self._log_flatness_sum = 0.0  # Σ energy × log(flatness)
        self._energy_sum = 0.0

    def feed(self, block: np.ndarray) -> None:
        frames = self._frames_cut.frames(mixdown(block))
        if len(frames):
            self._add(frames)

    def _add(self, frames: np.ndarray) -> None:
        spectrum = np.abs(fft.rfft(frames * self._window, axis=1)[:, self._bins])
        power = np.square(spectrum, dtype=np.float64)
        mean_power = power.mean(axis=1)
        sounding = mean_power > _SILENT_POWER * self.n_fft
        if not sounding.any():
            return
        spectrum, power, mean_power = spectrum[sounding], power[sounding], mean_power[sounding]
        self.chroma += np.bincount(self._pitch_class, weights=spectrum.sum(axis=0, dtype=np.float64), minlength=12)
        # log of the geometric mean = mean of log|X|² = 2 × mean of log|X| (float32 is plenty here)
        log_flatness = 2 * np.log(np.maximum(spectrum, 1e-15)).mean(axis=1, dtype=np.float64) - np.log(mean_power)
        self._log_flatness_sum += float((mean_power * log_flatness).sum())
        self._energy_sum += float(mean_power.sum())

    def _flush(self) -> None:
        """Analyse what is left as one zero-padded frame (short files have only that)."""
        rest = self._frames_cut.remainder
        if rest is not None and (len(rest) > self.n_fft // 8 or not self._energy_sum and len(rest)):
            frame = np.zeros(self.n_fft, dtype=np.float32)
            frame[:len(rest)] = rest
            self._add(frame[None, :])
        self._frames_cut.remainder = None  # analysed: once only

    def flatness(self) -> float | None:
        """Energy-weighted geometric mean of the frames' spectral flatness (0..1)."""
        self._flush()
        return float(np.exp(self._log_flatness_sum / self._energy_sum)) if self._energy_sum else None

    def result(self) -> dict:
        flatness = self.flatness()
        if flatness is None:
            return not_applicable(FIELDS, "no sound between 55 Hz and 2 kHz")
        tonic, minor, confidence = find_key(self.chroma)
        measured = {"spectral_flatness": round(flatness, 4), "confidence": round(confidence, 3)}
        if flatness > MAX_FLATNESS:
            return not_applicable(FIELDS, f"not tonal: spectral flatness {flatness:.2f} > {MAX_FLATNESS}", **measured)
        if confidence < MIN_CONFIDENCE:
            return not_applicable(FIELDS, f"no clear key: best profile correlation {confidence:.2f} < {MIN_CONFIDENCE}",
                                  **measured)
        return outcome(FIELDS, key=PITCH_CLASSES[tonic], scale="minor" if minor else "major", **measured)


def find_key(chroma: np.ndarray) -> tuple[int, bool, float]:
    """(tonic pitch class, minor?, correlation) of the best of the 24 rotated profiles."""
    best = (0, False, -1.0)
    for minor, profile in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE)):
        for tonic in range(12):
            r = _pearson(chroma, np.roll(profile, tonic))
            if r > best[2]:
                best = (tonic, minor, r)
    return best


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else 0.0
