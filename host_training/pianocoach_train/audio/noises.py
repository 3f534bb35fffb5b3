"""The sounds of a room that are not the piano, made here (never downloaded): steady noises (white, pink and brown
noise, mains hum, a fan, traffic) and speech (espeak-ng). The renders' augmentation puts them under the piano; the
sound check's clips use them alone."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal

STEADY_KINDS = ("white", "pink", "brown", "hum", "fan", "traffic")
# espeak-ng voices and sentences for training audio (the sound check keeps other voices and sentences for its test)
TRAIN_VOICES = ("en", "en-us", "de", "fr", "es", "it", "pl", "sv")
TRAIN_SENTENCES = (
    "Press the button and play when you are ready.",
    "The weather this week will be mild, with some rain on Thursday.",
    "Could you pass me the book on the table, please?",
    "We practised the first movement slowly, then at the written tempo.",
    "Turn left at the second crossing and the shop is on your right.",
    "钢琴练习的时候要慢慢来，先把每一个音弹准。",
)
SPEECH_GAP_S = (0.2, 1.5)  # the pause between two sentences of background speech


def pink(length: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance pink noise: Paul Kellet's economy filter (-3 dB/octave within 0.5 dB over the audio band)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    pinked = signal.lfilter(b, a, rng.standard_normal(length))
    return pinked / pinked.std()


def steady(kind: str, length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of one steady noise kind (not normalised)."""
    t = np.arange(length) / rate
    if kind == "white":
        return rng.standard_normal(length)
    if kind == "pink":
        return pink(length, rng)
    if kind == "brown":
        out = np.cumsum(rng.standard_normal(length))
        return signal.sosfilt(signal.butter(1, 20, "highpass", fs=rate, output="sos"), out)
    if kind == "hum":
        mains = rng.choice([50.0, 60.0])
        out = sum(np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        return out + 0.05 * rng.standard_normal(length)
    if kind == "fan":
        low = signal.sosfilt(signal.butter(2, 800, "lowpass", fs=rate, output="sos"), pink(length, rng))
        return low * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(5, 25) * t))
    if kind == "traffic":
        base = signal.sosfilt(signal.butter(2, 400, "lowpass", fs=rate, output="sos"), rng.standard_normal(length))
        swell = np.interp(t, np.linspace(0, length / rate, 6), rng.uniform(0.2, 1.0, 6))
        return base * swell
    raise ValueError(f"unknown noise kind {kind!r} (known: {', '.join(STEADY_KINDS)}, speech)")


def require_espeak() -> str:
    """espeak-ng's path, or a one-line error saying how to install it (checked before a long render starts)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install --no-install-recommends espeak-ng)")
    return binary


def speech(sentence: str, voice: str, rng: np.random.Generator, rate: int, max_s: float) -> np.ndarray:
    """espeak-ng reading ``sentence`` (twice) at ``rate``, at most ``max_s`` long, peak 0.5."""
    import soundfile as sf

    binary = require_espeak()
    speed, pitch = int(rng.integers(120, 200)), int(rng.integers(20, 80))
    with tempfile.TemporaryDirectory(prefix="pianocoach-speech-") as tmp:
        wav = Path(tmp) / "speech.wav"
        text = f"{sentence} {sentence}"
        subprocess.run(
            [binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        audio, speech_rate = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if speech_rate != rate:
        import soxr

        audio = soxr.resample(audio, speech_rate, rate)
    return 0.5 * audio[: int(max_s * rate)] / max(float(np.abs(audio).max()), 1e-6)


def talking(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Someone talking in the room for ``length`` samples: training voices reading training sentences, with pauses.
    Each sentence is at most 20 s, so a long take costs one espeak-ng call per sentence heard."""
    out = np.zeros(length)
    at = int(rng.uniform(0, SPEECH_GAP_S[1]) * rate)
    while at < length:
        sentence = TRAIN_SENTENCES[int(rng.integers(len(TRAIN_SENTENCES)))]
        said = speech(sentence, str(rng.choice(TRAIN_VOICES)), rng, rate, 20.0)[: length - at]
        out[at : at + len(said)] = said
        at += max(len(said), rate) + int(rng.uniform(*SPEECH_GAP_S) * rate)
    return out
