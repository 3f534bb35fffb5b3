"""Audio features for the audio scorers, per 2-second block: log-mel spectrogram, pYIN pitch contour,
onset strength, and beat-tracked tempo and beat stability.

Framing: the capture (44,100 Hz) is resampled to ``sample_rate`` by a streaming soxr resampler (its output
does not depend on how the input was chunked), then cut into frames that END every ``mel_hop`` samples,
counted from the first sample, each ``mel_n_fft`` long (zeros before the start). A 2 s block is therefore
exactly 100 frames, computed from the block and the tail of the previous one, so the device's block-by-
block computation (:class:`AudioFeatureStream`) and the host's whole-performance computation
(:func:`performance_features`) give the same numbers. pYIN's Viterbi decoding runs per block on both sides.

Block tensors (the audio models' inputs, names shared with the export):
- ``mel``     [1, mel_bands, 100]: log-mel power in dB re full scale, clipped at ``mel_floor_db``;
- ``contour`` [3, 100]: pitch as m = 69 + 12 log2(f / 440) scaled to 0-1 over the piano range (0 when
  unvoiced), pYIN's voiced probability, and onset strength (mean positive dB rise over mel bands);
- ``rhythm``  [2]: tempo / 200 BPM and beat stability (1 - the spread of beat intervals over their mean)
  from the beat tracker over the onset envelope of the last ``tempo_context_blocks`` blocks.

Everything here is numpy (``spectrum``, ``pitch``, ``beats``: ports of what librosa 0.11.0 computes, checked
against it by ``tests/host/test_*_port.py``), so the device carries neither librosa nor numba.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pianocoach.features.beats import beat_track
from pianocoach.features.pitch import midi_to_hz, pyin
from pianocoach.features.settings import DEFAULT_SETTINGS, FeatureSettings
from pianocoach.features.spectrum import mel_filters, power_spectrogram

log = logging.getLogger(__name__)

INPUT_NAMES = ("mel", "contour", "rhythm")
TEMPO_SCALE_BPM = 200.0


@dataclass(frozen=True)
class BlockFeatures:
    index: int
    mel: np.ndarray  # [1, mel_bands, frames]
    contour: np.ndarray  # [3, frames]
    rhythm: np.ndarray  # [2]
    activity: float  # mean onset strength: the weight of this block in the weighted mean
    level_db: float  # mean frame power (dBFS) of the block, for silence checks

    def feeds(self) -> dict[str, np.ndarray]:
        """This block as a batch of one, keyed by model input name."""
        return {"mel": self.mel[None], "contour": self.contour[None], "rhythm": self.rhythm[None]}


def frames_per_block(settings: FeatureSettings = DEFAULT_SETTINGS) -> int:
    return int(round(settings.block_seconds * settings.sample_rate)) // settings.mel_hop


def block_samples(settings: FeatureSettings = DEFAULT_SETTINGS) -> int:
    return frames_per_block(settings) * settings.mel_hop


def context_samples(settings: FeatureSettings = DEFAULT_SETTINGS) -> int:
    """Samples of the previous block a block's first frame needs."""
    return settings.mel_n_fft - settings.mel_hop


@lru_cache(maxsize=4)
def _mel_basis(settings: FeatureSettings) -> np.ndarray:
    return mel_filters(
        settings.sample_rate, settings.mel_n_fft, settings.mel_bands, settings.mel_fmin, settings.mel_fmax
    )


def resampler(rate: int, settings: FeatureSettings = DEFAULT_SETTINGS):
    import soxr

    return soxr.ResampleStream(rate, settings.sample_rate, 1, dtype="float32")


