"""Every kind of bad input raises one specific permanent error; silence is not an error."""

import os
import struct
import subprocess

import numpy as np
import pytest

from audio_tasks.audio.errors import InputTooLarge, InvalidAudio
from audio_tasks.audio.pipeline import Limits, process_file
from tests.audio.oracles import ffmpeg, sine, write_float_wav


def _wav_header(data_bytes: int, rate: int = 44100, channels: int = 2) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (b"RIFF" + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", data_bytes))


@pytest.fixture(scope="module")
def flac(tmp_path_factory):
    path = tmp_path_factory.mktemp("flac") / "full.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=5", "-c:a", "flac", str(path))
    return path


BAD = {
    "empty": (lambda d, flac: b"", InvalidAudio, "empty"),
    "random bytes": (lambda d, flac: np.random.default_rng(0).bytes(50_000), InvalidAudio, "not a recognised audio"),
    "text named .wav": (lambda d, flac: b"hello, this is not audio\n" * 100, InvalidAudio, "not a recognised audio"),
    "header-only wav": (lambda d, flac: _wav_header(0), InvalidAudio, "contains no audio samples"),
    "wav claiming 4 GiB": (lambda d, flac: _wav_header(0xFFFFFFF0) + os.urandom(4000), InvalidAudio,
                           "declares 4294967280 bytes of audio data"),
    "truncated flac": (lambda d, flac: flac.read_bytes()[: flac.stat().st_size // 3], InvalidAudio,
                       "the file is truncated"),
    "png named .ogg": (None, InvalidAudio, "contains no audio stream"),
}


@pytest.mark.parametrize("make, error, message", BAD.values(), ids=BAD.keys())
def test_bad_input_raises_a_specific_permanent_error(tmp_path, flac, make, error, message):
    path = tmp_path / "upload.bin"
    if make is None:  # a real PNG, named as audio
        png = tmp_path / "image.png"
        ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(png))
        path = tmp_path / "upload.ogg"
        path.write_bytes(png.read_bytes())
    else:
        path.write_bytes(make(tmp_path, flac))
    with pytest.raises(error, match=message) as raised:
        process_file(path, tmp_path / "out")
    assert not raised.value.retryable


def test_inputs_over_the_size_limit_are_refused(flac):
    with pytest.raises(InputTooLarge, match=r"the file is \d+ bytes; the limit is 1000"):
        process_file(flac, limits=Limits(max_bytes=1000))


def test_inputs_over_the_duration_limit_are_refused(flac):
    with pytest.raises(InputTooLarge, match="the audio lasts 5 s; the limit is 2 s"):
        process_file(flac, limits=Limits(max_duration_s=2))


def test_a_decoder_that_overruns_its_time_limit_is_killed(tmp_path):
    path = write_float_wav(tmp_path / "long.wav", np.zeros((48000 * 600, 2), dtype=np.float32), 48000)
    with pytest.raises(InvalidAudio, match="longer than"):
        process_file(path, limits=Limits(decode_timeout_s=0.05))
    leftovers = subprocess.run(["pgrep", "-f", str(path)], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_a_very_short_file_is_measured_without_gating_blocks(tmp_path):
    path = write_float_wav(tmp_path / "blip.wav", sine(0.2, 48000, 1000, -10)[:, None], 48000)
    measurements = process_file(path).measurements
    assert measurements["integrated_lufs"] is None  # shorter than one 400 ms gating block
    assert measurements["sample_peak_dbfs"] == pytest.approx(-10.0, abs=0.05)


def test_a_file_that_ends_inside_its_header_is_reported_as_such(tmp_path, flac):
    path = tmp_path / "cut.flac"
    path.write_bytes(flac.read_bytes()[:100])
    with pytest.raises(InvalidAudio, match="ends before any audio data"):
        process_file(path)


def test_periodic_pcm_is_not_mistaken_for_another_container(tmp_path):
    # A 1 kHz float tone at 48 kHz repeats every 192 bytes: ffmpeg's own probe calls it M2TS.
    path = write_float_wav(tmp_path / "blip.wav", sine(0.2, 48000, 1000, -10)[:, None], 48000)
    assert process_file(path).metadata["codec"] == "pcm_f32le"
