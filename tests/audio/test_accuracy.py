"""Measurements checked against references we did not write: EBU Tech 3341/3342 test
signals (synthesised from the specs), ffmpeg's ebur128 and astats filters, pyloudnorm."""

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import firwin, upfirdn

from audio_tasks.audio.levels import LevelMeter
from audio_tasks.audio.pipeline import process_file
from audio_tasks.audio.silence import SilenceDetector
from tests.audio.oracles import (
    astats,
    decode_s16,
    ebur128,
    ffmpeg,
    sine,
    stereo,
    write_float_wav,
)

RATE = 48000


def _sections(*parts: tuple[float, float], rate: int = RATE) -> np.ndarray:
    """Stereo 1 kHz sine made of (seconds, dBFS) sections, as the EBU test signals are."""
    return stereo(np.concatenate([sine(seconds, rate, 1000, dbfs) for seconds, dbfs in parts]))


# EBU Tech 3341 (V4) §3 test signals: expected integrated loudness ±0.1 LU.
TECH_3341 = {
    "case1 -23 dBFS": ([(20, -23)], -23.0),
    "case2 -33 dBFS": ([(20, -33)], -33.0),
    "case3 relative gate": ([(10, -36), (60, -23), (10, -36)], -23.0),
    "case4 absolute+relative gates": ([(10, -72), (10, -36), (60, -23), (10, -36), (10, -72)], -23.0),
    "case5 level steps": ([(20, -26), (20.1, -20), (20, -26)], -23.0),
}

# EBU Tech 3342 (V4) §4 test signals: expected loudness range ±1 LU.
TECH_3342 = {
    "case1": ([(20, -20), (20, -30)], 10.0),
    "case2": ([(20, -20), (20, -15)], 5.0),
    "case3": ([(20, -40), (20, -20)], 20.0),
    "case4": ([(20, -50), (20, -35), (20, -20), (20, -35), (20, -50)], 15.0),
}


@pytest.mark.parametrize("parts, expected", TECH_3341.values(), ids=TECH_3341.keys())
def test_tech_3341_integrated_loudness(tmp_path, parts, expected):
    path = write_float_wav(tmp_path / "signal.wav", _sections(*parts), RATE)
    assert process_file(path).measurements["integrated_lufs"] == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("parts, expected", TECH_3342.values(), ids=TECH_3342.keys())
def test_tech_3342_loudness_range(tmp_path, parts, expected):
    path = write_float_wav(tmp_path / "signal.wav", _sections(*parts), RATE)
    assert process_file(path).measurements["loudness_range_lu"] == pytest.approx(expected, abs=1.0)


def _material(tmp_path) -> dict:
    """Real-world-like material: dynamics, noise, several layouts, lossy and lossless."""
    rng = np.random.default_rng(1770)
    seconds = 12
    t = np.arange(seconds * RATE) / RATE
    envelope = np.where((t % 4) < 2, 1.0, 0.15)  # loud and quiet passages: gating matters
    music = 0.3 * envelope * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 3300 * t))
    noise = 0.05 * rng.standard_normal(len(t))
    files = {
        "mono-noise": write_float_wav(tmp_path / "mono.wav", (noise + 0.2 * np.sin(2 * np.pi * 80 * t))[:, None], RATE),
        "stereo-dynamic": write_float_wav(tmp_path / "stereo.wav", np.column_stack([music + noise, 0.7 * music]), RATE),
        "stereo-44k1": write_float_wav(tmp_path / "s44.wav", _sections((6, -18), (6, -30), rate=44100), 44100),
    }
    surround = np.column_stack([music, 0.5 * music, 0.8 * music, 0.9 * noise, 0.6 * music, 0.4 * noise])
    source = write_float_wav(tmp_path / "surround-src.wav", surround, RATE)
    ffmpeg("-i", str(source), "-c:a", "flac", "-sample_fmt", "s32", "-channel_layout", "5.1", str(tmp_path / "5.1.flac"))
    files["5.1-flac"] = tmp_path / "5.1.flac"
    ffmpeg("-i", str(files["stereo-dynamic"]), "-c:a", "libmp3lame", "-b:a", "192k", str(tmp_path / "stereo.mp3"))
    files["stereo-mp3"] = tmp_path / "stereo.mp3"
    return files


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    return _material(tmp_path_factory.mktemp("material"))


@pytest.mark.parametrize("name", ["mono-noise", "stereo-dynamic", "stereo-44k1", "5.1-flac", "stereo-mp3"])
def test_loudness_and_true_peak_match_ffmpeg_ebur128(material, name):
    ours = process_file(material[name]).measurements
    oracle = ebur128(material[name])
    assert ours["integrated_lufs"] == pytest.approx(oracle["integrated_lufs"], abs=0.1)
    assert ours["true_peak_dbtp"] == pytest.approx(oracle["true_peak_dbtp"], abs=0.3)
    assert ours["loudness_range_lu"] == pytest.approx(oracle["loudness_range_lu"], abs=0.5)


@pytest.mark.parametrize("name", ["mono-noise", "stereo-dynamic", "stereo-44k1"])
def test_loudness_matches_pyloudnorm(material, name):
    samples = decode_s16(material[name], 1 if name.startswith("mono") else 2) / 32768.0
    rate = 44100 if name.endswith("44k1") else RATE
    expected = pyloudnorm.Meter(rate).integrated_loudness(samples)
    assert process_file(material[name]).measurements["integrated_lufs"] == pytest.approx(expected, abs=0.1)


