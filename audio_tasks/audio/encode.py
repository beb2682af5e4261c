"""Writing the house-format WAV and the previews with ffmpeg, byte-for-byte repeatably.

``-fflags +bitexact`` / ``-flags:a +bitexact`` and ``-map_metadata -1`` keep encoder
version strings and source tags out of the files, so the same input and settings always
produce the same bytes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from audio_tasks.audio.errors import InvalidAudio
from audio_tasks.audio.ffmpeg import dies_with_this_process, ffmpeg_exe, input_args

_BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]


@dataclass(frozen=True)
class HouseFormat:
    """16-bit PCM WAV at ``sample_rate``, with ``gain_db`` applied and an optional trim."""

    sample_rate: int
    gain_db: float
    trim_start_s: float | None = None
    trim_end_s: float | None = None


def _command(source: Path, filters: list[str], *outputs: list[str]) -> list[str]:
    """One decode of ``source``, written to each output (its encoder arguments and path)."""
    chain = ",".join(filters) if filters else "anull"
    mapped = [arg for output in outputs for arg in ("-map", "0:a:0", "-af", chain, *_BITEXACT, *output)]
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *input_args(source), *mapped]


def house_wav_command(source: Path, dest: Path, house: HouseFormat) -> list[str]:
    filters = []
    if house.trim_start_s is not None or house.trim_end_s is not None:
        bounds = [f"start={house.trim_start_s:.6f}" if house.trim_start_s else "",
                  f"end={house.trim_end_s:.6f}" if house.trim_end_s else ""]
        filters += ["atrim=" + ":".join(b for b in bounds if b), "asetpts=PTS-STARTPTS"]
    filters += [f"volume={house.gain_db:.4f}dB:precision=double",
                f"aresample={house.sample_rate}:resampler=soxr"]
    return _command(source, filters, ["-c:a", "pcm_s16le", "-f", "wav", str(dest)])


def preview_command(source: Path, mp3: Path, mp3_kbps: int, opus: Path, opus_kbps: int) -> list[str]:
    """Both previews from one decode: MP3 (LAME, CBR) and Ogg Opus (libopus, VBR, 48 kHz)."""
    return _command(source, [], ["-c:a", "libmp3lame", "-b:a", f"{mp3_kbps}k", "-f", "mp3", str(mp3)],
                    ["-c:a", "libopus", "-b:a", f"{opus_kbps}k", "-f", "ogg", str(opus)])


class Encoder:
    """One ffmpeg encode running in the background; ``wait`` raises InvalidAudio on failure."""

    def __init__(self, command: list[str], what: str):
        self._what = what
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, **dies_with_this_process())

    def wait(self, timeout_s: float) -> None:
        try:
            _, stderr = self._proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise InvalidAudio(f"writing the {self._what} took longer than {timeout_s:.0f} s") from None
        if self._proc.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"]
            raise InvalidAudio(f"could not write the {self._what}: {lines[-1]}")

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()
