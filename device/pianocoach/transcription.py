"""Audio to notes with basic-pitch's ``nmp.onnx`` run directly by ONNX Runtime, streamed.

The audio is cut into exactly the windows basic-pitch's own offline ``predict`` uses (43,844 samples at
22,050 Hz, 30 frames of overlap, half of it trimmed from each side, 3,840 zero samples in front), so a
performance streamed block by block gives the same posteriorgrams, and so the same notes, as the whole
file at once. Notes are decoded by basic-pitch's ``model_output_to_notes`` with its default settings.

basic-pitch is installed without its tensorflow dependency (``pip install --no-deps basic-pitch``);
only its ONNX file and its note-decoding module are used.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import numpy as np

from pianocoach.console import library_prints_logged, quiet_root_logger
from pianocoach.errors import PianoCoachError
from pianocoach.features import NoteTable

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
FFT_HOP = 256
WINDOW = 2 * SAMPLE_RATE - FFT_HOP  # 43,844 samples per model call
OVERLAP_FRAMES = 30
OVERLAP = OVERLAP_FRAMES * FFT_HOP  # 7,680 samples
HOP = WINDOW - OVERLAP  # 36,164 samples between windows
FRAMES_PER_SECOND = SAMPLE_RATE // FFT_HOP  # 86 (basic-pitch's ANNOTATIONS_FPS)
# basic-pitch defaults: onset 0.5, frame 0.3, minimum note 127.7 ms
ONSET_THRESHOLD, FRAME_THRESHOLD = 0.5, 0.3
MIN_NOTE_FRAMES = int(np.round(127.70 / 1000 * (SAMPLE_RATE / FFT_HOP)))
# nmp.onnx output names (from basic-pitch's own ONNX runner)
OUTPUTS = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2", "contour": "StatefulPartitionedCall:0"}


class TranscriberError(PianoCoachError):
    """The transcription model is missing or cannot be loaded."""


def default_model_path() -> Path:
    """``nmp.onnx`` inside the installed basic-pitch package (found without importing it)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise TranscriberError("basic-pitch is not installed (pip install --no-deps basic-pitch==0.4.0)")
    return Path(spec.submodule_search_locations[0]) / "saved_models" / "icassp_2022" / "nmp.onnx"


def _decoder():
    import warnings

    # basic_pitch's package import logs a warning per missing optional backend (TF, CoreML, TFLite)
    with quiet_root_logger(), library_prints_logged(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resampy 0.4.2 imports the deprecated pkg_resources
        from basic_pitch.note_creation import model_output_to_notes
    return model_output_to_notes


class StreamingTranscriber:
    """Feed 22,050 Hz mono audio in any chunk sizes; ask for the notes so far at any time."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 1) -> None:
        from pianocoach.bundle.verify import open_session

        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise TranscriberError(f"{path}: transcription model not found")
        self.session = open_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self._buffer = np.zeros(OVERLAP // 2, dtype=np.float32)  # basic-pitch pads the front with half an overlap
        self._outputs: dict[str, list[np.ndarray]] = {k: [] for k in OUTPUTS}
        self.n_samples = 0
        self.seconds_spent = 0.0

    def feed(self, samples: np.ndarray) -> None:
        self.n_samples += len(samples)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32)])
        while len(self._buffer) >= WINDOW:
            self._run(self._buffer[:WINDOW])
            self._buffer = self._buffer[HOP:]

    def _run(self, window: np.ndarray) -> None:
        started = time.perf_counter()
        result = self.session.run(list(OUTPUTS.values()), {self.input_name: window[None, :, None]})
        half = OVERLAP_FRAMES // 2
        for key, value in zip(OUTPUTS, result):
            self._outputs[key].append(value[0, half:-half])
        self.seconds_spent += time.perf_counter() - started

    @property
    def frames_done(self) -> int:
        """Posteriorgram frames computed so far (from complete model windows)."""
        return sum(len(part) for part in self._outputs["note"])

    def _flush(self) -> None:
        """Run the last, zero-padded windows, as basic-pitch does at the end of a file."""
        while len(self._buffer) > 0 and (self.n_samples + OVERLAP // 2) > len(self._outputs["note"]) * HOP:
            window = np.zeros(WINDOW, dtype=np.float32)
            window[: min(WINDOW, len(self._buffer))] = self._buffer[:WINDOW]
            self._run(window)
            self._buffer = self._buffer[HOP:]

    def posteriorgrams(self, final: bool = False) -> dict[str, np.ndarray]:
        if final:
            self._flush()
        if not self._outputs["note"]:
            return {"note": np.zeros((0, 88), np.float32), "onset": np.zeros((0, 88), np.float32),
                    "contour": np.zeros((0, 264), np.float32)}
        frames = {key: np.concatenate(parts) for key, parts in self._outputs.items()}
        if final:
            n_frames = int(np.floor(self.n_samples * (FRAMES_PER_SECOND / SAMPLE_RATE)))
            frames = {key: value[:n_frames] for key, value in frames.items()}
        return frames

    def notes(self, final: bool = False) -> list[tuple[float, float, int, float]]:
        """(onset s, offset s, MIDI pitch, amplitude 0..1) for the audio so far (``final``: all of it)."""
        frames = self.posteriorgrams(final)
        if len(frames["note"]) < MIN_NOTE_FRAMES + 2:
            return []
        with np.errstate(invalid="ignore", divide="ignore"):  # silence: the decoder divides 0 by 0 (no notes)
            _, events = _decoder()(frames, onset_thresh=ONSET_THRESHOLD, frame_thresh=FRAME_THRESHOLD,
                                   min_note_len=MIN_NOTE_FRAMES, include_pitch_bends=False, melodia_trick=True)
        return sorted((float(a), float(b), int(p), float(amp)) for a, b, p, amp, _ in events)


def notes_to_table(notes: list[tuple[float, float, int, float]], source: str) -> NoteTable | None:
    """Transcribed notes as a NoteTable (velocity from amplitude as basic-pitch writes MIDI; no pedal)."""
    if not notes:
        return None
    onset, offset, pitch, amplitude = (np.array(col) for col in zip(*notes))
    velocity = np.clip(np.round(127 * amplitude), 1, 127).astype(int)
    return NoteTable.from_arrays(onset, np.maximum(offset, onset), pitch, velocity, source=source)
