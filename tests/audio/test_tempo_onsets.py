"""Onsets, tempo and beats against ground truth we constructed (drum patterns at known
tempi) scored by mir_eval, and against librosa's onset detector."""

import librosa
import mir_eval
import numpy as np
import pytest

from audio_tasks.audio.descriptors.onsets import OnsetEnvelope, pick_onsets
from audio_tasks.audio.descriptors.tempo import autocorrelation, estimate_period, track_beats
from tests.audio.synth import drum_loop, feed, harmonic_tone

RATE = 44100


def _analyse(signal, rate=RATE):
    analyser = feed(OnsetEnvelope(rate), signal)
    return analyser.envelope(), analyser.frame_rate


# Within this range the tempo is exact (≤ 2 %); outside it the metrical level can flip.
@pytest.mark.parametrize("bpm", [90, 100, 110, 120, 128, 140, 150])
def test_tempo_within_two_percent_and_beats_on_the_ground_truth(bpm):
    signal, truth = drum_loop(bpm, 16, RATE)
    envelope, frame_rate = _analyse(signal)
    periodicity = estimate_period(envelope, frame_rate)
    assert periodicity.bpm(frame_rate) == pytest.approx(bpm, rel=0.02)
    assert periodicity.confidence > 0.8
    beats = track_beats(envelope, periodicity.period) / frame_rate
    assert mir_eval.beat.f_measure(truth, beats) >= 0.9  # ±70 ms, the MIREX window


@pytest.mark.parametrize("bpm, reported", [(60, 120), (70, 140), (174, 87), (190, 95)])
def test_outside_90_to_150_bpm_the_error_is_an_octave(bpm, reported):
    """The accepted error: half or double the tempo (eighth-note hats read as the beat)."""
    envelope, frame_rate = _analyse(drum_loop(bpm, 16, RATE)[0])
    assert estimate_period(envelope, frame_rate).bpm(frame_rate) == pytest.approx(reported, rel=0.02)


@pytest.mark.parametrize("rate", [22050, 48000, 96000])
def test_tempo_at_other_sample_rates(rate):
    envelope, frame_rate = _analyse(drum_loop(124, 16, rate)[0], rate)
    assert estimate_period(envelope, frame_rate).bpm(frame_rate) == pytest.approx(124, rel=0.02)


def test_onsets_match_the_ground_truth_and_librosa():
    rate = 22050
    signal, truth = drum_loop(120, 16, rate)
    envelope, frame_rate = _analyse(signal, rate)
    ours = pick_onsets(envelope, frame_rate) / frame_rate
    hits = np.arange(32) * 0.25  # kick or snare on the beat, a hat on every eighth
    assert mir_eval.onset.f_measure(hits, ours)[0] >= 0.95  # ±50 ms
    theirs = librosa.onset.onset_detect(y=signal.astype(np.float32), sr=rate, units="time")
    assert mir_eval.onset.f_measure(theirs, ours)[0] >= 0.9


def test_a_single_note_has_one_onset_and_no_tempo():
    envelope, frame_rate = _analyse(harmonic_tone(220, 2.0, RATE, decay_s=0.5))
    assert len(pick_onsets(envelope, frame_rate)) == 1


def test_noise_has_no_pulse():
    noise = 0.1 * np.random.default_rng(3).standard_normal(8 * RATE)
    envelope, frame_rate = _analyse(noise)
    assert estimate_period(envelope, frame_rate).confidence < 0.3


def test_autocorrelation_of_a_periodic_train_is_one_at_its_period():
    train = np.zeros(4000)
    train[::50] = 1.0
    r = autocorrelation(train, 200)
    assert r[0] == pytest.approx(1.0)
    assert r[50] == pytest.approx(1.0, abs=0.01) and r[100] == pytest.approx(1.0, abs=0.01)
    assert r[25] < 0
