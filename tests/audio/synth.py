"""Test signals with known ground truth: drum patterns at known tempi, notes at known
pitches, chord progressions in known keys. Built from first principles (decaying sines,
noise bursts, harmonic tones), so the truth is the construction itself."""

from __future__ import annotations

import numpy as np

A4_HZ = 440.0


def midi_hz(note: float) -> float:
    return A4_HZ * 2 ** ((note - 69) / 12)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def kick(rate: int) -> np.ndarray:
    """A 0.3 s bass drum: a sine sweeping 150 → 50 Hz under a fast exponential decay."""
    t = np.arange(int(0.3 * rate)) / rate
    frequency = 50 + 100 * np.exp(-t / 0.03)
    return 0.9 * np.exp(-t / 0.08) * np.sin(2 * np.pi * np.cumsum(frequency) / rate)


def snare(rate: int, seed: int = 1) -> np.ndarray:
    """A 0.2 s snare: a noise burst over a 180 Hz body."""
    t = np.arange(int(0.2 * rate)) / rate
    body = 0.4 * np.sin(2 * np.pi * 180 * t) * np.exp(-t / 0.03)
    return body + 0.5 * _rng(seed).standard_normal(len(t)) * np.exp(-t / 0.05)


def hat(rate: int, seed: int = 2) -> np.ndarray:
    """A 50 ms closed hi-hat: high-passed noise (first difference) with a 10 ms decay."""
    t = np.arange(int(0.05 * rate)) / rate
    return 0.3 * np.diff(_rng(seed).standard_normal(len(t) + 1)) * np.exp(-t / 0.01)


def place(length: int, hits: list[tuple[float, np.ndarray]], rate: int) -> np.ndarray:
    """Mix each (time in s, sound) into a silent signal of ``length`` samples."""
    out = np.zeros(length)
    for time_s, sound in hits:
        start = int(round(time_s * rate))
        end = min(length, start + len(sound))
        if start < length:
            out[start:end] += sound[:end - start]
    return out


def drum_loop(bpm: float, beats: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A rock beat (kick on 1 and 3, snare on 2 and 4, closed hat on every eighth) lasting
    exactly ``beats`` beats; returns (mono signal, ground-truth beat times in s)."""
    period = 60.0 / bpm
    length = int(round(beats * period * rate))
    hits = []
    for beat in range(beats):
        time = beat * period
        hits.append((time, kick(rate) if beat % 2 == 0 else snare(rate, seed=beat)))
        hits += [(time, hat(rate, seed=2 * beat)), (time + period / 2, hat(rate, seed=2 * beat + 1))]
    return place(length, hits, rate), np.arange(beats) * period


def harmonic_tone(frequency: float, seconds: float, rate: int, harmonics: int = 6,
                  decay_s: float | None = None) -> np.ndarray:
    """A tone with ``harmonics`` partials of amplitude 1/k, optionally decaying."""
    t = np.arange(int(round(seconds * rate))) / rate
    tone = sum(np.sin(2 * np.pi * k * frequency * t) / k for k in range(1, harmonics + 1)
               if k * frequency < rate / 2)
    envelope = np.exp(-t / decay_s) if decay_s else np.minimum(1, t / 0.01) * np.minimum(1, (t[-1] - t) / 0.01)
    return 0.3 * tone * envelope


def chord(notes: list[int], seconds: float, rate: int) -> np.ndarray:
    return sum(harmonic_tone(midi_hz(n), seconds, rate) for n in notes) / len(notes)


# Cadences that fix a key: I–IV–V–I in major; i–iv–V–i in harmonic minor (semitones above the tonic).
MAJOR_CADENCE = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]]
MINOR_CADENCE = [[0, 3, 7], [5, 8, 12], [7, 11, 14], [0, 3, 7]]


def progression(tonic: int, minor: bool, rate: int, seconds_per_chord: float = 1.0) -> np.ndarray:
    """The cadence of ``tonic`` (a pitch class, 0 = C), voiced around C4, with the tonic
    as a bass note under every chord of the tonic."""
    cadence = MINOR_CADENCE if minor else MAJOR_CADENCE
    root = 60 + tonic - (12 if tonic > 6 else 0)
    return np.concatenate([chord([root + i for i in triad] + [root - 12 + triad[0]], seconds_per_chord, rate)
                           for triad in cadence])


def feed(analyser, samples: np.ndarray, block_frames: int = 65536):
    """Feed ``samples`` ((frames,) or (frames, channels)) as the decoder does: float32
    blocks of ``block_frames`` frames, in order. Returns the analyser."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    for start in range(0, len(samples), block_frames):
        analyser.feed(samples[start:start + block_frames])
    return analyser
