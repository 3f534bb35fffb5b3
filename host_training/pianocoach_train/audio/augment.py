"""Audio augmentation for renders: gain, additive noise at a chosen SNR, a room (convolution with a
generated impulse response) and a microphone-like EQ, drawn from seeded ranges; plus the MIDI
augmentations (tempo, velocity, pitch shift) applied to the note table before rendering.

Render time applies all of them to the waveform. Training applies gain, EQ tilt and noise again on the
fly in the log-mel domain (``augment_mel_batch``): a gain is an exact dB offset there, a smooth EQ
nearly so, and noise adds power (the cross term averages out over a mel band).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from pianocoach.features import AugmentRanges, NoteTable, random_augment


@dataclass(frozen=True)
class AudioAugmentRanges:
    probability: float = 0.7  # a training render is augmented with this probability, else left clean
    gain_db: float = 12.0  # -12..+12 dB
    snr_db: tuple[float, float] = (15.0, 45.0)  # white/pink noise at this SNR (None drawn with p 0.3)
    rt60_s: tuple[float, float] = (0.15, 0.9)  # room decay time (None drawn with p 0.3)
    highpass_hz: tuple[float, float] = (40.0, 200.0)
    presence_db: float = 5.0  # a 2-6 kHz peak of -5..+5 dB
    lowpass_hz: tuple[float, float] = (7000.0, 16000.0)
    midi: AugmentRanges = AugmentRanges(semitones=1, tempo=0.05, velocity_scale=0.08, velocity_offset=4.0)


@dataclass(frozen=True)
class AudioAugmentation:
    """One drawn augmentation (recorded in the render manifest)."""

    gain_db: float = 0.0
    snr_db: float | None = None
    pink: bool = False
    rt60_s: float | None = None
    highpass_hz: float | None = None
    presence_hz: float = 3000.0
    presence_db: float = 0.0
    lowpass_hz: float | None = None
    noise_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


CLEAN = AudioAugmentation()


def draw(rng: np.random.Generator, ranges: AudioAugmentRanges = AudioAugmentRanges()) -> AudioAugmentation:
    if rng.random() >= ranges.probability:
        return CLEAN
    return AudioAugmentation(
        gain_db=float(rng.uniform(-ranges.gain_db, ranges.gain_db)),
        snr_db=float(rng.uniform(*ranges.snr_db)) if rng.random() > 0.3 else None,
        pink=bool(rng.random() < 0.5),
        rt60_s=float(rng.uniform(*ranges.rt60_s)) if rng.random() > 0.3 else None,
        highpass_hz=float(rng.uniform(*ranges.highpass_hz)),
        presence_hz=float(rng.uniform(2000.0, 6000.0)),
        presence_db=float(rng.uniform(-ranges.presence_db, ranges.presence_db)),
        lowpass_hz=float(rng.uniform(*ranges.lowpass_hz)),
        noise_seed=int(rng.integers(2**31)),
    )


def augment_table(
    table: NoteTable, rng: np.random.Generator, ranges: AudioAugmentRanges = AudioAugmentRanges()
) -> NoteTable:
    return random_augment(table, rng, ranges.midi)


def room_impulse(rt60_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: the direct sound, a few early reflections, then exponentially decaying noise
    (-60 dB at rt60)."""
    length = int(min(rt60_s * 1.2, 1.5) * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078: -60 dB
    tail[: int(0.005 * sample_rate)] = 0.0  # the diffuse tail starts after 5 ms
    ir = 0.25 * tail / max(np.sqrt(np.sum(tail**2)), 1e-9)
    ir[0] = 1.0
    for delay_ms, gain in zip(rng.uniform(3, 30, size=4), rng.uniform(0.1, 0.4, size=4)):
        ir[int(delay_ms / 1000 * sample_rate)] += gain * rng.choice([-1.0, 1.0])
    return ir / np.sqrt(np.sum(ir**2))


def _peaking(f0: float, gain_db: float, q: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook peaking filter."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return b / den[0], den / den[0]


def microphone_eq(audio: np.ndarray, aug: AudioAugmentation, sample_rate: int) -> np.ndarray:
    out = audio
    if aug.highpass_hz:
        out = signal.sosfilt(signal.butter(2, aug.highpass_hz, "highpass", fs=sample_rate, output="sos"), out)
    if aug.presence_db:
        out = signal.lfilter(*_peaking(aug.presence_hz, aug.presence_db, 1.0, sample_rate), out)
    if aug.lowpass_hz and aug.lowpass_hz < sample_rate / 2:
        out = signal.sosfilt(signal.butter(4, aug.lowpass_hz, "lowpass", fs=sample_rate, output="sos"), out)
    return out


def noise(length: int, pink: bool, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(length)
    if not pink:
        return white
    # Paul Kellet's economy pink filter (-3 dB/octave within 0.5 dB over the audio band)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    pinked = signal.lfilter(b, a, white)
    return pinked / pinked.std()


def apply(audio: np.ndarray, aug: AudioAugmentation, sample_rate: int) -> np.ndarray:
    """The augmented waveform (same length), clipped to [-1, 1] as a real input would be."""
    if aug == CLEAN:
        return audio
    rng = np.random.default_rng(aug.noise_seed)
    out = audio.astype(np.float64)
    if aug.rt60_s:
        out = signal.fftconvolve(out, room_impulse(aug.rt60_s, sample_rate, rng))[: len(audio)]
    out = microphone_eq(out, aug, sample_rate)
    if aug.snr_db is not None:
        power = np.mean(out**2)
        if power > 0:
            out = out + noise(len(out), aug.pink, rng) * np.sqrt(power / 10 ** (aug.snr_db / 10))
    out = out * 10 ** (aug.gain_db / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def augment_mel_batch(
    mel: np.ndarray,
    rng: np.random.Generator,
    floor_db: float,
    gain_db: float = 6.0,
    tilt_db: float = 3.0,
    noise_probability: float = 0.3,
) -> np.ndarray:
    """On-the-fly augmentation of log-mel blocks [n, 1, bands, frames]: a gain offset, a spectral tilt
    across bands, and sometimes a noise floor (power addition)."""
    n, _, bands, _ = mel.shape
    gain = rng.uniform(-gain_db, gain_db, size=(n, 1, 1, 1))
    tilt = rng.uniform(-tilt_db, tilt_db, size=(n, 1, 1, 1)) * np.linspace(-1, 1, bands)[None, None, :, None]
    out = np.where(mel > floor_db, mel + gain + tilt, floor_db)  # the floor is "nothing there": it stays
    noisy = rng.random(n) < noise_probability
    if noisy.any():
        level = rng.uniform(-75, -45, size=(int(noisy.sum()), 1, 1, 1))
        out[noisy] = 10 * np.log10(10 ** (out[noisy] / 10) + 10 ** (level / 10))
    return np.maximum(out, floor_db).astype(np.float32)
