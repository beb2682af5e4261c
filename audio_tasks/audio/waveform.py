"""Waveform peaks in the BBC audiowaveform JSON format, version 2.

The channels are mixed down to one (their mean, as audiowaveform does by default); for
every ``samples_per_pixel`` frames the minimum and maximum become one pixel, the last
pixel covering what is left. Values are 16-bit integers (float × 32768, clamped), or
8-bit ones (the 16-bit value >> 8) when ``bits`` is 8.
Format: https://github.com/bbc/audiowaveform/blob/master/doc/DataFormat.md
"""

from __future__ import annotations

import numpy as np

from audio_tasks.audio.mixdown import mixdown


class WaveformPeaks:
    def __init__(self, sample_rate: int, samples_per_pixel: int = 256, bits: int = 8):
        if bits not in (8, 16):
            raise ValueError("bits must be 8 or 16")
        if samples_per_pixel < 1:
            raise ValueError("samples_per_pixel must be at least 1")
        self._rate, self._spp, self._bits = sample_rate, samples_per_pixel, bits
        self._pending = np.zeros(0, dtype=np.float32)
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        mono = np.concatenate([self._pending, mixdown(block)])
        whole = len(mono) // self._spp * self._spp
        if whole:
            pixels = mono[:whole].reshape(-1, self._spp)
            self._mins.append(pixels.min(axis=1))
            self._maxs.append(pixels.max(axis=1))
        self._pending = mono[whole:]

    def result(self) -> dict:
        mins, maxs = list(self._mins), list(self._maxs)
        if len(self._pending):
            mins.append(self._pending.min(keepdims=True))
            maxs.append(self._pending.max(keepdims=True))
        pairs = np.stack([_to_int(np.concatenate(mins or [np.zeros(0)]), self._bits),
                          _to_int(np.concatenate(maxs or [np.zeros(0)]), self._bits)], axis=1)
        return {"version": 2, "channels": 1, "sample_rate": self._rate, "samples_per_pixel": self._spp,
                "bits": self._bits, "length": len(pairs), "data": pairs.ravel().tolist()}


def _to_int(values: np.ndarray, bits: int) -> np.ndarray:
    pcm16 = np.clip(np.round(values.astype(np.float64) * 32768), -32768, 32767).astype(np.int64)
    return pcm16 >> 8 if bits == 8 else pcm16
