"""Loop or one-shot, and seamless loops, on signals whose answer is known by construction."""

import numpy as np
import pytest

from audio_tasks.audio.descriptors.describe import Descriptors
from audio_tasks.audio.descriptors import loops
from audio_tasks.audio.descriptors.loops import SeamProbe, clicks
from tests.audio.synth import chord, drum_loop, feed, harmonic_tone, kick, midi_hz, place, progression, snare

RATE = 44100
NO_SILENCE = {"longest_silence_s": 0.0, "longest_silence_start_s": None}


def describe(signal, rate=RATE):
    signal = np.asarray(signal, dtype=np.float32)
    signal = signal[:, None] if signal.ndim == 1 else signal
    descriptors = feed(Descriptors(rate, signal.shape[1]), signal)
    return descriptors.result(len(signal) / rate, [0.0] * signal.shape[1], NO_SILENCE, None)


def _seam(signal):
    return feed(SeamProbe(RATE, 1), signal).seam()


def test_a_sine_cut_on_whole_periods_joins_without_a_click():
    t = np.arange(RATE) / RATE  # 1 s of 441 Hz: exactly 441 periods
    assert not clicks(_seam(0.5 * np.sin(2 * np.pi * 441 * t)))


def test_a_sine_cut_mid_period_clicks():
    t = np.arange(RATE - 37) / RATE
    seam = _seam(0.5 * np.sin(2 * np.pi * 441 * t))
    assert clicks(seam) and seam["seam_ratio"] > 10


@pytest.mark.parametrize("bpm, beats", [(120, 8), (95, 16), (140, 4)])
def test_a_drum_loop_of_whole_beats_is_a_loopable_loop(bpm, beats):
    result = describe(drum_loop(bpm, beats, RATE)[0])
    assert result["sample_type"]["type"] == "loop"
    assert result["loop"]["loopable"] is True and result["loop"]["beats"] == beats
    assert result["tempo"]["bpm"] == pytest.approx(bpm, rel=0.001)  # from the loop's length
    assert result["pitch"]["status"] == "not_applicable"


def test_a_loop_cut_off_the_beat_grid_is_not_loopable():
    signal = drum_loop(120, 8, RATE)[0][:int(3.7 * RATE)]  # 7.4 beats
    loop = describe(signal)["loop"]
    assert loop["loopable"] is False and loop["misfit_beats"] == pytest.approx(0.4, abs=0.05)


def _bass_line(last_note_decays: bool):
    """Eight notes on the beats at 120 BPM, each starting at a zero crossing; the last one
    either decays to silence or holds and is cut mid-cycle by the end of the file."""
    hits = [(beat * 0.5, harmonic_tone(midi_hz(40 + beat % 4), 0.5, RATE, decay_s=0.08)) for beat in range(7)]
    last = harmonic_tone(midi_hz(43.3), 0.5, RATE, decay_s=0.08 if last_note_decays else 100.0)
    return place(4 * RATE, hits + [(3.5, last)], RATE)


def test_a_loop_whose_end_joins_its_start_is_loopable_and_one_that_clicks_is_not():
    seamless, clicking = describe(_bass_line(True))["loop"], describe(_bass_line(False))["loop"]
    assert seamless["loopable"] is True and seamless["beats"] == 8
    assert clicking["loopable"] is False and "click" in clicking["why_not"]
    assert clicking["seam_ratio"] > loops.CLICK_RATIO >= seamless["seam_ratio"]


def test_irregular_hits_are_other():
    times = [0.0, 0.37, 1.1, 1.24, 2.3, 3.05, 3.4, 4.6, 4.75, 5.9]
    result = describe(place(6 * RATE, [(t, snare(RATE, seed=i)) for i, t in enumerate(times)], RATE))
    assert result["sample_type"]["type"] == "other" and result["tempo"]["status"] == "not_applicable"


@pytest.mark.parametrize("name, signal", [
    ("kick", kick(RATE)), ("snare", snare(RATE)),
    ("piano-like note", harmonic_tone(261.63, 2.0, RATE, decay_s=0.5)),
    ("chord stab", chord([60, 64, 67], 1.5, RATE)),
])
def test_single_sounds_are_one_shots(name, signal):
    result = describe(signal)
    assert result["sample_type"]["type"] == "one_shot"
    assert result["tempo"]["status"] == "not_applicable" and result["tempo"]["bpm"] is None
    assert result["loop"]["loopable"] is False


def test_a_pitched_one_shot_has_a_pitch():
    result = describe(harmonic_tone(261.63, 2.0, RATE, decay_s=0.5))
    assert result["pitch"]["status"] == "ok" and result["pitch"]["note"] == "C4"


def test_a_chord_loop_has_a_tempo_and_a_key():
    result = describe(progression(0, False, RATE))  # four chords, one a second
    assert result["sample_type"]["type"] == "loop" and result["tempo"]["bpm"] in (60.0, 120.0)
    assert (result["key"]["key"], result["key"]["scale"]) == ("C", "major")


def test_every_descriptor_has_a_status_and_a_fixed_schema():
    silent, loud = describe(np.zeros(RATE)), describe(drum_loop(120, 8, RATE)[0])
    for name in silent:
        assert silent[name]["status"] in ("ok", "not_applicable", "failed")
        assert set(silent[name]) - {"reason"} == set(loud[name]) - {"reason"}


def test_a_descriptor_that_fails_is_recorded_and_the_others_still_report():
    """Declared stereo, fed three channels: the seam and channel analysers cannot take the
    blocks and fail; the mixdown-based ones (onsets, tempo, key, pitch) work on."""
    signal = np.repeat(drum_loop(120, 8, RATE)[0][:, None], 3, axis=1)
    descriptors = feed(Descriptors(RATE, 2), signal)
    result = descriptors.result(len(signal) / RATE, [0.0, 0.0], NO_SILENCE, None)
    assert result["problems"]["status"] == result["loop"]["status"] == "failed"
    assert result["problems"]["reason"].startswith("ValueError") and result["problems"]["found"] is None
    assert result["tempo"]["status"] == "ok" and result["sample_type"]["type"] == "loop"
