"""Key and scale against cadences in known keys, and our chroma against librosa's."""

import librosa
import numpy as np
import pytest

from audio_tasks.audio.descriptors.key import PITCH_CLASSES, ChromaMeter
from tests.audio.synth import drum_loop, feed, progression

RATE = 22050


@pytest.mark.parametrize("minor", [False, True], ids=["major", "minor"])
def test_every_key_is_found_exactly(minor):
    """I–IV–V–I (major) and i–iv–V–i (harmonic minor) in all 12 keys: exact, not relative."""
    found = []
    for tonic in range(12):
        result = feed(ChromaMeter(RATE), progression(tonic, minor, RATE)).result()
        found.append((result["key"], result["scale"]))
        assert result["status"] == "ok" and result["confidence"] >= 0.8
    assert found == [(name, "minor" if minor else "major") for name in PITCH_CLASSES]


def test_chroma_agrees_with_librosa():
    signal = progression(9, True, RATE)  # A minor
    ours = feed(ChromaMeter(RATE), signal).chroma
    theirs = librosa.feature.chroma_stft(y=signal.astype(np.float32), sr=RATE, n_fft=8192, tuning=0.0).sum(axis=1)
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.9
    assert np.argmax(ours) == np.argmax(theirs)


@pytest.mark.parametrize("name, signal", [
    ("white noise", 0.1 * np.random.default_rng(5).standard_normal(4 * RATE)),
    ("drum loop", drum_loop(120, 8, RATE)[0]),
    ("digital silence", np.zeros(RATE)),
])
def test_no_key_for_atonal_material(name, signal):
    result = feed(ChromaMeter(RATE), signal).result()
    assert result["status"] == "not_applicable" and result["key"] is None and result["reason"]