def resample(audio: np.ndarray, rate: int, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Whole-signal resampling through the same streaming resampler the device uses."""
    if rate == settings.sample_rate:
        return np.asarray(audio, dtype=np.float32)
    return resampler(rate, settings).resample_chunk(np.asarray(audio, dtype=np.float32), last=True)


def mel_db(samples: np.ndarray, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Log-mel frames [mel_bands, n] of ``samples`` (which start with the context of the first frame)."""
    power = _mel_basis(settings) @ power_spectrogram(samples, settings.mel_n_fft, settings.mel_hop)
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-20)), settings.mel_floor_db).astype(np.float32)


def onset_strength(mel: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Mean positive rise in dB over bands from one frame to the next (librosa's onset_strength with
    lag 1 and no max filter, without its centring); ``previous`` is the frame before ``mel[:, 0]``."""
    rises = np.diff(np.concatenate([previous[:, None], mel], axis=1), axis=1)
    return np.maximum(rises, 0.0).mean(axis=0).astype(np.float32)


def pitch_contour(samples: np.ndarray, settings: FeatureSettings = DEFAULT_SETTINGS) -> tuple[np.ndarray, np.ndarray]:
    """pYIN over one block's samples (with context): normalised pitch (0 when unvoiced), voiced probability."""
    f0, _, voiced_prob = pyin(
        samples,
        sr=settings.sample_rate,
        fmin=midi_to_hz(settings.pyin_note_min),
        fmax=midi_to_hz(settings.pyin_note_max),
        frame_length=settings.mel_n_fft,
        hop_length=settings.mel_hop,
        resolution=settings.pyin_resolution,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        midi = 69.0 + 12.0 * np.log2(f0 / 440.0)
    span = settings.pitch_max - settings.pitch_min
    pitch = np.where(np.isfinite(midi), np.clip((midi - settings.pitch_min) / span, 0.0, 1.0), 0.0)
    return pitch.astype(np.float32), np.nan_to_num(voiced_prob).astype(np.float32)


def rhythm(envelope: np.ndarray, settings: FeatureSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """[tempo / 200 BPM, beat stability] from the onset envelope of the recent blocks."""
    if not np.any(envelope > 0):
        return np.zeros(2, dtype=np.float32)
    bpm, beats = beat_track(envelope, sr=settings.sample_rate, hop_length=settings.mel_hop)
    stability = 0.0
    if len(beats) >= 3:
        intervals = np.diff(beats)
        stability = float(np.clip(1.0 - intervals.std() / max(intervals.mean(), 1e-6), 0.0, 1.0))
    return np.array([bpm / TEMPO_SCALE_BPM, stability], dtype=np.float32)


def _block(
    index: int,
    samples: np.ndarray,
    mel: np.ndarray,
    envelope_history: np.ndarray,
    previous_frame: np.ndarray,
    settings: FeatureSettings,
) -> BlockFeatures:
    """One block's features from its samples (context included) and its already computed mel frames."""
    pitch, voiced = pitch_contour(samples, settings)
    onsets = onset_strength(mel, previous_frame)
    envelope = np.concatenate([envelope_history, onsets])[-settings.tempo_context_blocks * mel.shape[1] :]
    body = samples[context_samples(settings) :]
    level = 10.0 * np.log10(float(np.mean(body.astype(np.float64) ** 2)) + 1e-12)
    return BlockFeatures(
        index,
        mel[None],
        np.stack([pitch, voiced, onsets]),
        rhythm(envelope, settings),
        float(onsets.mean()),
        round(level, 3),
    )


def _pad_last(samples: np.ndarray, settings: FeatureSettings) -> np.ndarray | None:
    """A trailing partial block zero-padded to full length, or None when it is too short to score."""
    size = block_samples(settings)
    if len(samples) < settings.min_block_fraction * size:
        return None
    return np.concatenate([samples, np.zeros(size - len(samples), dtype=np.float32)])


def performance_features(
    audio: np.ndarray, rate: int, settings: FeatureSettings = DEFAULT_SETTINGS
) -> list[BlockFeatures]:
    """Every block of a whole recording at once (the host's batch computation): one STFT over the
    whole signal, then pYIN and beat tracking block by block as on the device."""
    y = resample(audio, rate, settings)
    size, context = block_samples(settings), context_samples(settings)
    whole = len(y) // size * size
    tail = _pad_last(y[whole:], settings)
    if tail is not None:
        y = np.concatenate([y[:whole], tail])
    else:
        y = y[:whole]
    if len(y) == 0:
        return []
    padded = np.concatenate([np.zeros(context, dtype=np.float32), y])
    mel = mel_db(padded, settings)
    per_block = frames_per_block(settings)
    floor = np.full(settings.mel_bands, settings.mel_floor_db, dtype=np.float32)
    blocks: list[BlockFeatures] = []
    envelope = np.zeros(0, dtype=np.float32)
    for index in range(len(y) // size):
        frames = mel[:, index * per_block : (index + 1) * per_block]
        previous = mel[:, index * per_block - 1] if index else floor
        block = _block(index, padded[index * size : (index + 1) * size + context], frames, envelope, previous, settings)
        envelope = np.concatenate([envelope, block.contour[2]])
        blocks.append(block)
    return blocks


class AudioFeatureStream:
    """The device's block-by-block computation: feed capture blocks of any length, get each 2 s
    feature block as soon as its samples are in."""

    def __init__(self, settings: FeatureSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self.count = 0  # blocks made so far (they are handed out, not kept: an hour is 1,800 of them)
        self._resampler = None
        self._rate = 0
        self._pending = np.zeros(0, dtype=np.float32)  # resampled samples not yet in a block
        self._context = np.zeros(context_samples(settings), dtype=np.float32)
        self._previous = np.full(settings.mel_bands, settings.mel_floor_db, dtype=np.float32)
        self._envelope = np.zeros(0, dtype=np.float32)
        self._finished = False

    def feed(self, audio: np.ndarray, rate: int) -> list[BlockFeatures]:
        if self._resampler is None:
            self._rate = rate
            self._resampler = resampler(rate, self.settings) if rate != self.settings.sample_rate else None
        elif rate != self._rate:
            raise ValueError(f"sample rate changed from {self._rate} to {rate} Hz")
        chunk = np.asarray(audio, dtype=np.float32)
        if self._resampler is not None:
            chunk = self._resampler.resample_chunk(chunk, last=False)
        return self._take(chunk)

    def finish(self) -> list[BlockFeatures]:
        """The rest of the recording (a partial last block is padded or dropped as in the batch)."""
        if self._finished:
            return []
        self._finished = True
        rest = (
            self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if self._resampler is not None
            else np.zeros(0, np.float32)
        )
        new = self._take(rest)
        tail = _pad_last(self._pending, self.settings)
        self._pending = np.zeros(0, dtype=np.float32)
        if tail is not None:
            new += self._take(tail)
        return new

    def _take(self, chunk: np.ndarray) -> list[BlockFeatures]:
        self._pending = np.concatenate([self._pending, chunk])
        size = block_samples(self.settings)
        new = []
        while len(self._pending) >= size:
            body, self._pending = self._pending[:size], self._pending[size:]
            samples = np.concatenate([self._context, body])
            mel = mel_db(samples, self.settings)
            block = _block(self.count, samples, mel, self._envelope, self._previous, self.settings)
            self._context = samples[-context_samples(self.settings) :]
            self._previous = mel[:, -1]
            self._envelope = np.concatenate([self._envelope, block.contour[2]])[
                -self.settings.tempo_context_blocks * mel.shape[1] :
            ]
            self.count += 1
            new.append(block)
        return new


def stack_blocks(blocks: list[BlockFeatures]) -> dict[str, np.ndarray]:
    """Blocks as one batch per input name."""
    return {
        "mel": np.stack([b.mel for b in blocks]).astype(np.float32),
        "contour": np.stack([b.contour for b in blocks]).astype(np.float32),
        "rhythm": np.stack([b.rhythm for b in blocks]).astype(np.float32),
    }
