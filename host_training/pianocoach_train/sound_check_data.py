"""The clips the "is this a piano?" check learns from and is measured on, and their sound profiles.

Every clip is at most ``CLIP_S`` seconds of audio, made here, never downloaded:

- ``piano``: a PercePiano passage (its first ``CLIP_S`` s, with its pedals) played by a General MIDI piano
  programme (``PIANO_PROGRAMS``) of a soundfont;
- ``instrument``: the same passages played by another programme (guitars, organs, strings, voices, winds,
  mallets, plucked and synthesised sounds: ``FAMILIES``); instruments that play one note at a time get the
  passage's top line only;
- ``electric piano``: programmes 4-7 (electric pianos, harpsichord, clavinet): neither learned nor refused,
  only reported, so the report says what the check does with them;
- ``speech``: espeak-ng reading sentences in several voices, speeds and pitches (the test voices read other
  sentences);
- ``noise``: synthetic steady sounds (white, pink and brown noise, mains hum, a fan, babble of several voices).

Training clips use the training soundfonts, espeak-ng voices and noise kinds below; test clips use the
held-out soundfont (MuseScore General), other voices, sentences and noise kinds, and PercePiano's performer test
list instead of its training list. Every clip is then put through the renders' augmentation (gain, room,
microphone EQ, noise at 15-45 dB SNR) with the same probability as the scorer's training audio, and gets room
tone under it, before it (up to 1.5 s) and after it (up to 8 s, as the appliance's silence stop leaves). Then,
as on the device: resampled to 22,050 Hz, transcribed by the device's basic-pitch transcriber, profiled
(:class:`pianocoach.features.sound_profile.SoundProfile`).
"""

from __future__ import annotations

import ast
import hashlib
import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pianocoach.features import NoteTable, read_midi
from pianocoach.features.audio import resample
from pianocoach.features.sound_profile import PROFILE_NAMES, PROFILE_VERSION, SoundProfile
from pianocoach_train.audio import augment, noises
from pianocoach_train.audio.renders import CAPTURE_RATE, _synth

log = logging.getLogger(__name__)

CLIP_S = 10.0
PIANO_PROGRAMS = (0, 1, 2, 3)  # acoustic grand, bright acoustic, electric grand (a CP-70: strings), honky-tonk
ELECTRIC_PIANO_PROGRAMS = (4, 5, 6, 7)
FAMILIES: dict[str, tuple[int, ...]] = {
    "mallets and bells": tuple(range(8, 16)),
    "organ": tuple(range(16, 24)),
    "guitar": tuple(range(24, 32)),
    "bass": tuple(range(32, 40)),
    "strings and harp": tuple(range(40, 48)),
    "ensemble and choir": tuple(range(48, 56)),
    "brass": tuple(range(56, 64)),
    "reed": tuple(range(64, 72)),
    "pipe": tuple(range(72, 80)),
    "synth lead": tuple(range(80, 88)),
    "synth pad": tuple(range(88, 96)),
    "plucked and folk": tuple(range(104, 112)),
}
ONE_NOTE_AT_A_TIME = {"brass", "reed", "pipe", "synth lead", "ensemble and choir", "bass"}
TEST_VOICES = ("cmn", "ru", "pt", "nl", "ja", "tr")
TRAIN_NOISES = ("white", "pink", "hum", "fan")
TEST_NOISES = ("brown", "babble", "traffic")
# the renders' augmentation, its background noises limited to the training kinds (no speech, no test kind)
AUGMENT_RANGES = augment.AudioAugmentRanges(noise_kinds=TRAIN_NOISES)
TEST_SENTENCES = (  # other sentences for the test voices and the babble
    "My teacher says I should count out loud in the difficult bars.",
    "The train to the city leaves every twenty minutes from platform two.",
    "She read the letter twice before she answered it.",
    "Dinner is at seven, so please do not be late again tonight.",
    "今天的天气很好，我们下午去公园散步吧。",
)
# room tone around and under every clip: a lead-in, a tail as long as the appliance's 8 s silence stop at most, and
# hiss at a microphone's noise level
ROOM_LEAD_S, ROOM_TAIL_S, ROOM_DB = (0.0, 1.5), (0.0, 8.0), (-85.0, -62.0)


@dataclass(frozen=True)
class ClipSpec:
    kind: str  # piano, instrument, electric piano, speech, noise
    family: str  # the instrument family, "piano", the voice or the noise kind
    source: str  # the PercePiano take, the sentence number, or "" for noise
    soundfont: str = ""
    program: int = 0
    seed: int = 0
    augmented: bool = True
    # instead of a drawn augmentation: white noise at this SNR, or this gain (the noisy and very quiet test clips)
    snr_db: float | None = None
    gain_db: float | None = None

    @property
    def is_piano(self) -> bool:
        return self.kind == "piano"

    def key(self) -> str:
        """The clip's cache key: its spec and the code that makes and profiles it."""
        text = repr(sorted(asdict(self).items())) + f"|profile{PROFILE_VERSION}|clip{CLIP_S}|{_code_hash()}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@lru_cache(maxsize=1)
def _code_hash() -> str:
    import pianocoach.features.sound_profile as profile_module

    digest = hashlib.sha256()
    # the clips are made by the noises and the renders' augmentation too
    for path in (Path(profile_module.__file__), Path(__file__), Path(noises.__file__), Path(augment.__file__)):
        # the syntax tree without comments, docstrings aside: reformatting the code keeps the cache
        digest.update(ast.dump(ast.parse(path.read_text(encoding="utf-8"))).encode())
    return digest.hexdigest()[:16]


