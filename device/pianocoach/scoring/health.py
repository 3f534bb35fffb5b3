"""``python -I -m pianocoach.scoring.health BUNDLE``: the install's health check, run in its own process.

Every model in the bundle runs on a built-in input, as the appliance would run it:

- ``midi``: the generated sample piece (12 s of MIDI) through the MIDI scorer;
- ``audio`` (a bundle with an audio scorer or a transcription scorer): the same piece synthesised as
  audio (additive piano-like tones; no soundfont is needed on the device) through the microphone path:
  transcription, audio features, the audio and transcription scorers as the manifest's ``audio_path`` says;
- ``sound_check``: the "is this a piano?" model on the same synthesised audio gives a probability within 0..1
  (the tones are no piano, so the audio clip above is scored without the check);
- ``pedal``: the pedal model on the same synthesised audio gives one probability within 0..1 per frame;
- ``velocity``: the velocity model on the same synthesised audio gives one velocity 1..127 per note of a note table
  spread over it;
- ``jianzipu_reader``: a drawn test character; every head's probabilities finite and summing to 1 (each mark's
  between 0 and 1);
- ``feedback_llm``: the GGUF loaded by llama.cpp (hashed first) and a few tokens generated, when
  llama-cpp-python is installed (otherwise reported as not checked).

Scores must be 19 finite scale values inside the label range (1/7..1, with a margin of 0.1 for a
regression's overshoot), an overall mark within 0..100, and at least one scored window. Prints one JSON
line; exit status 0 when healthy, 1 (and the reason on stderr, one line) when not.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pianocoach.rating_scales import HIGH, LOW

if TYPE_CHECKING:
    from pianocoach.scoring.result import PerformanceResult

MARGIN = 0.1
CLIP_SECONDS = 12.0
AUDIO_RATE = 22050
LLM_TOKENS = 8


def check_scores(result, what: str) -> list[str]:
    values = result.scale_values
    problems = []
    if len(values) != 19:
        problems.append(f"{what}: {len(values)} scale values, expected 19")
    bad = [v for v in values if not math.isfinite(v) or not LOW - MARGIN <= v <= HIGH + MARGIN]
    if bad:
        problems.append(
            f"{what}: {len(bad)} scale values outside {LOW - MARGIN:.2f}..{HIGH + MARGIN:.2f} (e.g. {bad[0]:.3g})"
        )
    if not (math.isfinite(result.overall) and 0.0 <= result.overall <= 100.0):
        problems.append(f"{what}: overall mark {result.overall} outside 0..100")
    if result.windows < 1:
        problems.append(f"{what}: no window scored")
    return problems


def synthesize(midi: Path, wav: Path, rate: int = AUDIO_RATE) -> Path:
    """The MIDI file's notes as decaying harmonic tones (a rough piano), written as a WAV."""
    import soundfile as sf

    from pianocoach.features import read_midi

    table = read_midi(midi)
    audio = np.zeros(int((table.end + 1.0) * rate), dtype=np.float64)
    for onset, offset, pitch, velocity in zip(table.onset, table.offset, table.pitch, table.velocity):
        length = int((offset - onset + 0.3) * rate)
        t = np.arange(length) / rate
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k**1.5 for k in range(1, 6) if k * f0 < rate / 2)
        start = int(onset * rate)
        audio[start : start + length] += (velocity / 127) * np.exp(-3.0 * t) * tone
    audio *= 0.5 / max(1e-9, np.abs(audio).max())
    sf.write(str(wav), audio.astype(np.float32), rate)
    return wav


def score_clip(scorer, clip: Path) -> PerformanceResult:
    """The clip scored as the appliance would; a synthesised tone is no piano, so the sound check is run on its own
    (:func:`check_sound_model`) instead of refusing it."""
    from pianocoach.inputs import open_file
    from pianocoach.scoring import SessionSettings, score_source

    return score_source(open_file(clip), scorer, SessionSettings(check_sound=False))


def check_sound_model(scorer, wav: Path) -> tuple[float, list[str]]:
    """The sound check's piano probability for the synthesised clip, and a problem unless its three probabilities
    are finite and sum to 1 (the probability itself is not judged: the tones are no piano)."""
    import soundfile as sf

    from pianocoach.features.sound_profile import SoundProfile
    from pianocoach.scoring.sound_check import PIANO, usable

    audio, rate = sf.read(str(wav), dtype="float32")
    if rate != AUDIO_RATE:  # synthesize() writes the profile's rate
        return 0.0, [f"sound_check: the test clip is at {rate} Hz, not {AUDIO_RATE}"]
    profile = SoundProfile()
    profile.feed(audio)
    p = scorer.sound_check.probabilities(profile.vector(None))
    if not usable(p):
        return 0.0, [f"sound_check: gives {np.round(p, 4).tolist()}, not three probabilities summing to 1"]
    return float(p[PIANO]), []


