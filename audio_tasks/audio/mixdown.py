"""The mono mixdown shared by the waveform and the spectrum: the mean of the channels."""

import numpy as np


def mixdown(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float32 → (frames,) float32 mean (a matrix-vector product: fast)."""
    channels = block.shape[1]
    return block[:, 0].copy() if channels == 1 else block @ np.full(channels, 1 / channels, np.float32)
