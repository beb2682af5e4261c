"""Cutting the decoder's blocks into whole analysis frames, whatever the block boundaries.

The decoder hands out blocks of any length; an analyser works on frames of a fixed number
of samples (a 100 ms loudness segment, a 2048-sample FFT frame, a waveform pixel).
``FrameCutter`` joins each block to what was left of the previous one and returns the
whole frames, keeping the rest (fewer than ``size`` rows) for the next block.
"""

from __future__ import annotations

import numpy as np


class FrameCutter:
    """Feed blocks of shape (rows, ...) in order; get whole frames of ``size`` rows back."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError("a frame has at least one row")
        self.size = size
        self.remainder: np.ndarray | None = None  # the rows not yet part of a whole frame

    def frames(self, block: np.ndarray) -> np.ndarray:
        """The whole frames completed by ``block``: shape (n, size, *block.shape[1:]), n ≥ 0."""
        data = block if self.remainder is None or not len(self.remainder) else np.concatenate([self.remainder, block])
        whole = len(data) // self.size * self.size
        self.remainder = data[whole:].copy()
        return data[:whole].reshape(-1, self.size, *data.shape[1:])
