"""FrameCutter: the frames of a stream do not depend on how the decoder happened to block it."""

import numpy as np
import pytest

from audio_tasks.audio.blocks import FrameCutter


@pytest.mark.parametrize("size", [1, 7, 4410])
def test_frames_are_the_same_whatever_the_block_boundaries(size):
    rng = np.random.default_rng(size)
    stream = rng.standard_normal((20_000, 2)).astype(np.float32)
    cuts = np.sort(rng.integers(0, len(stream), 12))
    cutter = FrameCutter(size)
    frames = [cutter.frames(block) for block in np.split(stream, cuts)]
    whole = len(stream) // size * size
    np.testing.assert_array_equal(np.concatenate(frames), stream[:whole].reshape(-1, size, 2))
    np.testing.assert_array_equal(cutter.remainder, stream[whole:])


def test_a_block_shorter_than_a_frame_yields_nothing_until_the_frame_is_whole():
    cutter = FrameCutter(4)
    assert cutter.frames(np.arange(3.0)).shape == (0, 4)
    np.testing.assert_array_equal(cutter.frames(np.arange(3.0, 6.0)), [[0, 1, 2, 3]])
    np.testing.assert_array_equal(cutter.remainder, [4, 5])


def test_a_frame_has_at_least_one_row():
    with pytest.raises(ValueError):
        FrameCutter(0)
