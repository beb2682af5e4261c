"""One pass over a file: probe, decode once, feed every analyser, write the artifacts.

``process_file`` is the whole pure job: a path in, a ``ProcessResult`` (metadata,
measurements, artifact files) out. The task shell and ``audio-tasks analyze`` both call
it; neither knows how audio is measured. One ffmpeg process decodes the input, pipes
float32 PCM to the analysers and spools the same decoded audio to disk (at most
``Limits.max_spool_bytes``); a second one encodes the MP3 and Ogg Opus previews meanwhile
(both cores busy; see ``encode`` for why it decodes on its own, and when the MP3 preview
is the source's own stream). The house-format WAV needs the measured loudness for its
gain, so it is written from the spool once the analysis is done, while the previews
finish — measured on a 10-minute stereo MP3: 0.4 s instead of 1.3 s for a second decode
of the input, which is what an input longer than the spool holds still gets.

Artifacts (``out_dir`` given): ``analysis.json``, ``house.wav``, ``preview.mp3``,
``preview.opus``, ``waveform.json`` (BBC audiowaveform v2) with ``waveform-small.png``
and ``waveform-large.png``, and ``spectrogram.png``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits

from audio_tasks.audio.descriptors.describe import Descriptors
from audio_tasks.audio.descriptors.problems import band_limit
from audio_tasks.audio.encode import Encoder, HouseFormat, house_wav_command, preview_command, spool_output
from audio_tasks.audio.errors import InputTooLarge, InvalidAudio
from audio_tasks.audio.ffmpeg import MediaInfo, PcmStream, probe
from audio_tasks.audio.levels import LevelMeter
from audio_tasks.audio.loudness import LoudnessMeter
from audio_tasks.audio.options import AudioOptions, Limits
from audio_tasks.audio.silence import SilenceDetector
from audio_tasks.audio.sniff import check_wav_data_size
from audio_tasks.audio.spectrum import Spectrum
from audio_tasks.audio.waveform import WAVEFORM_IMAGES, WaveformPeaks

# Headroom kept below the true-peak ceiling for what resampling to the house rate adds.
_RESAMPLING_HEADROOM_DB = 0.2


@dataclass
class ProcessResult:
    metadata: dict
    measurements: dict
    artifacts: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict:
        """Metadata and measurements as one flat JSON-ready dict."""
        return {**self.metadata, **self.measurements}


def process_file(path: Path, out_dir: Path | None = None, limits: Limits = Limits(),
                 options: AudioOptions = AudioOptions()) -> ProcessResult:
    """Measure ``path``; with ``out_dir``, also write the artifacts there.

    Raises InvalidAudio / InputTooLarge (permanent) for input that cannot be processed.
    """
    size = _check_size(path, limits)
    check_wav_data_size(path)
    info = probe(path)
    if info.duration_s is not None and info.duration_s > limits.max_duration_s:
        raise InputTooLarge(f"the audio lasts {info.duration_s:.0f} s; the limit is {limits.max_duration_s:.0f} s")
    if out_dir is None:
        return _measure(path, info, size, limits, options, outputs=[])[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    spool = out_dir / ".decoded.wav"
    previews = Encoder(preview_command(path, info, out_dir / "preview.mp3", options.preview_bitrate_kbps,
                                       out_dir / "preview.opus", options.opus_bitrate_kbps), "previews")
    try:
        result, analysers = _measure(path, info, size, limits, options, spool_output(spool, limits.max_spool_bytes))
        house_source = spool if spool.stat().st_size < limits.max_spool_bytes else path
        _write_artifacts(house_source, out_dir, result, analysers, limits, options)  # while the previews finish
        previews.wait(limits.decode_timeout_s)
        result.artifacts["preview.mp3"] = out_dir / "preview.mp3"
        result.artifacts["preview.opus"] = out_dir / "preview.opus"
    except BaseException:
        previews.kill()
        raise
    finally:
        spool.unlink(missing_ok=True)
    return result


def _measure(path: Path, info: MediaInfo, size: int, limits: Limits, options: AudioOptions,
             outputs: list[str]) -> tuple[ProcessResult, dict]:
    """The measurements, with the analysers that draw the waveform and the spectrogram."""
    metadata, analysers, descriptors = _analyse(path, info, size, limits, options, outputs)
    measurements = {key: value for a in analysers.values() for key, value in _result(a).items()}
    measurements["spectral_centroid_hz"] = analysers["spectrum"].centroid_hz()
    if descriptors is not None:
        measurements["descriptors"] = descriptors.result(
            metadata["duration_s"], measurements["dc_offset"], measurements,
            band_limit(*analysers["spectrum"].long_term_power()))
    return ProcessResult(metadata, measurements), analysers


def _check_size(path: Path, limits: Limits) -> int:
    size = path.stat().st_size
    if size == 0:
        raise InvalidAudio("the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InputTooLarge(f"the file is {size} bytes; the limit is {limits.max_bytes}")
    return size


# Codecs whose container states the exact length, so a shortfall means a damaged file.
_EXACT_LENGTH_CODECS = ("pcm_", "flac", "alac", "wavpack")


def _check_complete(info: MediaInfo, decoded_s: float) -> None:
    """Refuse lossless files that end before their declared length (truncated uploads)."""
    if not info.codec.startswith(_EXACT_LENGTH_CODECS) or not info.duration_s:
        return
    if decoded_s < info.duration_s * 0.99 - 0.05:
        raise InvalidAudio(f"the file is truncated: it declares {info.duration_s:.2f} s of audio but only "
                           f"{decoded_s:.2f} s could be decoded")


def _analyse(path: Path, info: MediaInfo, size: int, limits: Limits, options: AudioOptions, outputs: list[str]):
    with PcmStream(path, timeout_s=limits.decode_timeout_s, outputs=outputs) as stream:
        rate, channels = stream.sample_rate, stream.channels
        analysers = {
            "loudness": LoudnessMeter(rate, channels, stream.channel_mask),
            "levels": LevelMeter(rate, channels),
            "silence": SilenceDetector(rate, options.silence_threshold_dbfs),
            "waveform": WaveformPeaks(rate, options.waveform_samples_per_pixel, options.waveform_bits),
            "spectrum": Spectrum(rate),
        }
        descriptors = Descriptors(rate, channels) if options.descriptors else None
        _feed_all(stream, list(analysers.values()) + ([descriptors] if descriptors else []))
        frames = stream.frames
    _check_complete(info, frames / rate)
    analysers["levels"].finish()
    metadata = {
        "container": info.container, "codec": info.codec, "sample_rate": rate, "channels": channels,
        "channel_layout": info.channel_layout, "bit_depth": info.bit_depth,
        "bit_rate_kbps": info.bit_rate_kbps, "duration_s": round(frames / rate, 6), "frames": frames,
        "size_bytes": size,
    }
    return metadata, analysers, descriptors


def _feed_all(stream: PcmStream, analysers: list) -> None:
    """Feed every block to every analyser, in order; analysers run in parallel threads
    (numpy/scipy release the GIL) while the next block is being read from the decoder.

    BLAS gets one thread: the analysers are the parallelism, and OpenBLAS's own threads on
    block-sized products mostly spin (the true-peak product took 7× the CPU time with them).
    """
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=len(analysers), thread_name_prefix="analyse") as pool:
        pending: list = []
        for block in stream.blocks():
            for future in pending:
                future.result()
            pending = [pool.submit(analyser.feed, block) for analyser in analysers]
        for future in pending:
            future.result()


def _result(analyser) -> dict:
    """Scalar measurements only: the waveform and spectrogram become their own artifacts."""
    return {} if isinstance(analyser, (WaveformPeaks, Spectrum)) else analyser.result()


def house_gain_db(measurements: dict, options: AudioOptions) -> float:
    """Gain that brings the file to the target loudness without passing the peak ceiling."""
    loudness, true_peak = measurements["integrated_lufs"], measurements["true_peak_dbtp"]
    if loudness is None or true_peak is None:
        return 0.0  # silence (or too short to gate): nothing to normalise
    ceiling = options.true_peak_ceiling_dbtp - _RESAMPLING_HEADROOM_DB - true_peak
    return round(min(options.target_lufs - loudness, ceiling), 4)


def _write_artifacts(house_source: Path, out_dir: Path, result: ProcessResult, analysers: dict,
                     limits: Limits, options: AudioOptions) -> None:
    m = result.measurements
    gain = house_gain_db(m, options)
    trim_start = trim_end = None
    if options.trim_silence and m["leading_silence_s"] < result.metadata["duration_s"]:
        trim_start = m["leading_silence_s"] or None
        trim_end = (result.metadata["duration_s"] - m["trailing_silence_s"]) if m["trailing_silence_s"] else None
    house = HouseFormat(options.house_sample_rate, gain, trim_start, trim_end)
    Encoder(house_wav_command(house_source, out_dir / "house.wav", house), "house-format WAV").wait(
        limits.decode_timeout_s)
    result.artifacts["house.wav"] = out_dir / "house.wav"
    result.measurements["house_format"] = {**asdict(house), "target_lufs": options.target_lufs,
                                           "true_peak_ceiling_dbtp": options.true_peak_ceiling_dbtp}
    waveform = out_dir / "waveform.json"
    analysers["waveform"].write_json(waveform)
    result.artifacts["waveform.json"] = waveform
    for name, size in WAVEFORM_IMAGES.items():
        analysers["waveform"].write_png(out_dir / name, *size)
        result.artifacts[name] = out_dir / name
    spectrogram = out_dir / "spectrogram.png"
    analysers["spectrum"].write_png(spectrogram)
    result.artifacts["spectrogram.png"] = spectrogram
    analysis = out_dir / "analysis.json"
    analysis.write_text(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n")
    result.artifacts["analysis.json"] = analysis
