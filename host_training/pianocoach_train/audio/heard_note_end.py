"""The note ends as the device hears them, for the transcription path (issue 19, item 3): the note-end model the bundle
ships reads each transcribed render's notes, its sound-profile frames (kept by ``make audio-render``) and the pedal
the bundle's pedal model hears in them (chunked as on the device), as ``AudioNoteStream.heard_ends`` does at the end of
a take; its ends replace basic-pitch's before the descriptor vector is computed.

The note-end model is ``artifacts/note_end/note_end.onnx`` when ``make note-end-model`` has trained one, else the
committed default bundle's; it must have learned with the pedal model the transcription path hears with (its
``pedal_sha256``). Its sha256 names the vectors' cache and is written into the runs trained on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.features import NoteTable
from pianocoach.features.note_ends import NOTE_END_VERSION
from pianocoach.scoring.note_end_model import NOTE_END_ROLE, NoteEndModel
from pianocoach_train.audio.heard_pedal import PedalSource, pedal_model, pedal_source
from pianocoach_train.audio.model_source import ModelSource, NotHeardError, find_source, onnx_session


@dataclass(frozen=True)
class NoteEndSource(ModelSource):
    """A note-end model file, its sha256, the metrics the device checks it by, and the pedal model it reads."""

    def run_identity(self) -> dict:
        """What a run trained on this model's ends records, and must match to be reused."""
        return {"heard_note_end": self.sha256, "note_end_version": NOTE_END_VERSION}

    def cache_tag(self) -> str:
        return f"ends-{self.sha256[:12]}-n{NOTE_END_VERSION}"

    def for_take(self, ident: str) -> "NoteEndSource":
        """The model whose ends a take gets: this one, for every take."""
        return self


@dataclass(frozen=True)
class CrossFitNoteEnds:
    """Cross-fitted note-end models (``make note-end-crossfit``): each take's ends from the model that never heard its
    performance (:mod:`pianocoach_train.note_end_crossfit`)."""

    folder: Path
    meta: dict
    sha256: str  # of folds.json, which names every fold model's sha256

    def for_take(self, ident: str) -> NoteEndSource:
        from pianocoach_train.note_end_crossfit import fold_of

        entry = self.meta["models"][str(fold_of(ident))]
        metrics = {k: self.meta[k] for k in ("features_version", "features", "pedal_sha256")}
        return NoteEndSource(self.folder / entry["file"], metrics, entry["sha256"])

    def run_identity(self) -> dict:
        return {"heard_note_end": f"crossfit-{self.sha256}", "note_end_version": NOTE_END_VERSION}

    def cache_tag(self) -> str:
        return f"ends-crossfit-{self.sha256[:12]}-n{NOTE_END_VERSION}"


def crossfit_source() -> CrossFitNoteEnds:
    """The cross-fitted note-end models in ``artifacts/note_end/crossfit`` (make note-end-crossfit trains them)."""
    import hashlib
    import json

    from pianocoach_train.note_end_crossfit import crossfit_dir

    path = crossfit_dir() / "folds.json"
    if not path.is_file():
        raise NotHeardError(f"{path}: no cross-fitted note-end models (make note-end-crossfit trains them)")
    raw = path.read_bytes()
    return CrossFitNoteEnds(path.parent, json.loads(raw), hashlib.sha256(raw).hexdigest())


def note_end_source() -> NoteEndSource:
    """The trained note-end model (``artifacts/note_end``) when there is one, else the committed default bundle's."""
    return find_source(NoteEndSource, NOTE_END_ROLE, "note_end", "note_end.onnx", "note-end-model")


def paired_pedal(source: NoteEndSource) -> PedalSource:
    """The pedal model the note-end model learned with: the one the transcription path hears with, or refused."""
    pedal = pedal_source()
    if source.metrics.get("pedal_sha256") != pedal.sha256:
        raise NotHeardError(
            f"{source.path}: learned with pedal model {str(source.metrics.get('pedal_sha256'))[:12]}, the "
            f"transcription path hears with {pedal.sha256[:12]} ({pedal.path}): make note-end-model retrains it"
        )
    return pedal


def heard_ends(table: NoteTable, bands: np.ndarray, source: NoteEndSource) -> np.ndarray:
    """The ends the note-end model hears for ``table``'s notes (the transcriber's, its amplitudes as velocities) in
    ``bands`` [MEL_BANDS, T] (the whole take's frames), with the pedal probabilities the device's tracker gives."""
    frames = np.asarray(bands, dtype=np.float32)
    tracker = pedal_model(paired_pedal(source)).tracker()
    tracker.add(frames)
    model = NoteEndModel(onnx_session(str(source.path), source.sha256), source.metrics, source.path)
    return model.ends(table, tracker.finish(), frames)
