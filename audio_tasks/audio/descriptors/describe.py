"""The sample descriptors of one file: what a sample library shows next to every sound.

``Descriptors`` owns the five streaming analysers (onset envelope, chroma, pitch, seam,
channel scan), each wrapped in ``Guarded``; the pipeline feeds it with its analysers.
``result`` combines them, with the file's duration and three measurements the pipeline
already makes (DC offset, longest silence, long-term spectrum), into seven descriptors,
each with its own status:

- ``onsets`` → ``tempo`` (needs ≥ ``MIN_ONSETS`` onsets and a confidence ≥
  ``MIN_TEMPO_CONFIDENCE``) → ``sample_type`` → ``pitch`` (one-shots only) and
  ``loop``; ``key`` and ``problems`` stand alone.
- A loop whose length fits a whole number of beats reports the BPM that number of beats
  gives over its length (exact for a loop cut on the beat grid).
"""

from __future__ import annotations

import logging

import numpy as np

from audio_tasks.audio.descriptors import loops, problems
from audio_tasks.audio.descriptors.key import ChromaMeter
from audio_tasks.audio.descriptors.key import FIELDS as KEY_FIELDS
from audio_tasks.audio.descriptors.onsets import MAX_LISTED_ONSETS, OnsetEnvelope, pick_onsets
from audio_tasks.audio.descriptors.pitch import FIELDS as PITCH_FIELDS
from audio_tasks.audio.descriptors.pitch import PitchTracker
from audio_tasks.audio.descriptors.status import Guarded, failed, failure, not_applicable, outcome
from audio_tasks.audio.descriptors.tempo import estimate_period, track_beats
from audio_tasks.audio.mixdown import mixdown
from audio_tasks.vocabulary import DescriptorStatus

log = logging.getLogger(__name__)

MIN_ONSETS = 4
MIN_TEMPO_CONFIDENCE = 0.3
MAX_LISTED_BEATS = 256

ONSET_FIELDS = ("count", "times_s")
TEMPO_FIELDS = ("bpm", "confidence", "beat_count", "beats_s")
TYPE_FIELDS = ("type", "why")
LOOP_FIELDS = ("loopable", "beats", "misfit_beats", "seam_step", "seam_ratio", "why_not")
PROBLEM_FIELDS = ("found",)


