"""`audio-tasks analyze`: the pipeline on local files, with no queue and no AWS."""

import json
import subprocess
import sys

import pytest

from tests.audio.oracles import ARTIFACT_NAMES, ebur128, sine, stereo, write_float_wav
from tests.support import clean_env, json_lines

pytestmark = pytest.mark.e2e  # runs real processes (see pyproject.toml's markers)

REQUIRED = {"file", "duration_s", "sample_rate", "channels", "codec", "integrated_lufs", "loudness_range_lu",
            "true_peak_dbtp", "sample_peak_dbfs", "rms_dbfs", "clipped_samples", "silence_ratio"}


def _analyze(*args):
    # No AWS settings at all: the command must not need them.
    return subprocess.run([sys.executable, "-m", "producer.cli", "analyze", *args], env=clean_env(),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_json_lines_for_good_and_bad_files_and_a_nonzero_exit(tmp_path):
    good = write_float_wav(tmp_path / "good tone é.wav", stereo(sine(3, 48000, 1000, -20)), 48000)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    also_good = write_float_wav(tmp_path / "second.wav", stereo(sine(2, 44100, 500, -30)), 44100)
    run = _analyze(str(good), str(bad), str(also_good), "--json")
    assert run.returncode == 1
    first, error, last = json_lines(run.stdout)
    assert REQUIRED <= first.keys() and REQUIRED <= last.keys()
    assert first["file"] == str(good)
    assert first["integrated_lufs"] == pytest.approx(ebur128(good)["integrated_lufs"], abs=0.1)
    assert error == {"file": str(bad), "error": {"code": "invalid_audio", "message": error["error"]["message"]}}
    assert "not a recognised audio" in error["error"]["message"]
    assert last["sample_rate"] == 44100
    assert "[3/3]" in run.stderr  # progress goes to stderr, data to stdout


def test_out_writes_every_artifact_and_human_output_reads_well(tmp_path):
    source = write_float_wav(tmp_path / "tone.wav", stereo(sine(2, 48000, 1000, -20)), 48000)
    run = _analyze(str(source), "--out", str(tmp_path / "out"), "--preset", "streaming", "--true-peak-ceiling", "-2")
    assert run.returncode == 0, run.stderr
    assert "LUFS" in run.stdout and "tone.wav" in run.stdout
    artifacts = sorted(p.name for p in (tmp_path / "out" / "tone.wav").iterdir())
    assert artifacts == ARTIFACT_NAMES
    analysis = json.loads((tmp_path / "out" / "tone.wav" / "analysis.json").read_text())
    assert (analysis["house_format"]["target_lufs"], analysis["house_format"]["true_peak_ceiling_dbtp"]) == (-14, -2)
    assert ebur128(tmp_path / "out" / "tone.wav" / "house.wav")["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)


def test_a_loudness_option_out_of_range_is_a_usage_error(tmp_path):
    source = write_float_wav(tmp_path / "tone.wav", stereo(sine(1, 48000, 1000, -30)), 48000)
    bad = _analyze(str(source), "--target-lufs", "5")
    assert bad.returncode == 2 and "target_lufs must be a number from -70 to 0, got 5.0" in bad.stderr
