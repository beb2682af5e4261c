"""Loudness per ITU-R BS.1770-4 (integrated, gated) and loudness range per EBU Tech 3342.

Streaming: ``LoudnessMeter.feed`` K-weights each block and keeps one mean square per
channel per 100 ms segment (a few bytes per second of audio); ``result`` builds the
400 ms momentary blocks (75 % overlap) and 3 s short-term blocks (10 Hz) from them.

- K-weighting: the two biquads of BS.1770-4 Annex 1 (high-shelf "pre-filter" and the
  RLB high-pass), derived for any sample rate from their analogue parameters as in
  libebur128, which reproduces the standard's 48 kHz coefficients.
- Channel weights G_i: 1.0, except 1.41 for surround/back channels and 0 for LFE, as
  BS.1770-4 Table 3 (and ffmpeg's ebur128 filter) assign them from the channel layout.
- Integrated loudness: absolute gate −70 LKFS, relative gate −10 LU (BS.1770-4 §2.8).
- Loudness range: short-term (3 s) loudness, absolute gate −70 LUFS, relative gate
  −20 LU, LRA = 95th − 10th percentile (EBU Tech 3342 §3).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from audio_tasks.audio.blocks import FrameCutter

SEGMENT_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0

# WAVE_FORMAT_EXTENSIBLE speaker bits (same order as ffmpeg's AV_CH_* for these).
_LFE_BITS = 0x8
_SURROUND_BITS = 0x10 | 0x20 | 0x100 | 0x200 | 0x400 | 0x8000 | 0x10000 | 0x20000


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The K-weighting filter as second-order sections for ``sample_rate`` (BS.1770-4 Annex 1)."""
    # Stage 1: high shelf (+4 dB above ~1.7 kHz), modelling the head's acoustic effect.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    # Stage 2: the RLB high-pass (~38 Hz).
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def channel_weights(channels: int, channel_mask: int) -> np.ndarray:
    """G_i per channel from the WAVE channel mask (0 = unknown layout: all 1.0)."""
    weights = np.ones(channels)
    if channel_mask:
        bits = [1 << b for b in range(32) if channel_mask & (1 << b)][:channels]
        for i, bit in enumerate(bits):
            weights[i] = 0.0 if bit & _LFE_BITS else 1.41 if bit & _SURROUND_BITS else 1.0
    return weights


class LoudnessMeter:
    """Feed float blocks of shape (frames, channels); ``result`` gives LUFS and LU."""

    def __init__(self, sample_rate: int, channels: int, channel_mask: int = 0):
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2, channels))
        self._weights = channel_weights(channels, channel_mask)
        self._segments_cut = FrameCutter(max(1, round(sample_rate * SEGMENT_S)))
        self._segments: list[np.ndarray] = []  # (n, channels) mean squares per 100 ms

    def feed(self, block: np.ndarray) -> None:
        weighted, self._zi = signal.sosfilt(self._sos, block, axis=0, zi=self._zi)
        segments = self._segments_cut.frames(weighted)
        if len(segments):  # mean squares without a squared copy: a third less CPU than np.square + mean
            self._segments.append(np.einsum("ijk,ijk->ik", segments, segments) / segments.shape[1])

    def segment_powers(self) -> np.ndarray:
        """Channel-weighted power per complete 100 ms segment."""
        if not self._segments:
            return np.zeros(0)
        return np.concatenate(self._segments) @ self._weights

    def result(self) -> dict:
        powers = self.segment_powers()
        momentary = _window_means(powers, 4)
        short_term = _window_means(powers, 30)
        return {
            "integrated_lufs": _round(integrated_loudness(momentary)),
            "loudness_range_lu": _round(loudness_range(short_term)),
            "max_momentary_lufs": _round(_lufs(momentary.max())) if len(momentary) else None,
            "max_short_term_lufs": _round(_lufs(short_term.max())) if len(short_term) else None,
        }


def integrated_loudness(block_powers: np.ndarray) -> float | None:
    """Gated loudness (LUFS) of 400 ms block powers; None if every block is gated out."""
    gated = _gate(block_powers, RELATIVE_GATE_LU)
    return _lufs(gated.mean()) if len(gated) else None


def loudness_range(short_term_powers: np.ndarray) -> float | None:
    """LRA (LU) of 3 s short-term block powers; None if every block is gated out."""
    gated = _gate(short_term_powers, LRA_RELATIVE_GATE_LU)
    if not len(gated):
        return None
    levels = np.sort(_lufs(gated))
    # Percentiles taken as libebur128 does: the sorted value at index round((n-1) * p).
    low = levels[int(round((len(levels) - 1) * 0.10))]
    high = levels[int(round((len(levels) - 1) * 0.95))]
    return float(high - low)


def _gate(powers: np.ndarray, relative_lu: float) -> np.ndarray:
    above_absolute = powers[_lufs(powers) > ABSOLUTE_GATE_LUFS]
    if not len(above_absolute):
        return above_absolute
    threshold = _lufs(above_absolute.mean()) + relative_lu
    return above_absolute[_lufs(above_absolute) > threshold]


def _window_means(powers: np.ndarray, width: int) -> np.ndarray:
    """Means of every run of ``width`` consecutive segments (step: one segment)."""
    if len(powers) < width:
        return np.zeros(0)
    sums = np.cumsum(np.concatenate([[0.0], powers]))
    return (sums[width:] - sums[:-width]) / width


def _lufs(power):
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def _round(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 2)
