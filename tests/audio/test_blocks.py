"""FrameCutter: the frames of a stream do not depend on how the decoder happened to block it."""

import numpy as np
import pytest

from audio_tasks.audio.blocks import FrameCutter


def _cut(stream: np.ndarray, cutter: FrameCutter, seed: int) -> np.ndarray:
    """Everything ``cutter`` returns for ``stream`` fed in 13 blocks of random lengths."""
    cuts = np.sort(np.random.default_rng(seed).integers(0, len(stream), 12))
    return np.concatenate([cutter.frames(block) for block in np.split(stream, cuts)])


@pytest.mark.parametrize("size", [1, 7, 4410])
def test_frames_are_the_same_whatever_the_block_boundaries(size):
    stream = np.random.default_rng(size).standard_normal((20_000, 2)).astype(np.float32)
    cutter = FrameCutter(size)
    whole = len(stream) // size * size
    np.testing.assert_array_equal(_cut(stream, cutter, size), stream[:whole].reshape(-1, size, 2))
    np.testing.assert_array_equal(cutter.remainder, stream[whole:])


@pytest.mark.parametrize("size, hop", [(1024, 441), (2940, 441), (8, 7), (5, 1)])
def test_overlapping_frames_start_every_hop_rows_whatever_the_block_boundaries(size, hop):
    stream = np.random.default_rng(size).standard_normal((20_000, 2)).astype(np.float32)
    cutter = FrameCutter(size, hop)
    starts = range(0, len(stream) - size + 1, hop)
    expected = np.stack([stream[start:start + size] for start in starts])
    np.testing.assert_array_equal(_cut(stream, cutter, hop), expected)
    np.testing.assert_array_equal(cutter.remainder, stream[len(starts) * hop:])


def test_a_block_shorter_than_a_frame_yields_nothing_until_the_frame_is_whole():
    cutter = FrameCutter(4)
    assert cutter.frames(np.arange(3.0)).shape == (0, 4)
    np.testing.assert_array_equal(cutter.frames(np.arange(3.0, 6.0)), [[0, 1, 2, 3]])
    np.testing.assert_array_equal(cutter.remainder, [4, 5])
    overlapping = FrameCutter(4, 2)
    assert overlapping.frames(np.arange(3.0)).shape == (0, 4)
    np.testing.assert_array_equal(overlapping.frames(np.arange(3.0, 9.0)), [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]])
    np.testing.assert_array_equal(overlapping.remainder, [6, 7, 8])


@pytest.mark.parametrize("size, hop", [(0, None), (4, 0), (4, 5)])
def test_a_frame_has_at_least_one_row_and_frames_leave_no_gaps(size, hop):
    with pytest.raises(ValueError):
        FrameCutter(size, hop)
