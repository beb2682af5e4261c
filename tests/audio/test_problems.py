"""Audio problems on signals built to have them (or not), with ffmpeg's resampler and
encoder making the band-limited cases and scipy's Welch estimate as the spectrum."""

import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile

from audio_tasks.audio.descriptors.problems import ChannelScan, band_limit, find_problems
from tests.audio.synth import feed, kick
from tests.audio.oracles import ffmpeg

RATE = 44100


def _scan(samples, block_frames=65536):
    return feed(ChannelScan(RATE, samples.shape[1]), samples, block_frames).result()


def _problems(samples, dc_offset=None, silence=None, band=None):
    return {p["problem"]: p for p in find_problems(
        sample_rate=RATE, channels=_scan(samples), dc_offset=dc_offset or [0.0] * samples.shape[1],
        silence=silence or {"longest_silence_s": 0.0, "longest_silence_start_s": None}, band=band)}


def test_clipping_counts_runs_of_three_or_more_across_block_boundaries():
    x = 0.5 * np.sin(np.linspace(0, 200, 50000))[:, None]
    x[1000:1002] = 1.0                 # 2 samples: a peak, not clipping
    x[2000:2005] = -1.0                # a run of 5
    x[65534:65540] = 1.0 if len(x) > 65540 else x[65534:65540]
    x[4094:4100] = 1.0                 # a run of 6 straddling the 4096-frame block edge
    scan = _scan(x.astype(np.float32), block_frames=4096)
    assert (scan["clip_runs"], scan["longest_clip_run"], scan["clipped_samples"]) == (2, 6, 13)
    assert _problems(x)["clipping"]["clip_runs"] == 2


def test_identical_channels_are_mono_in_stereo_and_different_ones_are_not():
    mono = 0.3 * np.random.default_rng(1).standard_normal(RATE)
    assert "mono_in_stereo" in _problems(np.column_stack([mono, mono]))
    nearly = np.column_stack([mono, mono + 1e-4 * np.random.default_rng(2).standard_normal(RATE)])  # −70 dB
    assert _problems(nearly)["mono_in_stereo"]["channel_difference_db"] == pytest.approx(-69.5, abs=1)
    wide = np.column_stack([mono, np.roll(mono, 10)])
    assert "mono_in_stereo" not in _problems(wide)


def test_dc_offset_and_long_silence_are_flagged_from_their_measurements():
    x = np.zeros((RATE, 1))
    found = _problems(x, dc_offset=[0.02], silence={"longest_silence_s": 2.5, "longest_silence_start_s": 1.0})
    assert found["dc_offset"]["dc_offset"] == [0.02] and found["long_silence"]["seconds"] == 2.5
    assert not _problems(x, dc_offset=[0.005], silence={"longest_silence_s": 1.9, "longest_silence_start_s": 0.0})


def _welch(path):
    rate, data = wavfile.read(path)
    mono = data.astype(np.float64).mean(axis=1) if data.ndim > 1 else data.astype(np.float64)
    return signal.welch(mono, rate, nperseg=2048)


@pytest.fixture(scope="module")
def noise_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("band") / "noise.wav"
    wavfile.write(path, RATE, (0.2 * np.random.default_rng(4).standard_normal(5 * RATE)).astype(np.float32))
    return path


@pytest.mark.parametrize("low_rate, high_rate, codec", [
    (22050, 44100, "pcm_s16le"), (16000, 44100, "pcm_f32le"), (32000, 48000, "pcm_s16le")])
def test_audio_upsampled_by_ffmpeg_is_band_limited_at_the_old_nyquist(noise_wav, tmp_path, low_rate, high_rate,
                                                                      codec):
    upsampled = tmp_path / "up.wav"
    ffmpeg("-i", str(noise_wav), "-af", f"aresample={low_rate}:resampler=soxr,aresample={high_rate}:resampler=soxr",
           "-c:a", codec, str(upsampled))
    band = band_limit(*_welch(upsampled))
    assert band is not None and band["cutoff_hz"] == pytest.approx(low_rate / 2, rel=0.05)
    found = find_problems(sample_rate=high_rate, channels=_scan(np.zeros((10, 1))), dc_offset=[0.0],
                          silence={"longest_silence_s": 0.0, "longest_silence_start_s": None}, band=band)
    assert [p["problem"] for p in found] == ["band_limited"]


def test_full_band_noise_a_kick_and_a_sine_are_not_band_limited(noise_wav, tmp_path):
    assert band_limit(*_welch(noise_wav)) is None
    for name, x in (("kick", kick(RATE)), ("sine", 0.5 * np.sin(2 * np.pi * 1500 * np.arange(RATE) / RATE))):
        path = tmp_path / f"{name}.wav"
        wavfile.write(path, RATE, x.astype(np.float32))
        band = band_limit(*_welch(path))
        assert "band_limited" not in _problems(np.zeros((10, 1)), band=band), name


def test_an_mp3s_low_pass_is_measured_but_not_flagged(noise_wav, tmp_path):
    mp3, wav = tmp_path / "n.mp3", tmp_path / "n.wav"
    ffmpeg("-i", str(noise_wav), "-c:a", "libmp3lame", "-b:a", "128k", str(mp3))
    ffmpeg("-i", str(mp3), str(wav))
    band = band_limit(*_welch(wav))
    assert band is not None and 15000 <= band["cutoff_hz"] <= 21000  # LAME's low-pass at 128 kbit/s
    assert "band_limited" not in _problems(np.zeros((10, 1)), band=band)