def check_velocity_model(scorer, wav: Path) -> tuple[float, list[str]]:
    """The velocity model's mean velocity over notes spread across the synthesised clip, and a problem unless it gives
    one velocity within 1..127 for each (a model that fails or gives non-numbers would leave every microphone take
    without velocities). The velocities are not judged: the tones are no piano."""
    import soundfile as sf

    from pianocoach.features import NoteTable
    from pianocoach.features.note_velocity import OnsetFrames
    from pianocoach.features.sound_profile import SoundProfile
    from pianocoach.scoring.velocity_model import VelocityModelError

    audio, rate = sf.read(str(wav), dtype="float32")
    frames = OnsetFrames()
    frames.add(SoundProfile().feed(audio))
    onsets = np.arange(0.2, max(0.3, len(audio) / rate - 0.5), 0.5)
    table = NoteTable.from_arrays(onsets, onsets + 0.4, 48 + np.arange(len(onsets)) % 36, np.full(len(onsets), 64))
    try:
        velocities = scorer.velocity_model.velocities(frames.features(table))
    except VelocityModelError as exc:
        return 0.0, [f"velocity: {exc}"]
    if len(velocities) != len(table) or velocities.min() < 1 or velocities.max() > 127:
        return 0.0, [f"velocity: {len(velocities)} velocities for {len(table)} notes, not each within 1..127"]
    return float(velocities.mean()), []


def check_note_end_model(scorer, wav: Path) -> tuple[float, list[str]]:
    """The note-end model's mean note length over notes spread across the synthesised clip (with the pedal the bundle's
    pedal model hears in it), and a problem when it fails or gives anything but one number a note (it would leave every
    recording's notes with the transcriber's ends; the lengths are bounded by ``sounding_ends`` whatever it gives).
    The lengths are not judged: the tones are no piano."""
    import soundfile as sf

    from pianocoach.features import NoteTable
    from pianocoach.features.sound_profile import SoundProfile
    from pianocoach.scoring.note_end_model import NoteEndModelError
    from pianocoach.scoring.pedal_model import PedalModelError

    audio, rate = sf.read(str(wav), dtype="float32")
    bands = SoundProfile().feed(audio)
    onsets = np.arange(0.2, max(0.3, len(audio) / rate - 0.5), 0.5)
    table = NoteTable.from_arrays(onsets, onsets + 0.4, 48 + np.arange(len(onsets)) % 36, np.full(len(onsets), 64))
    try:
        pedal = scorer.pedal_model.run(bands[None])
        ends = scorer.note_end_model.ends(table, pedal, bands)
    except (NoteEndModelError, PedalModelError) as exc:
        return 0.0, [f"note_end: {exc}"]
    return float((ends - table.onset).mean()), []


PEDAL_CHUNK_TOLERANCE = 1e-4  # float rounding; a model whose frames see the whole window differs by far more


