"""The long-term spectrum: spectral centroid and a spectrogram picture, in bounded memory.

The mono mixdown is cut into non-overlapping Hann-windowed frames of ``FRAME`` samples.
Power spectra are summed into time columns; whenever there are more than twice
``columns`` columns, neighbours are merged pairwise, so a 2-hour file holds as little as
a 2-minute one. The spectral centroid is the magnitude-weighted mean frequency of the
whole file (None for digital silence).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from audio_tasks.audio.blocks import FrameCutter
from audio_tasks.audio.mixdown import mixdown

FRAME = 2048
_WINDOW = np.hanning(FRAME).astype(np.float32)
_FULL_SCALE_POWER = (FRAME / 4) ** 2  # a full-scale sine's bin power under this window


class Spectrum:
    def __init__(self, sample_rate: int, columns: int = 512):
        self._rate, self._target = sample_rate, columns
        self._frames_cut = FrameCutter(FRAME)
        self._frames_per_column = 1
        self._columns: list[np.ndarray] = []  # summed power per bin
        self._column_frames = 0
        self._open = np.zeros(FRAME // 2 + 1)
        self._magnitude_sum = np.zeros(FRAME // 2 + 1)

    def feed(self, block: np.ndarray) -> None:
        frames = self._frames_cut.frames(mixdown(block))
        if not len(frames):
            return
        magnitudes = np.abs(np.fft.rfft(frames * _WINDOW, axis=1))
        self._magnitude_sum += magnitudes.sum(axis=0)
        for power in np.square(magnitudes, dtype=np.float64):
            self._add_frame(power)

    def _add_frame(self, power: np.ndarray) -> None:
        self._open += power
        self._column_frames += 1
        if self._column_frames == self._frames_per_column:
            self._columns.append(self._open)
            self._open, self._column_frames = np.zeros_like(power), 0
            if len(self._columns) > 2 * self._target:
                self._columns = [a + b for a, b in zip(self._columns[::2], self._columns[1::2])]
                self._frames_per_column *= 2

    def centroid_hz(self) -> float | None:
        total = self._magnitude_sum.sum()
        if total <= 0:
            return None
        frequencies = np.fft.rfftfreq(FRAME, 1 / self._rate)
        return round(float((frequencies * self._magnitude_sum).sum() / total), 1)

    def long_term_power(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin frequencies in Hz, mean power per bin over the whole file)."""
        columns = [*self._columns, self._open]
        frames = len(self._columns) * self._frames_per_column + self._column_frames
        return np.fft.rfftfreq(FRAME, 1 / self._rate), np.sum(columns, axis=0) / max(frames, 1)

    def spectrogram_db(self) -> tuple[np.ndarray, float]:
        """(dB array of shape (bins, columns), seconds per column)."""
        columns = list(self._columns)
        divisors = [self._frames_per_column] * len(columns)
        if self._column_frames:
            columns.append(self._open)
            divisors.append(self._column_frames)
        if not columns:
            return np.full((FRAME // 2 + 1, 1), -120.0), FRAME / self._rate
        mean_power = np.stack(columns, axis=1) / np.array(divisors)
        with np.errstate(divide="ignore"):
            db = 10 * np.log10(mean_power / _FULL_SCALE_POWER)
        return np.clip(db, -120.0, 0.0), self._frames_per_column * FRAME / self._rate

    def write_png(self, path: Path) -> None:
        """Render the spectrogram (time × frequency, dBFS colour scale, labelled axes)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        db, seconds_per_column = self.spectrogram_db()
        # Four bins per image row (the picture is 400 px high): keeps rendering memory small.
        db = db[:-1].reshape(-1, 4, db.shape[1]).max(axis=1).astype(np.float32)
        figure = Figure(figsize=(10, 4), dpi=100)
        axes = figure.add_subplot()
        image = axes.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-120, vmax=0,
                            extent=(0, db.shape[1] * seconds_per_column, 0, self._rate / 2000),
                            interpolation="nearest")
        axes.set_xlabel("Time (s)")
        axes.set_ylabel("Frequency (kHz)")
        figure.colorbar(image, ax=axes, label="Level (dBFS)")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        path.write_bytes(buffer.getvalue())
