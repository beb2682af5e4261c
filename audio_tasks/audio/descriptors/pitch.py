"""Pitch of a monophonic sound: YIN over its first seconds, summarised as one note.

YIN (de Cheveigné & Kawahara 2002, "YIN, a fundamental frequency estimator for speech
and music", JASA 111(4)), on the mono mixdown of the first ``ANALYSED_S`` seconds, one
frame every 10 ms, periods from 1/2093 Hz (C7) to 1/30 Hz, integration window = longest
period:

- difference function d(τ) = Σ_j (x_j − x_{j+τ})² (step 2, eq. 6), by FFT;
- cumulative mean normalised difference d′(τ) = d(τ) / ((1/τ) Σ_{k≤τ} d(k)) (step 3, eq. 8);
- the first dip of d′ under ``THRESHOLD`` = 0.1 (step 4), followed down to its minimum,
  refined by parabolic interpolation (step 5); d′ there is the frame's aperiodicity.

The note is the median (in log frequency) of the periodic frames' f0 among the sounding
frames (within 30 dB of the loudest); its **confidence** is the share of sounding frames
that are periodic and within 50 cents of it: 1.0 for a steady note, low for noise,
chords or glides. The cost is bounded by ``ANALYSED_S`` whatever the file's duration.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft

from audio_tasks.audio.blocks import FrameCutter
from audio_tasks.audio.descriptors.key import PITCH_CLASSES
from audio_tasks.audio.descriptors.status import not_applicable, outcome
from audio_tasks.audio.mixdown import mixdown

ANALYSED_S = 5.0
LOWEST_HZ, HIGHEST_HZ = 30.0, 2093.0
THRESHOLD = 0.1
SOUNDING_DB = 30.0  # frames this far below the loudest frame are the tail, not the note
SAME_NOTE_CENTS = 50.0
MIN_CONFIDENCE = 0.5
FIELDS = ("frequency_hz", "midi_note", "note", "cents", "confidence")
_BATCH = 32  # frames per FFT batch (bounds the transient memory)


class PitchTracker:
    """Feed float blocks (frames, channels); ``result()`` gives the note and its confidence."""

    def __init__(self, sample_rate: int, channels: int = 1):
        self._rate = sample_rate
        self._longest = int(math.ceil(sample_rate / LOWEST_HZ))  # τ_max and the window W
        self._shortest = max(2, int(sample_rate / HIGHEST_HZ))
        self._n_fft = 1 << int(math.ceil(math.log2(3 * self._longest)))
        self._frames_cut = FrameCutter(2 * self._longest, max(1, round(sample_rate / 100)))  # 2τ_max every 10 ms
        self._budget = int(ANALYSED_S * sample_rate)  # samples still to take
        self._f0: list[np.ndarray] = []
        self._aperiodicity: list[np.ndarray] = []
        self._energy: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        if self._budget <= 0:
            return
        mono = mixdown(block[:self._budget])
        self._budget -= len(mono)
        frames = self._frames_cut.frames(mono)
        for start in range(0, len(frames), _BATCH):
            self._analyse(frames[start:start + _BATCH])

    def _analyse(self, frames: np.ndarray) -> None:
        window = self._longest
        d = self._difference(frames)
        cumulative = np.cumsum(d[:, 1:], axis=1)
        normalised = np.ones_like(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            normalised[:, 1:] = np.where(cumulative > 0, d[:, 1:] * np.arange(1, d.shape[1]) / cumulative, 1.0)
        for row in normalised:
            period, aperiodicity = self._best_period(row)
            self._f0.append(np.array([self._rate / period]))
            self._aperiodicity.append(np.array([aperiodicity]))
        self._energy.append(np.einsum("ij,ij->i", frames[:, :window], frames[:, :window]) / window)

    def _difference(self, frames: np.ndarray) -> np.ndarray:
        """d(τ) for τ = 0..τ_max of every frame (YIN eq. 6 via the power terms and an FFT)."""
        window = self._longest
        spectra = fft.rfft(frames, self._n_fft, axis=1)  # float32 in: complex64 (half the work)
        head = fft.rfft(frames[:, :window], self._n_fft, axis=1)
        cross = fft.irfft(spectra * np.conj(head), self._n_fft, axis=1)[:, :window + 1]
        squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(np.square(frames, dtype=np.float64), axis=1)],
                                 axis=1)
        shifted_energy = squares[:, window:window + window + 1] - squares[:, :window + 1]
        return np.maximum(squares[:, window:window + 1] + shifted_energy - 2 * cross, 0.0)

    def _best_period(self, normalised: np.ndarray) -> tuple[float, float]:
        """(period in samples, d′ there): the first dip under the threshold, else the minimum."""
        search = normalised[self._shortest:]
        below = np.flatnonzero(search < THRESHOLD)
        if len(below):
            tau = self._shortest + int(below[0])
            while tau + 1 < len(normalised) and normalised[tau + 1] < normalised[tau]:
                tau += 1
        else:
            tau = self._shortest + int(np.argmin(search))
        if 0 < tau < len(normalised) - 1:
            left, centre, right = normalised[tau - 1:tau + 2]
            curvature = left - 2 * centre + right
            offset = 0.5 * (left - right) / curvature if curvature > 0 else 0.0
            return tau + float(np.clip(offset, -0.5, 0.5)), float(centre)
        return float(tau), float(normalised[tau])

    def result(self) -> dict:
        if not self._energy:
            return not_applicable(FIELDS, "too short to measure a pitch")
        energy = np.concatenate(self._energy)
        f0, aperiodicity = np.concatenate(self._f0), np.concatenate(self._aperiodicity)
        sounding = (energy > 0) & (energy >= energy.max() * 10 ** (-SOUNDING_DB / 10))
        periodic = sounding & (aperiodicity < THRESHOLD)
        if not periodic.any():
            return not_applicable(FIELDS, "no periodic sound: not a pitched note")
        frequency = float(np.exp(np.median(np.log(f0[periodic]))))
        cents_off = 1200 * np.abs(np.log2(f0 / frequency))
        confidence = float(np.count_nonzero(periodic & (cents_off <= SAME_NOTE_CENTS)) / np.count_nonzero(sounding))
        if confidence < MIN_CONFIDENCE:
            return not_applicable(FIELDS, f"no steady pitch: confidence {confidence:.2f} < {MIN_CONFIDENCE}",
                                  confidence=round(confidence, 3))
        return outcome(FIELDS, **note(frequency), confidence=round(confidence, 3))


def note(frequency_hz: float) -> dict:
    """The nearest equal-tempered note (A4 = 440 Hz) and the offset from it in cents."""
    midi = 69 + 12 * math.log2(frequency_hz / 440.0)
    nearest = int(round(midi))
    return {"frequency_hz": round(frequency_hz, 2), "midi_note": nearest,
            "note": f"{PITCH_CLASSES[nearest % 12]}{nearest // 12 - 1}", "cents": round(100 * (midi - nearest), 1)}
