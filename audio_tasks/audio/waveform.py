"""Waveform peaks in the BBC audiowaveform JSON format, version 2.

The channels are mixed down to one (their mean, as audiowaveform does by default); for
every ``samples_per_pixel`` frames the minimum and maximum become one pixel, the last
pixel covering what is left. Values are 16-bit integers (float × 32768, clamped), or
8-bit ones (the 16-bit value >> 8) when ``bits`` is 8.
Format: https://github.com/bbc/audiowaveform/blob/master/doc/DataFormat.md

``write_png`` draws the same peaks as an image (each column spans the min..max of its
share of the peaks), at the two sizes Freesound shows: 120×71 and 900×201.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audio_tasks.audio.blocks import FrameCutter
from audio_tasks.audio.mixdown import mixdown

WAVEFORM_IMAGES = {"waveform-small.png": (120, 71), "waveform-large.png": (900, 201)}
_INK = (0x33, 0x66, 0x99, 0xFF)


class WaveformPeaks:
    def __init__(self, sample_rate: int, samples_per_pixel: int = 256, bits: int = 8):
        if bits not in (8, 16):
            raise ValueError("bits must be 8 or 16")
        if samples_per_pixel < 1:
            raise ValueError("samples_per_pixel must be at least 1")
        self._rate, self._spp, self._bits = sample_rate, samples_per_pixel, bits
        self._pixels_cut = FrameCutter(samples_per_pixel)
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        pixels = self._pixels_cut.frames(mixdown(block))
        if len(pixels):
            self._mins.append(pixels.min(axis=1))
            self._maxs.append(pixels.max(axis=1))

    def _peaks(self) -> tuple[np.ndarray, np.ndarray]:
        mins, maxs = list(self._mins), list(self._maxs)
        rest = self._pixels_cut.remainder
        if rest is not None and len(rest):  # the last pixel covers what is left
            mins.append(rest.min(keepdims=True))
            maxs.append(rest.max(keepdims=True))
        empty = [np.zeros(0, dtype=np.float32)]
        return np.concatenate(mins or empty), np.concatenate(maxs or empty)

    def write_png(self, path: Path, width: int, height: int) -> None:
        """The peaks as a ``width`` × ``height`` PNG: ink on a transparent background."""
        from matplotlib.image import imsave

        mins, maxs = self._peaks()
        if not len(mins):
            mins = maxs = np.zeros(1, dtype=np.float32)
        starts = np.arange(width) * len(mins) // width  # fewer peaks than columns: repeats
        low, high = np.minimum.reduceat(mins, starts), np.maximum.reduceat(maxs, starts)
        scale = (height - 1) / 2
        top = np.floor((1 - np.clip(high, -1, 1)) * scale)[None, :]
        bottom = np.ceil((1 - np.clip(low, -1, 1)) * scale)[None, :]
        rows = np.arange(height)[:, None]
        image = np.zeros((height, width, 4), dtype=np.uint8)
        image[(rows >= np.minimum(top, bottom)) & (rows <= np.maximum(top, bottom))] = _INK
        imsave(path, image, format="png", metadata={"Software": None})

    def write_json(self, path: Path) -> None:
        """Write the audiowaveform JSON, streaming the data so no huge list is built."""
        mins, maxs = self._peaks()
        pairs = np.stack([_to_int(mins, self._bits), _to_int(maxs, self._bits)], axis=1).ravel()
        header = {"version": 2, "channels": 1, "sample_rate": self._rate, "samples_per_pixel": self._spp,
                  "bits": self._bits, "length": len(pairs) // 2}
        with path.open("w") as out:
            out.write(json.dumps(header, separators=(",", ":"))[:-1] + ',"data":[')
            for start in range(0, len(pairs), 65536):
                out.write(("," if start else "") + ",".join(map(str, pairs[start:start + 65536].tolist())))
            out.write("]}\n")


def _to_int(values: np.ndarray, bits: int) -> np.ndarray:
    pcm16 = np.clip(np.round(values.astype(np.float64) * 32768), -32768, 32767).astype(np.int64)
    return pcm16 >> 8 if bits == 8 else pcm16
