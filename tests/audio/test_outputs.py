"""The artifacts: house-format WAV, MP3 preview, waveform peaks, spectrogram — checked
with ffmpeg's own measurements and an independent decode, and byte-for-byte repeatable."""

import json
import struct
import subprocess

import numpy as np
import pytest

from audio_tasks.audio.ffmpeg import ffmpeg_exe, probe
from audio_tasks.audio.options import AudioOptions, Limits
from audio_tasks.audio.pipeline import process_file
from tests.audio.oracles import ARTIFACT_NAMES, decode_s16, ebur128, ffmpeg, sine, write_float_wav

RATE = 48000


@pytest.fixture(scope="module")
def dynamic_48k(tmp_path_factory):
    """Stereo 48 kHz with a loud and a quiet half, leading and trailing silence."""
    rng = np.random.default_rng(3)
    body = np.concatenate([sine(3, RATE, 440, -8), sine(3, RATE, 880, -26)]) + 0.01 * rng.standard_normal(6 * RATE)
    signal = np.concatenate([np.zeros(RATE), body, np.zeros(RATE // 2)])
    return write_float_wav(tmp_path_factory.mktemp("in") / "dynamic.wav", np.column_stack([signal, 0.8 * signal]),
                           RATE)


def test_house_wav_is_16_bit_44k1_at_target_loudness_under_the_ceiling(dynamic_48k, tmp_path):
    result = process_file(dynamic_48k, tmp_path)
    info = probe(result.artifacts["house.wav"])
    assert (info.codec, info.sample_rate, info.bit_depth) == ("pcm_s16le", 44100, 16)
    measured = ebur128(result.artifacts["house.wav"])
    assert measured["integrated_lufs"] == pytest.approx(-23.0, abs=0.5)
    assert measured["true_peak_dbtp"] <= -1.0


def test_a_loud_peaky_file_is_held_under_the_true_peak_ceiling(tmp_path):
    # Sparse clicks over quiet noise: reaching -16 LUFS would need far more than 0 dBTP.
    rng = np.random.default_rng(5)
    signal = 0.003 * rng.standard_normal(10 * RATE)
    signal[::RATE // 2] = 0.9
    path = write_float_wav(tmp_path / "clicks.wav", np.column_stack([signal, signal]), RATE)
    result = process_file(path, tmp_path / "out", options=AudioOptions(target_lufs=-16.0, true_peak_ceiling_dbtp=-1.0))
    measured = ebur128(result.artifacts["house.wav"])
    assert measured["true_peak_dbtp"] <= -1.0
    assert measured["integrated_lufs"] < -16.0  # the ceiling wins over the target


def test_options_change_rate_target_and_trim(dynamic_48k, tmp_path):
    options = AudioOptions(house_sample_rate=48000, target_lufs=-18.0, trim_silence=True)
    result = process_file(dynamic_48k, tmp_path, options=options)
    house = result.artifacts["house.wav"]
    assert probe(house).sample_rate == 48000
    assert ebur128(house)["integrated_lufs"] == pytest.approx(-18.0, abs=0.5)
    frames = len(decode_s16(house, 2))
    assert frames / 48000 == pytest.approx(6.0, abs=0.01)  # 1 s leading and 0.5 s trailing silence gone


@pytest.mark.parametrize("spool_bytes", [Limits().max_spool_bytes, 4096], ids=["from the spool", "spool too small"])
def test_house_wav_is_what_ffmpeg_makes_from_the_input_itself(dynamic_48k, tmp_path, spool_bytes):
    # The house WAV comes from the spooled first decode (or, past the spool's limit, a second
    # decode); either way it must be what ffmpeg's own gain + soxr chain makes of the input.
    mp3 = tmp_path / "dynamic.mp3"
    ffmpeg("-i", str(dynamic_48k), "-c:a", "libmp3lame", "-b:a", "192k", str(mp3))
    result = process_file(mp3, tmp_path / "out", limits=Limits(max_spool_bytes=spool_bytes))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ARTIFACT_NAMES  # no spool left behind
    gain = result.measurements["house_format"]["gain_db"]
    ffmpeg("-i", str(mp3), "-af", f"volume={gain}dB:precision=double,aresample=44100:resampler=soxr",
           "-c:a", "pcm_s16le", str(tmp_path / "oracle.wav"))
    ours, oracle = decode_s16(result.artifacts["house.wav"], 2), decode_s16(tmp_path / "oracle.wav", 2)
    assert ours.shape == oracle.shape
    assert np.abs(ours.astype(np.int32) - oracle).max() <= 1


def test_preview_is_an_mp3_at_the_requested_bitrate(dynamic_48k, tmp_path):
    result = process_file(dynamic_48k, tmp_path, options=AudioOptions(preview_bitrate_kbps=96))
    info = probe(result.artifacts["preview.mp3"])
    assert (info.container, info.codec, info.bit_rate_kbps) == ("mp3", "mp3", 96)


@pytest.mark.parametrize("source_kbps, copied", [(96, True), (128, True), (192, False)])
def test_an_mp3_at_or_below_the_preview_rate_becomes_the_preview_unchanged(dynamic_48k, tmp_path, source_kbps,
                                                                           copied):
    # No second MP3 generation: the preview's frames are the source's, packet for packet
    # (ffmpeg's framemd5 hashes each packet's bytes); a richer source is encoded at 128 kbit/s.
    source = tmp_path / "source.mp3"
    ffmpeg("-i", str(dynamic_48k), "-c:a", "libmp3lame", "-b:a", f"{source_kbps}k", str(source))
    preview = process_file(source, tmp_path / "out").artifacts["preview.mp3"]
    assert (_packet_hashes(preview) == _packet_hashes(source)) is copied
    assert probe(preview).bit_rate_kbps == (source_kbps if copied else 128)


def _packet_hashes(path) -> list[str]:
    report = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-c", "copy",
                             "-f", "framemd5", "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.rsplit(",", 1)[1].strip() for line in report.splitlines() if line and not line.startswith("#")]


def test_the_opus_preview_is_ogg_opus_at_48_khz_and_as_long_as_the_source(dynamic_48k, tmp_path):
    result = process_file(dynamic_48k, tmp_path)
    info = probe(result.artifacts["preview.opus"])
    assert (info.container, info.codec, info.sample_rate) == ("ogg", "opus", 48000)
    assert info.duration_s == pytest.approx(7.5, abs=0.03)


def test_waveform_images_show_the_loud_and_the_quiet_half(tmp_path):
    from matplotlib.image import imread

    loud_then_quiet = np.concatenate([sine(2, RATE, 100, 20 * np.log10(0.8)), sine(2, RATE, 100, 20 * np.log10(0.1))])
    result = process_file(write_float_wav(tmp_path / "in.wav", loud_then_quiet[:, None], RATE), tmp_path / "out")
    for name, (width, height) in {"waveform-small.png": (120, 71), "waveform-large.png": (900, 201)}.items():
        ink = imread(result.artifacts[name])[:, :, 3] > 0
        assert ink.shape == (height, width)
        heights = ink.sum(axis=0) / height  # each column spans min..max: 2 × peak of the full height
        assert np.median(heights[:width // 2 - 2]) == pytest.approx(0.8, abs=0.05)
        assert np.median(heights[width // 2 + 2:]) == pytest.approx(0.1, abs=0.05)


@pytest.mark.parametrize("bits, samples_per_pixel", [(16, 256), (8, 512)])
def test_waveform_peaks_agree_with_an_independent_decode(tmp_path, bits, samples_per_pixel):
    # A 16-bit mono source: the independent s16 decode is exact, so min/max must agree.
    rng = np.random.default_rng(11)
    signal = np.round((0.4 * sine(2, 44100, 220, 0) + 0.05 * rng.standard_normal(88200)) * 32767) / 32768
    source = write_float_wav(tmp_path / "src.wav", signal[:, None], 44100)
    ffmpeg("-i", str(source), "-c:a", "pcm_s16le", str(tmp_path / "mono16.wav"))
    result = process_file(tmp_path / "mono16.wav", tmp_path / "out",
                          options=AudioOptions(waveform_bits=bits, waveform_samples_per_pixel=samples_per_pixel))
    waveform = json.loads(result.artifacts["waveform.json"].read_text())
    samples = decode_s16(tmp_path / "mono16.wav", 1)[:, 0].astype(np.int64)
    pixels = [samples[i:i + samples_per_pixel] for i in range(0, len(samples), samples_per_pixel)]
    expected = np.array([[p.min(), p.max()] for p in pixels])
    if bits == 8:
        expected = expected >> 8
    assert {k: waveform[k] for k in ("version", "channels", "sample_rate", "samples_per_pixel", "bits", "length")} == \
        {"version": 2, "channels": 1, "sample_rate": 44100, "samples_per_pixel": samples_per_pixel, "bits": bits,
         "length": len(pixels)}
    assert waveform["data"] == expected.ravel().tolist()


def test_spectrogram_is_a_png_with_axes(dynamic_48k, tmp_path):
    result = process_file(dynamic_48k, tmp_path)
    png = result.artifacts["spectrogram.png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (1000, 400)


def test_artifacts_are_byte_for_byte_repeatable(dynamic_48k, tmp_path):
    first = process_file(dynamic_48k, tmp_path / "a")
    second = process_file(dynamic_48k, tmp_path / "b")
    assert sorted(first.artifacts) == ARTIFACT_NAMES
    for name, path in first.artifacts.items():
        assert path.read_bytes() == second.artifacts[name].read_bytes(), name