def top_line(table: NoteTable, chord_s: float = 0.05) -> NoteTable:
    """The highest note of each chord (notes begun within ``chord_s`` of the chord's first), each held until the
    next one begins: what one voice or one wind instrument would play of the passage."""
    keep, start = [], 0
    for i in range(1, len(table) + 1):
        if i == len(table) or table.onset[i] - table.onset[start] > chord_s:
            chord = np.arange(start, i)
            keep.append(int(chord[np.argmax(table.pitch[chord])]))
            start = i
    index = np.asarray(keep)
    onset = table.onset[index]
    offset = np.minimum(table.offset[index], np.r_[onset[1:], np.inf])
    return NoteTable.from_arrays(onset, np.maximum(offset, onset + 0.05), table.pitch[index], table.velocity[index])


def passage(midi: Path, one_voice: bool) -> NoteTable:
    table = read_midi(midi)
    keep = table.onset < table.start + CLIP_S
    cut = NoteTable.from_arrays(
        table.onset[keep] - table.start,
        np.minimum(table.offset[keep], table.start + CLIP_S) - table.start,
        table.pitch[keep],
        table.velocity[keep],
        pedal_events=_shifted(table.pedal_events, table.start),
        soft_pedal_events=_shifted(table.soft_pedal_events, table.start),
    )
    return top_line(cut) if one_voice else cut


def _shifted(events: np.ndarray, start: float) -> np.ndarray:
    if not len(events):
        return events
    events = events[events[:, 0] < start + CLIP_S].copy()
    events[:, 0] = np.maximum(events[:, 0] - start, 0.0)
    return events


def speech(sentence: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    """espeak-ng reading ``sentence`` (twice, so the clip is long enough) at the capture rate."""
    return noises.speech(sentence, voice, rng, CAPTURE_RATE, CLIP_S)


def steady_noise(kind: str, rng: np.random.Generator) -> np.ndarray:
    n = int(CLIP_S * CAPTURE_RATE)
    if kind == "babble":
        voices = [
            speech(TEST_SENTENCES[int(rng.integers(len(TEST_SENTENCES)))], str(rng.choice(TEST_VOICES)), rng)
            for _ in range(5)
        ]
        out = sum(np.pad(v, (0, max(0, n - len(v))))[:n] for v in voices)
    else:
        out = noises.steady(kind, n, CAPTURE_RATE, rng)
    out = np.asarray(out, dtype=np.float64)
    return (0.3 * out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)


def clip_audio(spec: ClipSpec, midi_files: dict[str, Path]) -> np.ndarray:
    """The clip at the capture rate, augmented as its spec says."""
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "speech":
        audio = speech(spec.source, spec.family, rng)
    elif spec.kind == "noise":
        audio = steady_noise(spec.family, rng)
    else:
        table = passage(midi_files[spec.source], spec.family in ONE_NOTE_AT_A_TIME)
        audio = _synth(spec.soundfont).render(table, spec.program)
    if spec.snr_db is not None or spec.gain_db is not None:
        fixed = augment.AudioAugmentation(gain_db=spec.gain_db or 0.0, snr_db=spec.snr_db, noise_seed=spec.seed)
        audio = augment.apply(audio, fixed, CAPTURE_RATE)
    elif spec.augmented:
        audio = augment.apply(audio, augment.draw(rng, AUGMENT_RANGES), CAPTURE_RATE)
    return with_room_tone(np.asarray(audio, dtype=np.float32), rng)


def with_room_tone(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``audio`` with pink hiss under it and before and after it (the silence a take on the appliance ends with)."""
    lead = int(rng.uniform(*ROOM_LEAD_S) * CAPTURE_RATE)
    tail = int(rng.uniform(*ROOM_TAIL_S) * CAPTURE_RATE)
    hiss = noises.pink(lead + len(audio) + tail, rng) * 10 ** (rng.uniform(*ROOM_DB) / 20)
    hiss[lead : lead + len(audio)] += audio
    return np.clip(hiss, -1.0, 1.0).astype(np.float32)


def profile_of(audio: np.ndarray, rate: int = CAPTURE_RATE) -> np.ndarray:
    """The sound profile the device would compute for this recording (fed in 2 s blocks, transcribed whole),
    followed by its loudness (dBFS of the loudest 5 % of frames)."""
    from pianocoach.transcription import StreamingTranscriber, notes_to_table

    samples = resample(audio, rate)
    profile = SoundProfile()
    block = 2 * 22050
    for start in range(0, len(samples), block):
        profile.feed(samples[start : start + block])
    transcriber = StreamingTranscriber(threads=1)
    transcriber.feed(samples)
    vector = profile.vector(notes_to_table(transcriber.notes(final=True), "transcription"))
    return np.append(vector, np.float32(profile.loudness_db()))


def clip_profile(job: tuple[ClipSpec, dict[str, Path]]) -> np.ndarray:
    spec, midi_files = job
    return profile_of(clip_audio(spec, midi_files))


def profiles(specs: list[ClipSpec], midi_files: dict[str, Path], cache: Path, workers: int = 2) -> np.ndarray:
    """The profiles of ``specs`` and their loudness [len(specs), len(PROFILE_NAMES) + 1], computed once per spec
    and kept in ``cache``."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    out = np.zeros((len(specs), len(PROFILE_NAMES) + 1), dtype=np.float32)
    todo = []
    for i, spec in enumerate(specs):
        path = cache / f"{spec.key()}.npy"
        if path.is_file():
            out[i] = np.load(path)
        else:
            todo.append(i)
    if todo:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [(specs[i], midi_files) for i in todo]
            for i, vector in tqdm(
                zip(todo, pool.map(clip_profile, jobs, chunksize=4)),
                total=len(todo),
                desc="render + profile",
                unit="clip",
                disable=None,
            ):
                out[i] = vector
                np.save(cache / f"{specs[i].key()}.npy", vector)
    return out