def check_pedal_model(scorer, wav: Path) -> tuple[float, list[str]]:
    """The pedal model's down share for the synthesised clip, and a problem unless it gives one probability per frame
    and its chunked runs give what one run over the take gives (a model that sees further than the device's context,
    or quantised with scales taken from each run, would not). The share is not judged: the tones have no pedal."""
    import soundfile as sf

    from pianocoach.features.pedal_frames import CHUNK_FRAMES, CONTEXT_FRAMES
    from pianocoach.features.sound_profile import SoundProfile
    from pianocoach.scoring.pedal_model import PedalModelError, pedal_from_probabilities

    audio, _ = sf.read(str(wav), dtype="float32")
    bands = SoundProfile().feed(audio)
    repeats = -(-(CHUNK_FRAMES + 3 * CONTEXT_FRAMES) // max(1, bands.shape[1]))  # several chunks' worth
    long = np.concatenate([bands + 6.0 * (i % 3 - 1) for i in range(repeats)], axis=1)
    tracker = scorer.pedal_model.tracker()
    try:
        tracker.add(long)
        chunked = tracker.finish()
        difference = float(np.abs(chunked - scorer.pedal_model.run(long[None])).max())
    except (PedalModelError, ValueError) as exc:
        return 0.0, [f"pedal: {exc}"]
    if difference > PEDAL_CHUNK_TOLERANCE:
        return 0.0, [f"pedal: the device's chunked runs differ from one run by {difference:.3g}"]
    return pedal_from_probabilities(chunked[: bands.shape[1]]).down_share, []


def check_reader(verification) -> list[str]:
    from PIL import Image, ImageDraw

    from pianocoach.jianzipu.reader import JianzipuReader
    from pianocoach.jianzipu.vocab import MARKS_OUTPUT, OUTSIDE_OUTPUT

    image = Image.new("L", (96, 96), 255)
    draw = ImageDraw.Draw(image)
    draw.line((20, 30, 76, 30), fill=0, width=6)
    draw.line((48, 12, 48, 84), fill=0, width=6)
    problems = []
    for head, probabilities in JianzipuReader.from_verified(verification).probabilities(image).items():
        p = np.asarray(probabilities, dtype=np.float64)
        if head in (MARKS_OUTPUT, OUTSIDE_OUTPUT):  # independent marks and "outside": each a probability, no sum
            if not np.all(np.isfinite(p)) or p.min() < -1e-6 or p.max() > 1 + 1e-6:
                problems.append(f"jianzipu_reader: the marks are not probabilities ({p.min():.3g} to {p.max():.3g})")
        elif not np.all(np.isfinite(p)) or abs(p.sum() - 1.0) > 1e-3 or p.min() < -1e-6:
            problems.append(f"jianzipu_reader: head {head} gives no probabilities (sum {p.sum():.3g})")
    return problems


def check_feedback_model(bundle: Path, manifest) -> tuple[str, list[str]]:
    import importlib.util

    from pianocoach.feedback.backends import FeedbackUnavailable, LocalBackend

    entry = manifest.model("feedback_llm")
    if importlib.util.find_spec("llama_cpp") is None:
        return "not checked (llama-cpp-python is not installed)", []
    listed = manifest.files[entry.file]
    backend = LocalBackend(
        bundle / entry.file, threads=1, context=256, expected_sha256=listed.sha256, expected_size=listed.size
    )
    try:
        llm = backend.load()
        text = llm("Piano practice tip:", max_tokens=LLM_TOKENS, temperature=0.0)["choices"][0]["text"]
    except FeedbackUnavailable as exc:
        return "failed", [f"feedback_llm: {exc}"]
    return f"generated {len(text)} characters", []


def health_check(bundle: Path) -> dict:
    from pianocoach.sample_piece import write_sample_piece
    from pianocoach.scoring import BundleScorer

    scorer = BundleScorer(bundle)  # verified against the device's trusted keys
    report: dict = {"bundle_id": scorer.bundle_id, "checks": {}}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pianocoach-health-") as tmp:
        clip = write_sample_piece(Path(tmp) / "clip.mid", seconds=CLIP_SECONDS)
        midi = score_clip(scorer, clip)
        problems += check_scores(midi, "midi")
        report["checks"]["midi"] = {"windows": midi.windows, "overall": midi.overall}
        report.update(
            windows=midi.windows,
            overall=midi.overall,
            scale_range=[round(min(midi.scale_values), 4), round(max(midi.scale_values), 4)],
        )
        wav = synthesize(clip, Path(tmp) / "clip.wav")
        if scorer.audio_path.uses_audio_model or scorer.manifest.model("transcription_scorer") is not None:
            audio = score_clip(scorer, wav)
            problems += check_scores(audio, f"audio ({audio.audio_path})")
            report["checks"]["audio"] = {
                "windows": audio.windows,
                "overall": audio.overall,
                "path": audio.audio_path,
                "audio_blocks": audio.audio_blocks,
            }
        if scorer.sound_check is not None:
            probability, found = check_sound_model(scorer, wav)
            problems += found
            report["checks"]["sound_check"] = {"synthesised_tone_piano_probability": round(probability, 4)}
        if scorer.pedal_model is not None:
            share, found = check_pedal_model(scorer, wav)
            problems += found
            report["checks"]["pedal"] = {"synthesised_tone_down_share": round(share, 4)}
        if scorer.velocity_model is not None:
            mean, found = check_velocity_model(scorer, wav)
            problems += found
            report["checks"]["velocity"] = {"synthesised_tone_mean_velocity": round(mean, 2)}
        if scorer.note_end_model is not None:  # verification refused a bundle with one and no pedal model
            length, found = check_note_end_model(scorer, wav)
            problems += found
            report["checks"]["note_end"] = {"synthesised_tone_mean_note_seconds": round(length, 3)}
    if scorer.manifest.model("jianzipu_reader") is not None:
        problems += check_reader(scorer.verification)
        report["checks"]["jianzipu_reader"] = "probabilities finite"
    if scorer.manifest.model("feedback_llm") is not None:
        outcome, found = check_feedback_model(bundle, scorer.manifest)
        problems += found
        report["checks"]["feedback_llm"] = outcome
    report.update(healthy=not problems, problems=problems)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.scoring.health", description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    from pianocoach.errors import PianoCoachError

    try:
        report = health_check(args.bundle)
    except PianoCoachError as exc:
        print(f"{args.bundle}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    if not report["healthy"]:
        print(f"{args.bundle}: unhealthy: {'; '.join(report['problems'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
