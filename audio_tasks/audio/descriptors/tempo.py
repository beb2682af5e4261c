"""Tempo (BPM with a confidence) and beat times, from an onset-strength envelope.

- Periodicity: the autocorrelation r(L) of the mean-removed envelope, normalised so
  r(0) = 1 (each lag averaged over the N − L products it has): r at the beat period is
  how alike the envelope is to itself one beat later. That value is the **confidence**
  (the "pulse clarity" of Lartillot et al. 2008, ISMIR), 0 for noise, ~1 for a metronome.
- Tempo: the lag maximising r(L) × a log-Gaussian tempo prior centred on 120 BPM with a
  one-octave spread (Ellis 2007, "Beat tracking by dynamic programming", J. New Music
  Research 36(1), §3.1; librosa's ``start_bpm``/``std_bpm``), among 40–240 BPM and lags
  that fit twice in the file. The period is refined below the 10 ms frame by parabolic
  interpolation of the peaks at 1–8 × the lag (least squares through the origin).
- Beats: Ellis's dynamic programme (§3.2) over the envelope smoothed by a Gaussian of
  period/32: C(t) = O(t) + max over τ in [t − 2P, t − P/2] of C(τ) − α·log²((t − τ)/P),
  α = 100, traced back from the last strong local maximum of C; weak beats at either end
  are dropped. Because every τ lies at least P/2 back, P/2 frames are solved at a time.
Memory: the autocorrelation is summed over 8192-frame chunks, so it never needs more
than one chunk's FFT whatever the duration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

MIN_BPM, MAX_BPM = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
TIGHTNESS = 100.0  # Ellis's α
_CHUNK = 8192
_HARMONICS = 8
# Onsets are one-frame spikes: smoothed over 50 ms, a period between two whole frames
# (110 BPM: 54.5 frames) keeps its autocorrelation peak instead of splitting it in two.
_SMOOTHING = np.hanning(7)[1:-1]


@dataclass(frozen=True)
class Periodicity:
    """The strongest beat period of an envelope: ``period`` in frames (fractional)."""

    period: float
    confidence: float

    def bpm(self, frame_rate: float) -> float:
        return 60.0 * frame_rate / self.period


def autocorrelation(envelope: np.ndarray, max_lag: int) -> np.ndarray:
    """r(L) for L = 0..max_lag of the mean-removed envelope, each lag's mean product
    divided by the variance (so r(0) = 1); zeros for a constant envelope."""
    centred = envelope.astype(np.float64) - envelope.mean()
    max_lag = min(max_lag, len(centred) - 1)
    sums = np.zeros(max_lag + 1)
    for start in range(0, len(centred), _CHUNK):
        chunk = centred[start:start + _CHUNK]
        ahead = centred[start:start + len(chunk) + max_lag]
        ahead = np.pad(ahead, (0, len(chunk) + max_lag - len(ahead)))
        sums += signal.correlate(ahead, chunk, mode="valid", method="fft")
    variance = sums[0] / len(centred)
    if variance <= 1e-12 * max(1.0, float(np.abs(envelope).max()) ** 2):
        return np.zeros(max_lag + 1)
    return sums / (len(centred) - np.arange(max_lag + 1)) / variance


def estimate_period(envelope: np.ndarray, frame_rate: float) -> Periodicity | None:
    """The beat period, or None when the envelope is too short to hold two slow beats."""
    shortest = int(np.floor(60 * frame_rate / MAX_BPM))
    longest = min(int(np.ceil(60 * frame_rate / MIN_BPM)), len(envelope) // 2)
    if longest <= shortest + 1:
        return None
    r = autocorrelation(np.convolve(envelope, _SMOOTHING, mode="same"), _HARMONICS * longest + _HARMONICS)
    lags = np.arange(shortest, longest + 1)
    bpm = 60 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    lag = int(lags[np.argmax(np.maximum(r[lags], 0) * prior)])
    return Periodicity(_refine(r, lag), round(float(max(r[lag], 0.0)), 3))


def _refine(r: np.ndarray, lag: int) -> float:
    """Least-squares period from the interpolated peaks near k × lag (k = 1..8)."""
    multiples, peaks = [], []
    for k in range(1, _HARMONICS + 1):
        low, high = k * lag - k, k * lag + k
        if high + 1 >= len(r):
            break
        top = low + int(np.argmax(r[low:high + 1]))
        if r[top] < 0.5 * r[lag] or top in (low, high):
            continue
        multiples.append(k)
        peaks.append(top + _parabola_offset(r[top - 1], r[top], r[top + 1]))
    if not multiples:
        return float(lag)
    k = np.array(multiples, dtype=float)
    return float((k * np.array(peaks)).sum() / (k * k).sum())


def _parabola_offset(left: float, centre: float, right: float) -> float:
    """Vertex offset (−0.5..0.5) of the parabola through three equally spaced points."""
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def track_beats(envelope: np.ndarray, period: float) -> np.ndarray:
    """Beat frames (ascending) by Ellis's dynamic programme at beat period ``period``."""
    std = envelope.std()
    if std <= 0 or len(envelope) < 2:
        return np.zeros(0, dtype=int)
    width = max(1, int(round(period)))
    kernel = np.exp(-0.5 * (np.arange(-width, width + 1) * 32.0 / period) ** 2)
    local = np.convolve(envelope / std, kernel, mode="same")
    score, backlink = _cumulative_score(local, period)
    beats = [_last_beat(score)]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    return _trim_weak(np.array(beats[::-1]), local)


def _cumulative_score(local: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.arange(max(1, int(round(period / 2))), int(round(2 * period)) + 1)
    penalty = -TIGHTNESS * np.log(offsets / period) ** 2
    score = np.zeros(len(local))
    backlink = np.full(len(local), -1, dtype=np.int32)
    step = int(offsets[0])
    for start in range(0, len(local), step):
        frames = np.arange(start, min(start + step, len(local)))
        previous = frames[:, None] - offsets[None, :]
        candidates = np.where(previous >= 0, score[np.maximum(previous, 0)] + penalty, -np.inf)
        best = np.argmax(candidates, axis=1)
        best_score = candidates[np.arange(len(frames)), best]
        linked = best_score > 0
        score[frames] = local[frames] + np.where(linked, best_score, 0.0)
        backlink[frames] = np.where(linked, previous[np.arange(len(frames)), best], -1)
    return score, backlink


def _last_beat(score: np.ndarray) -> int:
    """The last local maximum of C(t) above half the median local maximum (as librosa)."""
    peaks = signal.argrelmax(score, mode="wrap")[0] if len(score) > 2 else np.array([int(np.argmax(score))])
    if not len(peaks):
        return int(np.argmax(score))
    strong = peaks[score[peaks] >= 0.5 * np.median(score[peaks])]
    return int(strong[-1])


def _trim_weak(beats: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Drop leading and trailing beats whose local score is under half the beats' RMS."""
    strength = local[beats]
    keep = np.flatnonzero(strength >= 0.5 * np.sqrt(np.mean(strength ** 2)))
    return beats[keep[0]:keep[-1] + 1] if len(keep) else beats[:0]
