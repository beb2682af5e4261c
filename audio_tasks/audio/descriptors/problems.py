"""Audio problems worth flagging, each with the measurement behind it.

| problem | flagged when | measurement |
|---|---|---|
| ``clipping`` | a run of ≥ 3 consecutive samples at 16-bit full scale (Audacity's "Find Clipping" default) | runs, longest run, clipped samples |
| ``dc_offset`` | a channel's mean is ≥ 0.01 of full scale (−40 dBFS) | per-channel mean |
| ``long_silence`` | a stretch under −60 dBFS lasts ≥ 2 s (start, middle or end) | its length and start |
| ``mono_in_stereo`` | every channel equals the first within −60 dB (energy of the difference ÷ energy) | that ratio in dB |
| ``band_limited`` | the long-term spectrum ends in a cliff (≥ 30 dB from 1/12 octave below to 1/12 octave above) between 1 kHz and 0.7 × Nyquist, under broadband content: audio upsampled from a lower rate | cutoff frequency, drop |

``ChannelScan`` streams the clipping runs and channel differences; the band limit is
read from the long-term power spectrum the spectrogram already accumulates.
"""

from __future__ import annotations

import math

import numpy as np

CLIP_LEVEL = 32767 / 32768
MIN_CLIP_RUN = 3
DC_OFFSET_LIMIT = 0.01
LONG_SILENCE_S = 2.0
MONO_DIFFERENCE_DB = -60.0
CLIFF_DB = 30.0
CONTENT_DB = 40.0
MAX_CUTOFF_SHARE = 0.7  # of Nyquist: a 16 kHz MP3 low-pass at 44.1 kHz (0.73) is not flagged
MIN_CUTOFF_HZ = 1000.0


class ChannelScan:
    """Feed float blocks (frames, channels): clipping runs and inter-channel differences."""

    def __init__(self, sample_rate: int, channels: int):
        self._open_runs = np.zeros(channels, dtype=np.int64)  # run length still going at the block end
        self.clip_runs = 0
        self.longest_clip_run = 0
        self.clipped_samples = 0
        self._energy = np.zeros(channels)
        self._difference = np.zeros(channels)

    def feed(self, block: np.ndarray) -> None:
        # float32 sums per 64k-frame block (exact enough), accumulated in float64.
        self._energy += np.einsum("ij,ij->j", block, block)
        if block.shape[1] > 1:
            difference = block[:, 1:] - block[:, :1]
            self._difference[1:] += np.einsum("ij,ij->j", difference, difference)
        if not len(block) or max(block.max(), -block.min()) < CLIP_LEVEL:
            self._close_runs(np.arange(block.shape[1]))
            return
        for channel in range(block.shape[1]):
            self._scan_channel(channel, np.abs(block[:, channel]) >= CLIP_LEVEL)

    def _scan_channel(self, channel: int, clipped: np.ndarray) -> None:
        self.clipped_samples += int(np.count_nonzero(clipped))
        edges = np.diff(np.concatenate([[0], clipped.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = ends - starts
        if len(lengths) and starts[0] == 0:
            lengths[0] += self._open_runs[channel]
        elif self._open_runs[channel]:
            self._close_runs([channel])
        still_open = len(lengths) and ends[-1] == len(clipped)
        self._open_runs[channel] = lengths[-1] if still_open else 0
        self._count(lengths[:-1] if still_open else lengths)

    def _close_runs(self, channels) -> None:
        self._count(self._open_runs[channels][self._open_runs[channels] > 0])
        self._open_runs[channels] = 0

    def _count(self, lengths: np.ndarray) -> None:
        long_enough = lengths[lengths >= MIN_CLIP_RUN]
        self.clip_runs += len(long_enough)
        self.longest_clip_run = max(self.longest_clip_run, int(lengths.max(initial=0)))

    def result(self) -> dict:
        self._close_runs(np.arange(len(self._open_runs)))
        mono_db = None
        if len(self._energy) > 1 and self._energy.sum() > 0:
            ratio = self._difference[1:].max() / self._energy.mean()
            mono_db = round(10 * math.log10(ratio), 1) if ratio > 0 else None
        return {"clip_runs": self.clip_runs, "longest_clip_run": self.longest_clip_run,
                "clipped_samples": self.clipped_samples, "channel_difference_db": mono_db,
                "identical_channels": bool(len(self._energy) > 1 and self._energy.sum() > 0
                                           and not self._difference.any())}


def band_limit(frequencies: np.ndarray, power: np.ndarray) -> dict | None:
    """The cutoff of a long-term power spectrum that ends in a cliff, or None.

    The content level is the 90th percentile of the (5-bin smoothed) level; the cutoff is
    the highest frequency within ``CONTENT_DB`` of it, where the level must fall by
    ``CLIFF_DB`` from the 1/12 octave below it to the 1/12 octave above it, and the octave
    below must be broadband (half its bins within 30 dB of its loudest): a sine or a kick
    drum does not end in a cliff.
    """
    level = 10 * np.log10(np.maximum(power, 1e-30))
    level = np.convolve(np.pad(level, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    content = float(np.percentile(level, 90))
    within = np.flatnonzero(level >= content - CONTENT_DB)
    if not len(within) or within[-1] >= len(level) - 3:
        return None  # the content reaches Nyquist
    cutoff = int(within[-1])
    width = max(3, cutoff // 17)  # 1/12 octave ≈ 6 % of the frequency
    below, above = level[max(0, cutoff - 2 * width):max(1, cutoff - width)], level[cutoff + width:cutoff + 2 * width]
    if not len(above):
        return None
    drop = float(below.mean() - above.mean())
    octave_below = level[cutoff // 2:cutoff + 1]
    broadband = np.mean(octave_below >= octave_below.max() - 30.0) >= 0.5
    if drop < CLIFF_DB or not broadband:
        return None
    return {"cutoff_hz": round(float(frequencies[cutoff]), 1), "drop_db": round(drop, 1)}


def find_problems(*, sample_rate: int, channels: dict, dc_offset: list[float], silence: dict,
                  band: dict | None) -> list[dict]:
    """The flagged problems; ``channels`` is ``ChannelScan.result()``, ``silence`` holds
    ``longest_silence_s`` and ``longest_silence_start_s``."""
    found = []
    if channels["clip_runs"]:
        found.append({"problem": "clipping", "clip_runs": channels["clip_runs"],
                      "longest_clip_run": channels["longest_clip_run"],
                      "clipped_samples": channels["clipped_samples"]})
    if any(abs(v) >= DC_OFFSET_LIMIT for v in dc_offset):
        found.append({"problem": "dc_offset", "dc_offset": dc_offset})
    if silence["longest_silence_s"] >= LONG_SILENCE_S:
        found.append({"problem": "long_silence", "seconds": silence["longest_silence_s"],
                      "start_s": silence["longest_silence_start_s"]})
    difference = channels["channel_difference_db"]
    if channels["identical_channels"] or (difference is not None and difference <= MONO_DIFFERENCE_DB):
        found.append({"problem": "mono_in_stereo", "channel_difference_db": difference})
    if band and MIN_CUTOFF_HZ <= band["cutoff_hz"] <= MAX_CUTOFF_SHARE * sample_rate / 2:
        found.append({"problem": "band_limited", **band})
    return found
