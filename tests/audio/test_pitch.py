"""Pitch of one-shots against notes of known frequency, librosa's YIN and its note names."""

import librosa
import numpy as np
import pytest

from audio_tasks.audio.descriptors.pitch import PitchTracker, note
from tests.audio.synth import chord, drum_loop, feed, harmonic_tone, midi_hz


def _cents(a, b):
    return 1200 * np.log2(a / b)


@pytest.mark.parametrize("rate", [22050, 44100, 96000])
def test_notes_from_c1_to_b6_within_20_cents(rate):
    """Decaying harmonic notes, 13 cents sharp of equal temperament, every 5 semitones."""
    for midi in range(24, 96, 5):
        frequency = midi_hz(midi + 0.13)
        result = feed(PitchTracker(rate), harmonic_tone(frequency, 1.0, rate, decay_s=0.4)).result()
        assert result["status"] == "ok", (midi, result)
        assert abs(_cents(result["frequency_hz"], frequency)) <= 20, (midi, result)
        assert result["midi_note"] == midi and result["cents"] == pytest.approx(13, abs=20)
        assert result["confidence"] >= 0.9


def test_agrees_with_librosa_yin_on_a_note_with_vibrato():
    rate = 22050
    t = np.arange(2 * rate) / rate
    phase = 2 * np.pi * 196 * t + 0.5 * np.sin(2 * np.pi * 5 * t)  # G3, ±13 cents at 5 Hz
    signal = sum(np.sin(k * phase) / k for k in range(1, 5)) * 0.2
    ours = feed(PitchTracker(rate), signal).result()["frequency_hz"]
    theirs = np.median(librosa.yin(signal.astype(np.float32), fmin=30, fmax=2093, sr=rate, frame_length=2048))
    assert abs(_cents(ours, theirs)) <= 20


@pytest.mark.parametrize("frequency", [27.6, 61.7, 440.0, 1046.5, 2000.0])
def test_note_names_and_cents_match_librosa(frequency):
    named = note(frequency)
    assert librosa.hz_to_note(frequency).replace("♯", "#") == named["note"]
    assert librosa.hz_to_midi(frequency) == pytest.approx(named["midi_note"] + named["cents"] / 100, abs=0.001)


@pytest.mark.parametrize("name, signal", [
    ("white noise", 0.1 * np.random.default_rng(8).standard_normal(44100)),
    ("drum loop", drum_loop(120, 4, 44100)[0]),
    ("digital silence", np.zeros(44100)),
])
def test_no_pitch_for_unpitched_sounds(name, signal):
    result = feed(PitchTracker(44100), signal).result()
    assert result["status"] == "not_applicable" and result["frequency_hz"] is None


def test_a_major_triad_reads_as_its_common_period():
    """A known limit, asserted so a change shows: YIN cannot tell a chord whose notes share a
    period (C4–E4–G4 ≈ 4:5:6) from a single C2 note."""
    result = feed(PitchTracker(44100), chord([60, 64, 67], 1.0, 44100)).result()
    assert result["note"] == "C2"
