"""Cutting the decoder's blocks into whole analysis frames, whatever the block boundaries.

The decoder hands out blocks of any length; an analyser works on frames of a fixed number
of samples (a 100 ms loudness segment, a 2048-sample FFT frame, a waveform pixel), back to
back or overlapping (an onset detector's 1024-sample FFT every 441 samples).
``FrameCutter`` joins each block to what was left of the previous one and returns the
whole frames, keeping the rows the next frame starts with for the next block.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class FrameCutter:
    """Feed blocks of shape (rows, ...) in order; get whole frames of ``size`` rows back,
    one starting every ``hop`` rows (default ``size``: back to back; less: overlapping)."""

    def __init__(self, size: int, hop: int | None = None):
        hop = size if hop is None else hop
        if size < 1 or not 1 <= hop <= size:
            raise ValueError("a frame has at least one row and starts at most one frame after the last")
        self.size, self.hop = size, hop
        self.remainder: np.ndarray | None = None  # the rows the next frame starts with

    def frames(self, block: np.ndarray) -> np.ndarray:
        """The whole frames completed by ``block``: shape (n, size, *block.shape[1:]), n ≥ 0.
        Overlapping frames are a read-only view of the joined rows."""
        data = block if self.remainder is None or not len(self.remainder) else np.concatenate([self.remainder, block])
        count = max(0, (len(data) - self.size) // self.hop + 1)
        self.remainder = data[count * self.hop:].copy()
        if self.hop == self.size or not count:
            return data[:count * self.size].reshape(count, self.size, *data.shape[1:])
        return np.moveaxis(sliding_window_view(data, self.size, axis=0)[::self.hop][:count], -1, 1)
