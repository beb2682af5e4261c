"""Why the audio core refuses a file or a job's options. The core's own errors: nothing here
knows about AWS or Celery.

Every error names its ``ErrorCode``; ``retryable`` is True only where the machine, not the
file, is at fault (a decoder killed by a signal it did not get from us, e.g. out of memory).
"""

from __future__ import annotations

from audio_tasks.vocabulary import ErrorCode


class AudioError(Exception):
    """A file (or options) the core cannot process; ``message`` says why in one sentence."""

    code = ErrorCode.INVALID_AUDIO
    retryable = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidAudio(AudioError):
    """Not decodable audio: empty, truncated, not audio, a header that lies, a decoder overrun."""


class InputTooLarge(AudioError):
    """Over the configured size or duration limit."""

    code = ErrorCode.INPUT_TOO_LARGE


class DecoderKilled(AudioError):
    """ffmpeg died from a signal we did not send: the machine ran out of something; try again."""

    code = ErrorCode.TRANSIENT_ERROR
    retryable = True


class InvalidOptions(AudioError):
    """A job's options the core cannot apply: an unknown preset or option, a value out of range."""

    code = ErrorCode.INVALID_REQUEST
