"""basic-pitch's polyphonic note decoder, vendored so the device does not import basic-pitch's ``note_creation``.

That module imports librosa, resampy and mir_eval at the top for its sonification helpers, and librosa and
resampy bring numba and LLVM (about 250 MB resident on the device, and minutes of JIT compiling on a Pi).
The decoder itself needs only numpy. This is ``output_to_notes_polyphonic`` and ``get_infered_onsets`` of
basic-pitch 0.4.0 (Copyright 2022 Spotify AB, Apache License 2.0), as the transcriber calls them (no
frequency limits), with ``scipy.signal.argrelmax`` written in numpy. ``tests/host/test_feature_ports.py``
checks it gives basic-pitch's own events.
"""

from __future__ import annotations

import numpy as np

MIDI_OFFSET = 21  # MIDI pitch of the posteriorgram's first row (A0)
MAX_FREQ_IDX = 87  # the posteriorgram's last row (C8)
ENERGY_TOL = 11  # frames below the frame threshold that end a note


def infer_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    """The larger of the predicted onsets and the rises of the frame activations, rescaled to the same
    maximum (basic-pitch's ``get_infered_onsets``)."""
    diffs = []
    for n in range(1, n_diff + 1):
        frames_appended = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(frames_appended[n:, :] - frames_appended[:-n, :])
    frame_diff = np.min(diffs, axis=0)
    frame_diff[frame_diff < 0] = 0
    frame_diff[:n_diff, :] = 0
    frame_diff = np.max(onsets) * frame_diff / np.max(frame_diff)
    return np.max([onsets, frame_diff], axis=0)


def local_maxima(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rows, columns) of values strictly above both neighbours along axis 0, the first and last
    rows never (``scipy.signal.argrelmax(values, axis=0)``: order 1, edges clipped)."""
    peak = np.zeros(values.shape, dtype=bool)
    if len(values) >= 3:
        peak[1:-1] = (values[1:-1] > values[:-2]) & (values[1:-1] > values[2:])
    rows, columns = np.nonzero(peak)
    return rows, columns


def _clear_neighbours(energy: np.ndarray, rows: slice | int | np.integer, freq_idx: int | np.integer) -> None:
    energy[rows, freq_idx] = 0
    if freq_idx < MAX_FREQ_IDX:
        energy[rows, freq_idx + 1] = 0
    if freq_idx > 0:
        energy[rows, freq_idx - 1] = 0


class _ColumnPeaks:
    """Each pitch's largest remaining energy and the first frame holding it, so the melodia step finds the global
    maximum as ``np.argmax`` does (the earliest frame, then the lowest pitch) without scanning every frame of the take
    each time: a step changes only the pitch it follows and its two neighbours, whose peaks are then found again.
    (Scanning the whole take at every step grew with the square of the length: 155 of a 60 s take's 442 ms finish.)"""

    def __init__(self, energy: np.ndarray) -> None:
        self.energy = energy
        self.row = energy.argmax(axis=0)
        self.value = energy[self.row, np.arange(energy.shape[1])]

    def refresh(self, freq_idx: int) -> None:
        for column in range(max(0, freq_idx - 1), min(MAX_FREQ_IDX, freq_idx + 1) + 1):
            row = int(np.argmax(self.energy[:, column]))
            self.row[column], self.value[column] = row, self.energy[row, column]

    def peak(self) -> tuple[float, int, int]:
        """The largest remaining energy, its frame and its pitch index."""
        top = self.value.max()
        candidates = np.flatnonzero(self.value == top)
        column = int(candidates[np.argmin(self.row[candidates])])  # argmin: the lowest pitch of the earliest frame
        return float(top), int(self.row[column]), column


def decode_notes(
    frames: np.ndarray,
    onsets: np.ndarray,
    onset_thresh: float,
    frame_thresh: float,
    min_note_len: int,
    infer: bool,
    melodia_trick: bool = True,
) -> list[tuple[int, int, int, float]]:
    """Note events (onset frame, end frame, MIDI pitch, amplitude 0..1) from frame and onset activations
    [n_times, 88] (basic-pitch's ``output_to_notes_polyphonic`` without frequency limits)."""
    n_frames = frames.shape[0]
    if infer:
        onsets = infer_onsets(onsets, frames)
    peak_thresh_mat = np.zeros(onsets.shape)
    peaks = local_maxima(onsets)
    peak_thresh_mat[peaks] = onsets[peaks]
    onset_idx = np.where(peak_thresh_mat >= onset_thresh)
    onset_time_idx = onset_idx[0][::-1]  # backwards in time
    onset_freq_idx = onset_idx[1][::-1]
    remaining_energy = np.zeros(frames.shape)
    remaining_energy[:, :] = frames[:, :]

    note_events = []
    for note_start_idx, freq_idx in zip(onset_time_idx, onset_freq_idx):
        if note_start_idx >= n_frames - 1:
            continue
        # the frame where the energy at this pitch drops below the threshold for good
        i = note_start_idx + 1
        k = 0
        while i < n_frames - 1 and k < ENERGY_TOL:
            k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
            i += 1
        i -= k
        if i - note_start_idx <= min_note_len:
            continue
        _clear_neighbours(remaining_energy, slice(note_start_idx, i), freq_idx)
        note_events.append((note_start_idx, i, freq_idx + MIDI_OFFSET, np.mean(frames[note_start_idx:i, freq_idx])))

    if melodia_trick and remaining_energy.size:
        column_peaks = _ColumnPeaks(remaining_energy)
        while True:
            top, i_mid, freq_idx = column_peaks.peak()  # np.argmax(remaining_energy) as basic-pitch finds it
            if not top > frame_thresh:
                break
            remaining_energy[i_mid, freq_idx] = 0
            i = i_mid + 1  # forward
            k = 0
            while i < n_frames - 1 and k < ENERGY_TOL:
                k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
                _clear_neighbours(remaining_energy, i, freq_idx)
                i += 1
            i_end = i - 1 - k
            i = i_mid - 1  # backward
            k = 0
            while i > 0 and k < ENERGY_TOL:
                k = k + 1 if remaining_energy[i, freq_idx] < frame_thresh else 0
                _clear_neighbours(remaining_energy, i, freq_idx)
                i -= 1
            i_start = i + 1 + k
            column_peaks.refresh(freq_idx)  # the only columns this step changed
            if i_end - i_start <= min_note_len:
                continue
            note_events.append((i_start, i_end, freq_idx + MIDI_OFFSET, np.mean(frames[i_start:i_end, freq_idx])))
    return note_events
