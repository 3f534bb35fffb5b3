"""Audio augmentation for renders: what lies between a piano and the device's ADC, drawn from seeded ranges.

In the order it happens: a room (convolution with a generated impulse response, its direct sound from close to
far from the microphone), the level drifting as the player moves, background noise at a chosen SNR (white, pink or
brown noise, mains hum, a fan, traffic, someone talking), the input gain, a microphone (a studio one's EQ, or a
cheap USB microphone's or a phone's narrower band), the USB microphone's or phone's compressor and the phone's
automatic gain control; then clipping as a real input would. Plus the MIDI augmentations (tempo, velocity,
pitch shift) applied to the note table before rendering.

FluidSynth plays each soundfont's velocity layers and release samples as the soundfont defines them; it models
no sympathetic string resonance, so the renders have none beyond what the samples recorded.

Training applies gain, EQ tilt and noise again on the fly in the log-mel domain (``augment_mel_batch``): a gain
is an exact dB offset there, a smooth EQ nearly so, and noise adds power (the cross term averages out over a mel
band).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from pianocoach.features import AugmentRanges, NoteTable, random_augment
from pianocoach_train.audio import noises

# what a render's augmentation can draw (recorded in the render manifest; renders made with another are made again):
# 1: gain, white or pink noise, a room, a studio microphone's EQ;
# 2: + USB and phone microphones (band, compressor, AGC), the microphone's distance, hum, fan, traffic and speech
#    under the piano, the level drifting through the take
VERSION = 2


@dataclass(frozen=True)
class Microphone:
    """The ranges one kind of microphone draws from."""

    highpass_hz: tuple[float, float]
    lowpass_hz: tuple[float, float]
    presence_db: float  # a 2-6 kHz peak or dip of up to this many dB
    threshold_db: tuple[float, float] | None = None  # its compressor's threshold (dBFS), None: no compressor
    ratio: tuple[float, float] = (1.0, 1.0)
    agc_s: tuple[float, float] | None = None  # its automatic gain control's time constant, None: no AGC


MICROPHONES = {
    "studio": Microphone((40.0, 200.0), (7000.0, 16000.0), 5.0),
    # a cheap USB microphone: a narrower band and a gentle compressor
    "usb": Microphone((80.0, 250.0), (6000.0, 11000.0), 6.0, (-32.0, -18.0), (1.5, 3.0)),
    # a phone's voice path: a telephone-like band (wideband codecs reach 7-8 kHz), strong compression and AGC
    "phone": Microphone((150.0, 400.0), (3400.0, 8000.0), 8.0, (-36.0, -20.0), (3.0, 8.0), (0.5, 3.0)),
}


@dataclass(frozen=True)
class AudioAugmentRanges:
    probability: float = 0.7  # a training render is augmented with this probability, else left clean
    gain_db: float = 12.0  # -12..+12 dB
    snr_db: tuple[float, float] = (15.0, 45.0)  # background noise at this SNR
    noise_probability: float = 0.7
    noise_kinds: tuple[str, ...] = (*noises.STEADY_KINDS, "speech")
    rt60_s: tuple[float, float] = (0.15, 0.9)  # room decay time: a small practice room to a hall
    room_probability: float = 0.7
    direct_db: tuple[float, float] = (-3.0, 15.0)  # direct-to-reverberant energy: far (-3 dB) to close (+15 dB)
    microphones: tuple[tuple[str, float], ...] = (("studio", 0.5), ("usb", 0.3), ("phone", 0.2))  # kind, weight
    drift_db: float = 6.0  # the level drifts by up to +-6 dB through the take, over 8-40 s
    drift_period_s: tuple[float, float] = (8.0, 40.0)
    midi: AugmentRanges = AugmentRanges(semitones=1, tempo=0.05, velocity_scale=0.08, velocity_offset=4.0)


@dataclass(frozen=True)
class AudioAugmentation:
    """One drawn augmentation (recorded in the render manifest)."""

    gain_db: float = 0.0
    snr_db: float | None = None
    noise_kind: str = "white"
    rt60_s: float | None = None
    direct_db: float | None = None  # None: the impulse response's own early reflections and tail
    microphone: str = "studio"
    highpass_hz: float | None = None
    presence_hz: float = 3000.0
    presence_db: float = 0.0
    lowpass_hz: float | None = None
    compress_threshold_db: float | None = None
    compress_ratio: float = 1.0
    agc_s: float | None = None
    drift_db: float = 0.0
    drift_period_s: float = 20.0
    drift_phase: float = 0.0
    noise_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


CLEAN = AudioAugmentation()


def draw(rng: np.random.Generator, ranges: AudioAugmentRanges = AudioAugmentRanges()) -> AudioAugmentation:
    if rng.random() >= ranges.probability:
        return CLEAN
    kinds, weights = zip(*ranges.microphones)
    microphone = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
    mic = MICROPHONES[microphone]
    gain_db = float(rng.uniform(-ranges.gain_db, ranges.gain_db))
    snr_db = float(rng.uniform(*ranges.snr_db)) if rng.random() < ranges.noise_probability else None
    noise_kind = str(rng.choice(ranges.noise_kinds))
    rt60_s = float(rng.uniform(*ranges.rt60_s)) if rng.random() < ranges.room_probability else None
    direct_db = float(rng.uniform(*ranges.direct_db))
    highpass_hz, lowpass_hz = float(rng.uniform(*mic.highpass_hz)), float(rng.uniform(*mic.lowpass_hz))
    presence_hz, presence_db = float(rng.uniform(2000.0, 6000.0)), float(rng.uniform(-mic.presence_db, mic.presence_db))
    threshold_db = float(rng.uniform(*mic.threshold_db)) if mic.threshold_db else None
    ratio = float(rng.uniform(*mic.ratio))
    agc_s = float(rng.uniform(*mic.agc_s)) if mic.agc_s else None
    drift_db = float(rng.uniform(0.0, ranges.drift_db))
    drift_period_s, drift_phase = float(rng.uniform(*ranges.drift_period_s)), float(rng.uniform(0.0, 2 * np.pi))
    return AudioAugmentation(
        gain_db=gain_db,
        snr_db=snr_db,
        noise_kind=noise_kind,
        rt60_s=rt60_s,
        direct_db=direct_db if rt60_s else None,
        microphone=microphone,
        highpass_hz=highpass_hz,
        presence_hz=presence_hz,
        presence_db=presence_db,
        lowpass_hz=lowpass_hz,
        compress_threshold_db=threshold_db,
        compress_ratio=ratio if threshold_db is not None else 1.0,
        agc_s=agc_s,
        drift_db=drift_db,
        drift_period_s=drift_period_s,
        drift_phase=drift_phase,
        noise_seed=int(rng.integers(2**31)),
    )


def augment_table(
    table: NoteTable, rng: np.random.Generator, ranges: AudioAugmentRanges = AudioAugmentRanges()
) -> NoteTable:
    return random_augment(table, rng, ranges.midi)


def room_impulse(
    rt60_s: float, sample_rate: int, rng: np.random.Generator, direct_db: float | None = None
) -> np.ndarray:
    """A synthetic room: the direct sound, a few early reflections, then exponentially decaying noise
    (-60 dB at rt60); with ``direct_db``, the reflections and tail scaled to that direct-to-reverberant energy
    ratio (a close microphone hears more of the piano than of the room, a far one less)."""
    length = int(min(rt60_s * 1.2, 1.5) * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078: -60 dB
    tail[: int(0.005 * sample_rate)] = 0.0  # the diffuse tail starts after 5 ms
    ir = 0.25 * tail / max(np.sqrt(np.sum(tail**2)), 1e-9)
    ir[0] = 1.0
    for delay_ms, gain in zip(rng.uniform(3, 30, size=4), rng.uniform(0.1, 0.4, size=4)):
        ir[int(delay_ms / 1000 * sample_rate)] += gain * rng.choice([-1.0, 1.0])
    if direct_db is not None:
        reverberant = np.sum(ir[1:] ** 2)
        ir[1:] *= np.sqrt(ir[0] ** 2 / max(reverberant, 1e-12) / 10 ** (direct_db / 10))
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


def one_pole(values: np.ndarray, time_s: float, sample_rate: int) -> np.ndarray:
    """``values`` smoothed by a one-pole low-pass of time constant ``time_s``, started at the first 50 ms' mean (a
    device's level meter that was already running)."""
    a = float(np.exp(-1.0 / max(time_s * sample_rate, 1.0)))
    start = float(np.mean(values[: max(1, int(0.05 * sample_rate))]))
    smoothed, _ = signal.lfilter([1.0 - a], [1.0, -a], values, zi=[a * start])
    return smoothed


