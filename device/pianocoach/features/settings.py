"""The frozen feature settings: the contract between the host that trains and the device that scores.

A bundle records :meth:`FeatureSettings.sha256`; the device refuses a bundle whose hash differs from
the one it computes, so both sides always compute exactly the same features.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from pianocoach.features.catalog import NOTE_FEATURE_NAMES, VECTOR_NAMES


@dataclass(frozen=True)
class FeatureSettings:
    # Bump the version with any change to what the feature code computes: the hash covers these
    # settings, not the code, and caches and bundles trust the hash.
    # 3: the STFT, mel filters, pYIN and beat tracker are numpy ports of librosa's (no numba on the device)
    # 4: score-relative descriptors (features/score_relative.py) appended to the vector
    # 5: the score-relative descriptors from the aligner of 2026-12-01 (a key struck twice in a chord, the next
    #    note's key struck too soon, ornaments never wrong, a visit never heard due between its neighbours)
    version: int = 5
    # audio front end (the onset-envelope grid of the symbolic tempo descriptors)
    sample_rate: int = 22050
    block_seconds: float = 2.0
    hop_length: int = 512
    n_fft: int = 2048
    n_mels: int = 128
    # audio scorer front end (features/audio.py): capture rate, then every block is resampled to
    # sample_rate and cut into mel_hop frames (441 samples = 20 ms: exactly 100 frames per 2 s block)
    capture_rate: int = 44100
    mel_hop: int = 441
    mel_n_fft: int = 2048
    mel_bands: int = 64
    mel_fmin: float = 27.5  # A0
    mel_fmax: float = 8000.0
    mel_floor_db: float = -100.0  # log-mel power in dB re full scale, clipped here
    pyin_note_min: int = 36  # C2: lower piano notes are too long a period for a 2,048-sample YIN frame
    pyin_note_max: int = 96  # C7
    # pYIN's pitch grid in semitones. librosa's default 0.1 makes its Viterbi over 1,200 states cost
    # 230 ms a block here; 1.0 costs 12 ms and the contour is wanted in MIDI numbers anyway
    pyin_resolution: float = 1.0
    tempo_context_blocks: int = 4  # beat tracking sees the onset envelope of the last 4 blocks (8 s)
    min_block_fraction: float = 0.5  # a last, partial block shorter than this is dropped, else zero-padded
    # piano range (MIDI note numbers, A0..C8)
    pitch_min: int = 21
    pitch_max: int = 108
    # symbolic features
    chord_window_s: float = 0.05  # onsets closer than this to a chord's first onset belong to that chord
    local_tempo_window: int = 8  # chords per local-tempo window
    pedal_threshold: int = 64  # CC64 value at and above which the sustain pedal counts as down
    vector_names: tuple[str, ...] = VECTOR_NAMES  # descriptors, pitch-class profile, score-relative
    note_feature_names: tuple[str, ...] = NOTE_FEATURE_NAMES
    # normalisation of the per-note sequence (the descriptor vector is scaled by the model itself)
    time_scale_s: float = 0.1
    max_articulation: float = 4.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["vector_names"] = list(self.vector_names)
        data["note_feature_names"] = list(self.note_feature_names)
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSettings":
        values = dict(data)
        for key in ("vector_names", "note_feature_names"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


DEFAULT_SETTINGS = FeatureSettings()
