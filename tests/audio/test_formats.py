"""Every common format decodes, by content not by name, with the right metadata."""

import shutil

import numpy as np
import pytest

from audio_tasks.audio.pipeline import process_file
from tests.audio.oracles import astats, ffmpeg, sine, write_float_wav

# (file name, ffmpeg output options, sample rate, channels, expected codec, bit depth)
FORMATS = [
    ("u8.wav", ["-c:a", "pcm_u8"], 8000, 1, "pcm_u8", 8),
    ("s16.wav", ["-c:a", "pcm_s16le"], 44100, 2, "pcm_s16le", 16),
    ("s24.wav", ["-c:a", "pcm_s24le"], 96000, 2, "pcm_s24le", 24),
    ("s32.wav", ["-c:a", "pcm_s32le"], 192000, 1, "pcm_s32le", 32),
    ("f32.wav", ["-c:a", "pcm_f32le"], 48000, 4, "pcm_f32le", 32),
    ("mulaw.wav", ["-c:a", "pcm_mulaw"], 8000, 1, "pcm_mulaw", 8),
    ("alaw.wav", ["-c:a", "pcm_alaw"], 8000, 1, "pcm_alaw", 8),
    ("tone.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"], 44100, 2, "mp3", None),
    ("tone.flac", ["-c:a", "flac", "-sample_fmt", "s16"], 22050, 6, "flac", 16),
    ("tone.ogg", ["-c:a", "libvorbis"], 44100, 2, "vorbis", None),
    ("opus.ogg", ["-c:a", "libopus", "-b:a", "96k"], 48000, 2, "opus", None),
    ("opus.webm", ["-c:a", "libopus", "-b:a", "96k"], 48000, 1, "opus", None),
    ("tone.m4a", ["-c:a", "aac", "-b:a", "128k"], 44100, 2, "aac", None),
    ("eight.wav", ["-c:a", "pcm_s16le"], 48000, 8, "pcm_s16le", 16),
]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    files = {}
    for name, options, rate, channels, _, _ in FORMATS:
        source = write_float_wav(folder / f"src-{name}.wav",
                                 np.column_stack([sine(1.0, rate, 440 * (c + 1), -12) for c in range(channels)]), rate)
        ffmpeg("-i", str(source), *options, str(folder / name))
        files[name] = folder / name
    return files


@pytest.mark.parametrize("name, options, rate, channels, codec, bits", FORMATS, ids=[f[0] for f in FORMATS])
def test_format_decodes_with_metadata(encoded, name, options, rate, channels, codec, bits):
    result = process_file(encoded[name])
    meta = result.metadata
    assert (meta["codec"], meta["sample_rate"], meta["channels"], meta["bit_depth"]) == (codec, rate, channels, bits)
    # Lossy codecs add encoder delay/padding; PCM and FLAC are exact.
    assert meta["duration_s"] == pytest.approx(1.0, abs=0.001 if bits else 0.08)
    assert meta["size_bytes"] == encoded[name].stat().st_size
    oracle = astats(encoded[name])
    assert result.measurements["sample_peak_dbfs"] == pytest.approx(oracle["sample_peak_dbfs"], abs=0.05)
    assert result.measurements["rms_dbfs"] == pytest.approx(oracle["rms_dbfs"], abs=0.05)


def test_format_is_detected_by_content_not_name(encoded, tmp_path):
    disguised = tmp_path / "really flac — é.wav"
    no_extension = tmp_path / "upload"
    shutil.copy(encoded["tone.flac"], disguised)
    shutil.copy(encoded["tone.m4a"], no_extension)
    assert process_file(disguised).metadata["codec"] == "flac"
    assert process_file(no_extension).metadata["codec"] == "aac"
    assert "mp4" in process_file(no_extension).metadata["container"]
