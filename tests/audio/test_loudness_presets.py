"""Loudness presets for house.wav, by name or explicit values, as a job's options apply them."""

import pytest

from audio_tasks.audio.errors import InvalidOptions
from audio_tasks.audio.options import AudioOptions
from audio_tasks.vocabulary import ErrorCode


@pytest.mark.parametrize("preset, expected", [("ebu_r128", (-23.0, -1.0)), ("streaming", (-14.0, -1.0)),
                                              ("podcast", (-16.0, -1.0))])
def test_presets_are_the_published_targets(preset, expected):
    options = AudioOptions().for_job({"preset": preset})
    assert (options.target_lufs, options.true_peak_ceiling_dbtp) == expected


def test_explicit_values_win_over_the_preset_and_no_options_change_nothing():
    options = AudioOptions().for_job({"preset": "streaming", "true_peak_ceiling_dbtp": -2})
    assert (options.target_lufs, options.true_peak_ceiling_dbtp) == (-14.0, -2.0)
    assert AudioOptions().for_job({"target_lufs": -18}).target_lufs == -18.0
    deployment = AudioOptions(target_lufs=-20.0, trim_silence=True)
    assert deployment.for_job(None) == deployment == deployment.for_job({})
    assert deployment.for_job({"preset": "podcast"}) == AudioOptions(target_lufs=-16.0, trim_silence=True)


@pytest.mark.parametrize("job_options, message", [
    ({"preset": "loud"}, "unknown loudness preset 'loud': choose one of ebu_r128, streaming, podcast"),
    ({"target_lufs": 3}, "target_lufs must be a number from -70 to 0, got 3"),
    ({"target_lufs": "-14"}, "target_lufs must be a number from -70 to 0, got '-14'"),
    ({"true_peak_ceiling_dbtp": True}, "true_peak_ceiling_dbtp must be a number from -20 to 0, got True"),
    ({"gain": 3}, "unknown option(s) gain: a job may set preset, target_lufs, true_peak_ceiling_dbtp"),
])
def test_bad_job_options_say_what_is_wrong_and_are_a_bad_request(job_options, message):
    with pytest.raises(InvalidOptions) as raised:
        AudioOptions().for_job(job_options)
    assert raised.value.message == message
    assert (raised.value.code, raised.value.retryable) == (ErrorCode.INVALID_REQUEST, False)
