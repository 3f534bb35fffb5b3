"""What the device heard: a recording transcribed exactly as a microphone take is (the same resampler and streaming
transcriber, in 2 s blocks), written as a MIDI file for the player to keep and for checking the transcriber against
other transcriptions (`pianocoach transcribe`). basic-pitch gives the notes; their velocities are the bundle's
velocity model's (:mod:`pianocoach.scoring.velocity_model`), or basic-pitch's note amplitudes without one (which say
almost nothing of the keys: the summary says which); the notes end when the bundle's note-end model hears them stop
sounding (:mod:`pianocoach.scoring.note_end_model`: the key release, or the pedal's when it holds the note), or where
basic-pitch lost them without one (the summary says which); the sustain pedal is written as CC64 (down 127, up 0;
part-way pedalling is not heard) when the bundle's pedal model heard it sure enough
(:data:`pianocoach.scoring.pedal_model.RELIABLE_FROM`), and the summary says which."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pianocoach.errors import InputFileError, NoNotesError
from pianocoach.features import NoteTable
from pianocoach.features.notes import SOFT_CC, SUSTAIN_CC
from pianocoach.inputs import AudioFileSource, open_file
from pianocoach.scoring.limits import FILE_SILENCE_STOP_S, TakeLimits, TakeWatch, block_level
from pianocoach.scoring.note_end_model import NoteEndModel
from pianocoach.scoring.notes_stream import AudioNoteStream
from pianocoach.scoring.pedal_model import HeardPedal, PedalModel
from pianocoach.scoring.resample import StreamResampler
from pianocoach.scoring.velocity_model import VelocityModel
from pianocoach.transcription import SAMPLE_RATE as TRANSCRIPTION_RATE

log = logging.getLogger(__name__)


class OutputFileError(InputFileError):
    """The MIDI file could not be written (the message names it)."""


FILE_LIMITS = TakeLimits(silence_stop_s=FILE_SILENCE_STOP_S)  # as `pianocoach score` reads a file


@dataclass(frozen=True)
class Heard:
    input: str
    notes: int
    duration_s: float
    pedal: bool  # whether the sustain pedal was written (heard by the pedal model, sure enough)
    out: str | None = None
    pedal_confidence: float | None = None  # the pedal model's, None without one
    velocities_heard: bool = False  # the velocities are the velocity model's (else basic-pitch's note amplitudes)
    velocity_model_failed: bool = False  # there was a velocity model, and it failed on this recording
    ends_heard: bool = False  # the note ends are the note-end model's (else where basic-pitch lost the notes)
    note_end_model_failed: bool = False  # there was a note-end model, and it failed on this recording
    note_end_without_pedal: bool = False  # there was a note-end model, and no pedal heard for it to read (none, failed)

    def summary(self) -> str:
        where = f" -> {self.out}" if self.out else ""
        if self.pedal:
            pedal = f"sustain pedal heard (confidence {self.pedal_confidence:.3f}), written as CC64"
        elif self.pedal_confidence is not None:  # three decimals, as the gate compares them (0.797 is not 0.80)
            pedal = f"no pedal written: it could not be heard clearly (confidence {self.pedal_confidence:.3f})"
        else:
            pedal = "no pedal written: no pedal model heard it (none in the bundle, no usable bundle, or it failed)"
        velocity = (
            "velocities heard by the velocity model"
            if self.velocities_heard
            else "velocities are basic-pitch's note amplitudes "
            + ("(the velocity model failed)" if self.velocity_model_failed else "(no velocity model)")
        )
        ends = (
            "note ends heard by the note-end model"
            if self.ends_heard
            else "note ends where basic-pitch lost the notes "
            + (
                "(the note-end model failed)"
                if self.note_end_model_failed
                else "(no pedal heard for the note-end model to read)"
                if self.note_end_without_pedal
                else "(no note-end model)"
            )
        )
        return f"{self.input}: {self.notes} notes over {self.duration_s:.1f} s{where}; {velocity}; {ends}; {pedal}"


@dataclass(frozen=True)
class HearingModels:
    """The bundle's models that hear more than notes in a recording; each None when the bundle has none."""

    pedal: PedalModel | None = None
    velocity: VelocityModel | None = None
    note_end: NoteEndModel | None = None