class Descriptors:
    """The descriptor analysers of one stream; ``feed`` it every block."""

    def __init__(self, sample_rate: int, channels: int):
        self.sample_rate = sample_rate
        self.onsets = Guarded("onsets", OnsetEnvelope(sample_rate, channels))
        self.chroma = Guarded("key", ChromaMeter(sample_rate, channels))
        self.pitch = Guarded("pitch", PitchTracker(sample_rate, channels))
        self.seam = Guarded("loop", loops.SeamProbe(sample_rate, channels))
        self.channels = Guarded("problems", problems.ChannelScan(sample_rate, channels))

    def feed(self, block: np.ndarray) -> None:
        """Feed every descriptor analyser in turn, the mono ones one shared mixdown: one
        thread rather than five (measured: 30 MiB less peak RSS on a 10-minute job, from
        fewer malloc arenas, at the same speed)."""
        mono = mixdown(block)[:, None]
        for analyser in (self.onsets, self.chroma, self.pitch):
            analyser.feed(mono)
        self.seam.feed(block)
        self.channels.feed(block)

    def result(self, duration_s: float, dc_offset: list[float], silence: dict, band: dict | None) -> dict:
        onsets = _guarded(self.onsets, ONSET_FIELDS, self._onsets)
        tempo = _guarded(self.onsets, TEMPO_FIELDS, lambda: self._tempo(onsets, duration_s))
        kind = _sample_type(duration_s, onsets, tempo)
        return {
            "onsets": onsets,
            "tempo": tempo,
            "key": _guarded(self.chroma, KEY_FIELDS, self.chroma.analyser.result),
            "pitch": self._pitch(kind),
            "sample_type": kind,
            "loop": _guarded(self.seam, LOOP_FIELDS, lambda: self._loop(duration_s, tempo)),
            "problems": _guarded(self.channels, PROBLEM_FIELDS, lambda: self._problems(dc_offset, silence, band)),
        }

    def _onsets(self) -> dict:
        analyser = self.onsets.analyser
        self._envelope = analyser.envelope()
        frames = pick_onsets(self._envelope, analyser.frame_rate)
        times = [round(float(f / analyser.frame_rate), 3) for f in frames[:MAX_LISTED_ONSETS]]
        return outcome(ONSET_FIELDS, count=len(frames), times_s=times)

    def _tempo(self, onsets: dict, duration_s: float) -> dict:
        if onsets["status"] != DescriptorStatus.OK:
            return failed(TEMPO_FIELDS, "the onset envelope failed")
        if onsets["count"] < MIN_ONSETS:
            return not_applicable(TEMPO_FIELDS, f"{onsets['count']} onsets: a tempo needs {MIN_ONSETS}")
        frame_rate = self.onsets.analyser.frame_rate
        periodicity = estimate_period(self._envelope, frame_rate)
        if periodicity is None:
            return not_applicable(TEMPO_FIELDS, "too short to hold two beats")
        if periodicity.confidence < MIN_TEMPO_CONFIDENCE:
            return not_applicable(TEMPO_FIELDS, f"no steady pulse: confidence {periodicity.confidence:.2f} "
                                  f"< {MIN_TEMPO_CONFIDENCE}", confidence=periodicity.confidence)
        bpm = periodicity.bpm(frame_rate)
        beats, misfit = loops.beat_fit(duration_s, bpm)
        if beats >= 1 and misfit <= loops.MAX_MISFIT_BEATS:
            bpm = 60.0 * beats / duration_s
        beat_frames = track_beats(self._envelope, periodicity.period)
        times = [round(float(f / frame_rate), 3) for f in beat_frames[:MAX_LISTED_BEATS]]
        return outcome(TEMPO_FIELDS, bpm=round(bpm, 2), confidence=periodicity.confidence,
                       beat_count=len(beat_frames), beats_s=times)

    def _loop(self, duration_s: float, tempo: dict) -> dict:
        seam = self.seam.analyser.seam()
        if tempo["status"] != DescriptorStatus.OK:
            return outcome(LOOP_FIELDS, loopable=False, why_not="no tempo", **seam)
        beats, misfit = loops.beat_fit(duration_s, tempo["bpm"])
        why_not = None
        if beats < 1 or misfit > loops.MAX_MISFIT_BEATS:
            why_not = f"the length is {duration_s * tempo['bpm'] / 60:.2f} beats, not a whole number"
        elif loops.clicks(seam):
            why_not = "the end does not join the start without a click"
        return outcome(LOOP_FIELDS, loopable=why_not is None, beats=beats, misfit_beats=round(misfit, 3),
                       why_not=why_not, **seam)

    def _problems(self, dc_offset: list[float], silence: dict, band: dict | None) -> dict:
        found = problems.find_problems(sample_rate=self.sample_rate, channels=self.channels.analyser.result(),
                                       dc_offset=dc_offset, silence=silence, band=band)
        return outcome(PROBLEM_FIELDS, found=found)

    def _pitch(self, kind: dict) -> dict:
        if kind["status"] != DescriptorStatus.OK:
            return failed(PITCH_FIELDS, "the sample type is unknown")
        if kind["type"] != "one_shot":
            return not_applicable(PITCH_FIELDS, f"not a one-shot ({kind['type']})")
        return _guarded(self.pitch, PITCH_FIELDS, self.pitch.analyser.result)


def _sample_type(duration_s: float, onsets: dict, tempo: dict) -> dict:
    if onsets["status"] != DescriptorStatus.OK:
        return failed(TYPE_FIELDS, "the onsets failed")
    kind, why = loops.sample_type(duration_s, onsets["count"], tempo["status"] == DescriptorStatus.OK)
    return outcome(TYPE_FIELDS, type=kind, why=why)


def _guarded(analyser: Guarded, fields: tuple[str, ...], compute) -> dict:
    """``compute()``, or a ``failed`` descriptor if the analyser's feed failed or it raises."""
    if analyser.error is not None:
        return failure(fields, analyser.error)
    try:
        return compute()
    except Exception as error:  # noqa: BLE001 - a descriptor must not fail the job
        log.exception("descriptor %s failed; it is left out", analyser.name)
        return failure(fields, error)
