"""Writing the house-format WAV and the previews with ffmpeg, byte-for-byte repeatably.

The decoded-audio spool is an extra output of the ffmpeg process that decodes the input for
the analysis (``PcmStream(..., outputs=...)``); the house WAV, whose gain needs the
finished analysis, is then written from the spool (``house_wav_command``). The previews
are encoded by an ffmpeg process of their own, decoding the input again: as outputs of the
analysis's decoder they were held to the analysis's pace (ffmpeg keeps one process's
outputs in step), and a 10-minute stereo MP3 job took 1.7 s longer (median of 4 pairs on
two cores) for the same CPU time. ``-fflags +bitexact`` / ``-flags:a +bitexact`` and
``-map_metadata -1`` keep encoder version strings and source tags out of the files, so the
same input and settings always produce the same bytes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from audio_tasks.audio.errors import InvalidAudio
from audio_tasks.audio.ffmpeg import MediaInfo, dies_with_this_process, ffmpeg_exe, input_args

_BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]


@dataclass(frozen=True)
class HouseFormat:
    """16-bit PCM WAV at ``sample_rate``, with ``gain_db`` applied and an optional trim."""

    sample_rate: int
    gain_db: float
    trim_start_s: float | None = None
    trim_end_s: float | None = None


def _ffmpeg(source: Path, *outputs: str) -> list[str]:
    """One ffmpeg process reading ``source`` and writing ``outputs`` (``output_args`` each)."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *input_args(source), *outputs]


def output_args(dest: Path, *encoder: str, filters: list[str] = ()) -> list[str]:
    """ffmpeg's arguments for one output of the first audio stream: ``filters``, ``encoder``, ``dest``."""
    chain = ["-af", ",".join(filters)] if filters else []
    return ["-map", "0:a:0", *chain, *_BITEXACT, *encoder, str(dest)]


def preview_command(source: Path, info: MediaInfo, mp3: Path, mp3_kbps: int, opus: Path,
                    opus_kbps: int) -> list[str]:
    """Both previews from one decode: MP3 (LAME, CBR, or the source's own MP3 stream: see
    ``mp3_preview_codec``) and Ogg Opus (libopus, VBR, 48 kHz)."""
    return _ffmpeg(source, *output_args(mp3, *mp3_preview_codec(info, mp3_kbps), "-f", "mp3"),
                   *output_args(opus, "-c:a", "libopus", "-b:a", f"{opus_kbps}k", "-f", "ogg"))


def mp3_preview_codec(info: MediaInfo, kbps: int) -> list[str]:
    """An MP3 source whose stream declares at most ``kbps`` is copied into the preview, not
    re-encoded: a second MP3 generation at the same rate only loses quality, and LAME is
    the job's largest cost (5.7 of 23 CPU-s on a 10-minute stereo MP3, measured). Anything
    else is encoded by LAME at ``kbps``, constant bit rate."""
    if info.codec == "mp3" and info.bit_rate_kbps is not None and info.bit_rate_kbps <= kbps:
        return ["-c:a", "copy"]
    return ["-c:a", "libmp3lame", "-b:a", f"{kbps}k"]


def spool_output(dest: Path, max_bytes: int) -> list[str]:
    """The decoded audio as the analysers get it, kept for the house WAV: float32 WAV (RF64
    past 4 GiB) with the channel layout in its header. ffmpeg's ``-fs`` stops the file once
    it passes ``max_bytes`` (the rest of the process carries on), so a smaller one is whole."""
    return output_args(dest, "-c:a", "pcm_f32le", "-f", "wav", "-rf64", "auto", "-fs", str(max_bytes))


def house_wav_command(source: Path, dest: Path, house: HouseFormat) -> list[str]:
    """Gain, resampling (soxr) and 16-bit PCM: ``source`` (the spool, or the input) to ``dest``."""
    filters = []
    if house.trim_start_s is not None or house.trim_end_s is not None:
        bounds = [f"start={house.trim_start_s:.6f}" if house.trim_start_s else "",
                  f"end={house.trim_end_s:.6f}" if house.trim_end_s else ""]
        filters += ["atrim=" + ":".join(b for b in bounds if b), "asetpts=PTS-STARTPTS"]
    filters += [f"volume={house.gain_db:.4f}dB:precision=double",
                f"aresample={house.sample_rate}:resampler=soxr"]
    return _ffmpeg(source, *output_args(dest, "-c:a", "pcm_s16le", "-f", "wav", filters=filters))


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
