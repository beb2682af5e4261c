"""The descriptors as a job reports them: process_file on real files, analysis.json."""

import json

import numpy as np
import pytest

from audio_tasks.audio.options import AudioOptions
from audio_tasks.audio.pipeline import process_file
from audio_tasks.audio.silence import SilenceDetector
from tests.audio.oracles import ffmpeg, write_float_wav
from tests.audio.synth import drum_loop, feed, harmonic_tone, midi_hz

RATE = 44100


def test_a_drum_loop_mp3_is_described_in_analysis_json(tmp_path):
    wav = write_float_wav(tmp_path / "loop.wav", 0.5 * np.column_stack([drum_loop(124, 16, RATE)[0]] * 2), RATE)
    mp3 = tmp_path / "loop.mp3"
    ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "192k", str(mp3))
    result = process_file(mp3, tmp_path / "out")
    descriptors = json.loads((tmp_path / "out" / "analysis.json").read_text())["descriptors"]
    assert descriptors == result.measurements["descriptors"]
    assert descriptors["tempo"]["bpm"] == pytest.approx(124, rel=0.02)
    assert descriptors["sample_type"]["type"] == "loop"
    assert [p["problem"] for p in descriptors["problems"]["found"]] == ["mono_in_stereo"]


def test_a_note_one_shot_upsampled_from_22_khz(tmp_path):
    note = harmonic_tone(midi_hz(57), 1.5, 22050, decay_s=0.3) + 1e-3 * np.random.default_rng(0).standard_normal(
        int(1.5 * 22050))  # A3 over a little noise, so the spectrum is broadband below 11 kHz
    source = write_float_wav(tmp_path / "low.wav", note[:, None], 22050)
    upsampled = tmp_path / "up.wav"
    ffmpeg("-i", str(source), "-af", f"aresample={RATE}:resampler=soxr", "-c:a", "pcm_s16le", str(upsampled))
    descriptors = process_file(upsampled).measurements["descriptors"]
    assert descriptors["sample_type"]["type"] == "one_shot"
    assert descriptors["pitch"]["note"] == "A3" and abs(descriptors["pitch"]["cents"]) <= 20
    band = {p["problem"]: p for p in descriptors["problems"]["found"]}["band_limited"]
    assert band["cutoff_hz"] == pytest.approx(11025, rel=0.05)


def test_descriptors_can_be_turned_off(tmp_path):
    path = write_float_wav(tmp_path / "a.wav", harmonic_tone(440, 0.5, RATE)[:, None], RATE)
    assert "descriptors" not in process_file(path, options=AudioOptions(descriptors=False)).measurements


def test_the_longest_silence_is_found_wherever_it_is():
    rate = 1000
    x = np.zeros((10000, 2), dtype=np.float32)
    x[500:1000] = 0.5          # sound, then 3.0 s of silence (1000-3999)
    x[4000:4100, 1] = 0.5      # sound in one channel, then 1.9 s of silence
    x[6000:9500] = 0.5         # sound to 9499, then 0.5 s trailing
    for block in (10000, 333, 64):
        result = feed(SilenceDetector(rate), x, block).result()
        assert (result["longest_silence_s"], result["longest_silence_start_s"]) == (3.0, 1.0)