def compress(
    audio: np.ndarray,
    threshold_db: float,
    ratio: float,
    sample_rate: int,
    attack_s: float = 0.002,
    release_s: float = 0.15,
) -> np.ndarray:
    """A feed-forward compressor on 1 ms frames: above ``threshold_db`` (the frame's power, dBFS) the level rises
    ``1/ratio`` dB per dB; the gain comes down within ``attack_s`` (a note's attack is caught) and recovers over
    ``release_s``."""
    hop = max(1, int(0.001 * sample_rate))
    frames = -(-len(audio) // hop)
    power = np.mean(np.pad(audio, (0, frames * hop - len(audio))).reshape(frames, hop) ** 2, axis=1)
    wanted = np.minimum(0.0, (threshold_db - 10 * np.log10(power + 1e-12)) * (1.0 - 1.0 / ratio))
    attack, release = (1.0 - float(np.exp(-hop / (t * sample_rate))) for t in (attack_s, release_s))
    gain_db, current = np.empty(frames), 0.0
    for i, target in enumerate(wanted.tolist()):  # 60,000 frames a minute: a plain loop costs ~30 ms
        current += (target - current) * (attack if target < current else release)
        gain_db[i] = current
    return audio * np.repeat(10 ** (gain_db / 20), hop)[: len(audio)]


AGC_TARGET_DB, AGC_RANGE_DB = -26.0, (-20.0, 20.0)


def automatic_gain(audio: np.ndarray, time_s: float, sample_rate: int) -> np.ndarray:
    """An AGC riding the level towards -26 dBFS (RMS over ``time_s``) within -20..+20 dB: it lifts quiet
    passages and the room noise between phrases, and pulls loud ones down."""
    level_db = 10 * np.log10(one_pole(audio**2, time_s, sample_rate) + 1e-12)
    return audio * 10 ** (np.clip(AGC_TARGET_DB - level_db, *AGC_RANGE_DB) / 20)


def drifting(audio: np.ndarray, aug: AudioAugmentation, sample_rate: int) -> np.ndarray:
    t = np.arange(len(audio)) / sample_rate
    return audio * 10 ** (aug.drift_db * np.sin(2 * np.pi * t / aug.drift_period_s + aug.drift_phase) / 20)


def noise(length: int, kind: str, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Unit-RMS background noise of one kind (``noises.STEADY_KINDS`` or "speech")."""
    out = (
        noises.talking(length, sample_rate, rng) if kind == "speech" else noises.steady(kind, length, sample_rate, rng)
    )
    return out / max(float(np.sqrt(np.mean(out**2))), 1e-12)


def apply(audio: np.ndarray, aug: AudioAugmentation, sample_rate: int) -> np.ndarray:
    """The augmented waveform (same length), clipped to [-1, 1] as a real input would be."""
    if aug == CLEAN:
        return audio
    rng = np.random.default_rng(aug.noise_seed)
    out = audio.astype(np.float64)
    if aug.rt60_s:
        out = signal.fftconvolve(out, room_impulse(aug.rt60_s, sample_rate, rng, aug.direct_db))[: len(audio)]
    if aug.drift_db:
        out = drifting(out, aug, sample_rate)
    if aug.snr_db is not None:  # the room's other sounds reach the microphone with the piano's
        power = np.mean(out**2)
        if power > 0:
            out = out + noise(len(out), aug.noise_kind, rng, sample_rate) * np.sqrt(power / 10 ** (aug.snr_db / 10))
    out = out * 10 ** (aug.gain_db / 20)  # the level reaching the microphone's compressor and AGC
    out = microphone_eq(out, aug, sample_rate)
    if aug.compress_threshold_db is not None:
        out = compress(out, aug.compress_threshold_db, aug.compress_ratio, sample_rate)
    if aug.agc_s:
        out = automatic_gain(out, aug.agc_s, sample_rate)
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