def test_true_peak_finds_inter_sample_peaks(tmp_path):
    # A sine at a quarter of the rate, sampled 45° off its crests: every sample is at
    # 0.707 of the true peak, so the true peak is 3 dB above the sample peak.
    tone = sine(5, RATE, RATE / 4, -6.0, phase=np.pi / 4)
    path = write_float_wav(tmp_path / "isp.wav", stereo(tone), RATE)
    # The reference here is the analytic peak, not ffmpeg: at a quarter of the sample rate
    # ffmpeg's ebur128 (which resamples to 192 kHz) reads -5.4 dBTP, 0.6 dB over the truth.
    ours = process_file(path).measurements
    assert ours["sample_peak_dbfs"] == pytest.approx(-9.01, abs=0.05)
    assert ours["true_peak_dbtp"] == pytest.approx(-6.0, abs=0.1)


def test_levels_match_ffmpeg_astats(material):
    for name in ("mono-noise", "stereo-dynamic", "5.1-flac"):
        ours, oracle = process_file(material[name]).measurements, astats(material[name])
        assert ours["sample_peak_dbfs"] == pytest.approx(oracle["sample_peak_dbfs"], abs=0.05)
        assert ours["rms_dbfs"] == pytest.approx(oracle["rms_dbfs"], abs=0.05)


def test_dc_offset_and_clipping_are_counted(tmp_path):
    tone = sine(2, RATE, 1000, -6.0) + 0.1
    clipped = np.clip(sine(2, RATE, 50, 3.0), -1.0, 1.0)  # a sine driven 3 dB into the rails
    path = write_float_wav(tmp_path / "dc-clip.wav", np.column_stack([tone, clipped]), RATE)
    ours = process_file(path).measurements
    assert ours["dc_offset"][0] == pytest.approx(0.1, abs=1e-4)
    assert ours["dc_offset"][1] == pytest.approx(0.0, abs=1e-4)
    expected_clipped = int(np.count_nonzero(np.abs(clipped.astype(np.float32)) >= 32767 / 32768))
    assert ours["clipped_samples"] == expected_clipped > 0


def test_silence_is_located_and_measured(tmp_path):
    signal = np.concatenate([np.zeros(int(1.5 * RATE)), sine(2, RATE, 1000, -20), np.zeros(RATE // 2)])
    path = write_float_wav(tmp_path / "gaps.wav", stereo(signal), RATE)
    ours = process_file(path).measurements
    assert ours["leading_silence_s"] == pytest.approx(1.5, abs=0.001)
    assert ours["trailing_silence_s"] == pytest.approx(0.5, abs=0.001)
    assert ours["silence_ratio"] == pytest.approx(0.5, abs=0.03)


def test_digital_silence_is_valid_audio(tmp_path):
    path = write_float_wav(tmp_path / "silence.wav", np.zeros((3 * RATE, 2)), RATE)
    ours = process_file(path, tmp_path / "out").measurements
    assert ours["integrated_lufs"] is None and ours["loudness_range_lu"] is None
    assert ours["sample_peak_dbfs"] is None and ours["true_peak_dbtp"] is None
    assert ours["silence_ratio"] == 1.0 and ours["spectral_centroid_hz"] is None
    assert ours["house_format"]["gain_db"] == 0.0


def test_spectral_centroid_of_a_pure_tone(tmp_path):
    path = write_float_wav(tmp_path / "tone.wav", stereo(sine(3, RATE, 2500, -10)), RATE)
    assert process_file(path).measurements["spectral_centroid_hz"] == pytest.approx(2500, rel=0.02)


def test_true_peak_is_the_peak_of_the_whole_interpolated_signal():
    # The meter interpolates only stretches that could beat its running maximum, block by
    # block; the reference interpolates everything at once with scipy's upfirdn and the same
    # BS.1770 Annex 2 interpolator (a 48-tap windowed-sinc low-pass at 4×, 12 taps a phase).
    rng = np.random.default_rng(7)
    envelope = np.repeat(rng.uniform(0.001, 0.1, 60), RATE // 10)[:, None]
    signal_ = (rng.standard_normal((len(envelope), 2)) * envelope).astype(np.float32)
    # The loudest point: an inter-sample crest (3 dB above its samples) astride a block boundary.
    signal_[65530:65542, 1] = sine(12 / RATE, RATE, RATE / 4, -1.0, phase=np.pi / 4)
    meter = LevelMeter(RATE, 2)
    for block in np.array_split(signal_, [1000, 65536, 70001, 200000]):
        meter.feed(block)
    meter.finish()
    fir = (firwin(48, 1 / 4) * 4).astype(np.float32)
    expected = max(np.abs(upfirdn(fir, signal_[:, channel], up=4)).max() for channel in (0, 1))
    assert meter.result()["true_peak_dbtp"] == pytest.approx(20 * np.log10(expected), abs=0.006)
    assert 20 * np.log10(expected) == pytest.approx(-1.0, abs=0.05)  # the crest, not the noise


@pytest.mark.parametrize("longest_at", [30_000, 60_000, 139_000])
def test_the_longest_silence_is_found_wherever_the_blocks_cut_it(longest_at):
    # Noise with three silent gaps of known length; the longest sits inside a block, across a
    # block boundary (65 536) or over whole blocks (140 000-150 000 and 150 000-150 001).
    rng = np.random.default_rng(5)
    signal_ = 0.1 * rng.standard_normal((220_000, 2)).astype(np.float32)
    gaps = {10_000: 2_000, 100_000: 3_000, longest_at: 12_000}
    for start, length in gaps.items():
        signal_[start:start + length] = 0.0
    detector = SilenceDetector(RATE)
    for block in np.array_split(signal_, [4_000, 65_536, 140_000, 150_000, 150_001]):
        detector.feed(block)
    ours = detector.result()
    assert (ours["longest_silence_s"], ours["longest_silence_start_s"]) == \
        (round(12_000 / RATE, 4), round(longest_at / RATE, 4))
    assert ours["leading_silence_s"] == ours["trailing_silence_s"] == 0.0