@dataclass(frozen=True)
class Transcription:
    """A recording's notes as the device heard them, and which of the bundle's models were heard with."""

    table: NoteTable  # the sustain pedal in it only when the pedal model heard it sure enough
    pedal: HeardPedal | None  # what the pedal model heard; None without one (or when it failed)
    velocities_heard: bool  # the velocities are the velocity model's (else basic-pitch's note amplitudes)
    ends_heard: bool  # the note ends are the note-end model's (else where basic-pitch lost the notes)


def transcribe_file(
    path: str | Path, limits: TakeLimits = FILE_LIMITS, models: HearingModels = HearingModels()
) -> Transcription:
    """The notes the device hears in a recording (``limits``: the take's length cap, as for `pianocoach score`), with
    the sustain pedal when the pedal model heard it sure enough, the velocities the velocity model heard and the ends
    the note-end model heard."""
    source = open_file(path)
    if not isinstance(source, AudioFileSource):
        raise InputFileError(Path(path), "is MIDI already: transcribe takes a recording (.wav, .flac, .ogg, .mp3)")
    stream = AudioNoteStream(str(path), pedal=models.pedal, velocity=models.velocity, note_end=models.note_end)
    resampler = StreamResampler(TRANSCRIPTION_RATE, str(path))
    watch = TakeWatch(limits)
    for block in source.blocks():
        assert block.audio is not None  # an audio file's blocks carry samples
        stream.feed(block, resampler.feed(block.audio, block.sample_rate))
        if not watch.reason and watch.should_stop(block, block_level(block)[1]):
            source.stop()
            log.warning("%s: %s; the rest was not transcribed", path, watch.reason)
    table = stream.final(resampler.flush())
    if table is None:
        raise NoNotesError(Path(path), "no notes heard")
    # both models read the notes as the transcriber gave them (its amplitudes, its ends), as they learned
    ended, velocities = stream.heard_ends(table), stream.heard_velocities(table)
    heard = stream.heard_pedal()
    changes: dict = {}
    if ended is not None:
        changes["offset"] = ended.offset
    if velocities is not None:
        changes["velocity"] = velocities.velocity
    if heard is not None and heard.reliable:
        changes["pedal_events"] = heard.events
    return Transcription(table.with_columns(**changes), heard, velocities is not None, ended is not None)


def write_midi(table: NoteTable, out: str | Path) -> None:
    """``table`` as a one-track piano MIDI file (notes with velocity, CC64 and CC67 when the table has them),
    written to a temporary file beside ``out`` and renamed, so ``out`` is never half-written."""
    import pretty_midi

    out = Path(out)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0, name="piano (as heard)")
    for onset, offset, pitch, velocity in zip(table.onset, table.offset, table.pitch, table.velocity):
        end = max(float(offset), float(onset) + 0.01)
        piano.notes.append(pretty_midi.Note(int(max(1, min(127, velocity))), int(pitch), float(onset), end))
    for number, events in ((SUSTAIN_CC, table.pedal_events), (SOFT_CC, table.soft_pedal_events)):
        piano.control_changes.extend(pretty_midi.ControlChange(number, int(v), float(t)) for t, v in events)
    midi.instruments.append(piano)
    folder = out.parent if str(out.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputFileError(out, f"cannot write the MIDI file ({exc.strerror or exc})") from exc
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the player's file owner-only
        midi.write(temporary)
        os.replace(temporary, out)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputFileError(out, f"cannot write the MIDI file ({exc.strerror or exc})") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def transcribe_to_midi(
    path: str | Path, out: str | Path | None, limits: TakeLimits = FILE_LIMITS, models: HearingModels = HearingModels()
) -> Heard:
    heard = transcribe_file(path, limits, models)
    table = heard.table
    if out is not None:
        write_midi(table, out)
    return Heard(
        str(path),
        len(table),
        round(table.end - table.start, 3),
        len(table.pedal_events) > 0,
        None if out is None else str(out),
        None if heard.pedal is None else heard.pedal.confidence,
        heard.velocities_heard,
        models.velocity is not None and not heard.velocities_heard,
        heard.ends_heard,
        models.note_end is not None and not heard.ends_heard and heard.pedal is not None,
        models.note_end is not None and heard.pedal is None,
    )
