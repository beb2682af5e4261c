"""Loop or one-shot, and whether a file loops seamlessly.

- **sample type**: ``one_shot`` — one sound event (at most one onset) of at most
  ``ONE_SHOT_MAX_S``; ``loop`` — rhythmic material (a tempo was found) of at most
  ``LOOP_MAX_S``; ``other`` — anything else (a long recording, a few unrelated events).
- **loopable**: the length is a whole number of beats at the detected tempo (within
  ``MAX_MISFIT_BEATS`` of a beat) and the end joins the start without a click.
- **click at the seam**: played in a loop, the last sample is followed by the first. The
  step across the join, |x[0] − x[N−1]|, is compared with the largest sample-to-sample
  step within ``SEAM_S`` on either side: a join more than ``CLICK_RATIO`` times steeper
  than the audio around it, and above −60 dBFS, is a click (a step, which is what a
  click is; a sound that starts on a zero crossing with some slope is not one). A loop
  cut at the same phase of a periodic wave, or on silence, has none.
``SeamProbe`` keeps only the first and last ``SEAM_S`` of every channel.
"""

from __future__ import annotations

import numpy as np

ONE_SHOT_MAX_S = 10.0
LOOP_MAX_S = 60.0
MAX_MISFIT_BEATS = 0.05
SEAM_S = 0.005
CLICK_RATIO = 3.0
CLICK_FLOOR = 10 ** (-60 / 20)


class SeamProbe:
    """Feed float blocks (frames, channels); keeps the head and tail where a loop joins."""

    def __init__(self, sample_rate: int, channels: int):
        self._length = max(4, round(SEAM_S * sample_rate))
        self.head = np.zeros((0, channels), dtype=np.float32)
        self.tail = np.zeros((0, channels), dtype=np.float32)

    def feed(self, block: np.ndarray) -> None:
        if len(self.head) < self._length:
            self.head = np.concatenate([self.head, block[:self._length - len(self.head)]])
        self.tail = np.concatenate([self.tail, block[-self._length:]])[-self._length:]

    def seam(self) -> dict:
        """``seam_step``: the step across the join (full scale = 1), the largest channel's;
        ``seam_ratio``: that over the largest step within SEAM_S around the join."""
        if not len(self.tail):
            return {"seam_step": None, "seam_ratio": None}
        joined = np.concatenate([self.tail, self.head]).astype(np.float64)
        steps = np.abs(np.diff(joined, axis=0))
        join = len(self.tail) - 1  # the step from the tail's last sample to the head's first
        step = float(steps[join].max())
        around = float(np.delete(steps, join, axis=0).max(initial=0.0))
        return {"seam_step": round(step, 6), "seam_ratio": round(step / around, 2) if around > 0 else None}


def clicks(seam: dict) -> bool:
    step, ratio = seam["seam_step"], seam["seam_ratio"]
    return step is not None and step > CLICK_FLOOR and (ratio is None or ratio > CLICK_RATIO)


def sample_type(duration_s: float, onset_count: int, has_tempo: bool) -> tuple[str, str]:
    """(type, why) — see the module docstring for the rules."""
    if onset_count <= 1 and duration_s <= ONE_SHOT_MAX_S:
        return "one_shot", f"{onset_count} onset in {duration_s:.2f} s"
    if has_tempo and duration_s <= LOOP_MAX_S:
        return "loop", f"a steady tempo over {duration_s:.2f} s"
    if has_tempo:
        return "other", f"rhythmic but {duration_s:.0f} s long (loops are at most {LOOP_MAX_S:.0f} s)"
    return "other", f"{onset_count} onsets and no steady tempo"


def beat_fit(duration_s: float, bpm: float) -> tuple[int, float]:
    """(whole number of beats nearest the length, how far from it in beats)."""
    beats = duration_s * bpm / 60.0
    whole = int(round(beats))
    return whole, abs(beats - whole)
