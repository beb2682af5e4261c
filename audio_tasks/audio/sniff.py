"""Two things about uncompressed containers that ffmpeg's content probe gets wrong.

- Periodic PCM can outscore the real container: a float WAV of a 1 kHz tone at 48 kHz
  repeats every 192 bytes, and ffmpeg's probe then takes it for an M2TS stream. A file
  that starts with a RIFF/WAVE or FORM/AIFF header is therefore opened with that demuxer.
- A WAV whose header claims more data than the file holds (say 4 GiB in a few KB) is
  quietly given a duration estimated from its size; such an upload is refused instead.
"""

from __future__ import annotations

import struct
from pathlib import Path

from audio_tasks.audio.errors import InvalidAudio

_MAX_CHUNKS = 64


def forced_demuxer(path: Path) -> str | None:
    """The ffmpeg demuxer to force for ``path`` ("wav", "aiff"), or None to let ffmpeg probe."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    return None


def check_wav_data_size(path: Path) -> None:
    """Raise InvalidAudio if ``path`` is a RIFF/WAVE file whose data chunk overruns the file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        for _ in range(_MAX_CHUNKS):
            header = f.read(8)
            if len(header) < 8:
                return
            chunk_id, chunk_size = struct.unpack("<4sI", header)
            if chunk_id == b"data":
                available = size - f.tell()
                if chunk_size > available * 1.01 + 1024:
                    raise InvalidAudio(
                        f"the WAV header declares {chunk_size} bytes of audio data ({chunk_size / 2**20:.0f} MiB) "
                        f"but only {available} bytes follow it: the file is truncated or its header is corrupt")
                return
            f.seek(chunk_size + (chunk_size & 1), 1)
