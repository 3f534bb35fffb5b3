"""Torch models over the per-note sequence (``pianocoach.features.note_sequence``).

- ``fcn``: a fully convolutional 1-D network: (conv, batch norm, ReLU, average pooling) x 3, a masked
  global average over notes, a fully connected head.
- ``gru``: a bidirectional GRU with attention pooling over notes and a fully connected head.

Training uses random windows of ``max_notes`` notes (after the MIDI augmentation); prediction sees
the whole performance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pianocoach.features import NOTE_FEATURE_NAMES, NoteTable, note_sequence, random_augment
from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.feature_store import FeatureStore
from pianocoach_train.models.base import FoldData, Scorer
from pianocoach_train.models.onnx_graphs import torch_to_onnx
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch

N_SCALES = 19
N_NOTE_FEATURES = len(NOTE_FEATURE_NAMES)


class NoteFCN(nn.Module):
    def __init__(self, hidden: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        widths = [N_NOTE_FEATURES, hidden // 2, hidden, hidden]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [
                nn.Conv1d(c_in, c_out, kernel_size=5, padding=2),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.AvgPool1d(2, ceil_mode=True),
            ]
        self.blocks = nn.Sequential(*layers)
        self.pool_mask = nn.Sequential(*[nn.AvgPool1d(2, ceil_mode=True) for _ in range(3)])
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, N_SCALES))
        self.register_buffer("label_mean", torch.zeros(N_SCALES))

    def forward(self, notes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """notes (batch, notes, features), mask (batch, notes) 1 for real notes -> (batch, 19)."""
        h = self.blocks((notes * mask.unsqueeze(-1)).transpose(1, 2))
        weight = self.pool_mask(mask.unsqueeze(1))[:, :, : h.shape[-1]]
        pooled = (h * weight).sum(-1) / weight.sum(-1).clamp_min(1e-6)
        return self.label_mean + self.head(pooled)


class NoteGRU(nn.Module):
    def __init__(self, hidden: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(N_NOTE_FEATURES, hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * hidden, 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, N_SCALES))
        self.register_buffer("label_mean", torch.zeros(N_SCALES))

    def forward(self, notes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(notes)
        lengths = mask.sum(1).long()
        if bool((lengths == notes.shape[1]).all()):
            h, _ = self.gru(x)
        else:  # padded batch: pack so the backward direction starts at each sequence's real end
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = self.gru(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=notes.shape[1])
        scores = self.attention(h).squeeze(-1).masked_fill(mask == 0, -1e9)
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return self.label_mean + self.head((h * weights).sum(1))


NETWORKS = {"fcn": NoteFCN, "gru": NoteGRU}


def pad(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(s) for s in sequences)
    notes = np.zeros((len(sequences), length, N_NOTE_FEATURES), dtype=np.float32)
    mask = np.zeros((len(sequences), length), dtype=np.float32)
    for i, s in enumerate(sequences):
        notes[i, : len(s)] = s
        mask[i, : len(s)] = 1.0
    return torch.from_numpy(notes), torch.from_numpy(mask)


def window(sequence: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(sequence) <= length:
        return sequence
    start = int(rng.integers(0, len(sequence) - length + 1))
    return sequence[start : start + length]


class SequenceScorer(Scorer):
    input_kind = "sequence"
    early_stopped = True

    def __init__(self, config: TrainConfig, name: str) -> None:
        super().__init__(config)
        self.name = name
        torch.manual_seed(config.seed)
        self.net = NETWORKS[name](hidden=config.sequence_hidden, dropout=config.dropout)

    def _sequence(self, table: NoteTable, rng: np.random.Generator | None) -> np.ndarray:
        if rng is not None and self.config.augment:
            table = random_augment(table, rng, self.config.augment_ranges())
        return note_sequence(table)

    def fit(self, data: FoldData, run_dir: Path, progress: bool = True) -> dict:
        tables = data.store.tables
        train_tables = [tables[i] for i in data.train]
        y_train = torch.from_numpy(data.store.labels(data.train))
        self.net.label_mean.copy_(y_train.mean(0))
        val_batches = self._batches([tables[i] for i in data.validation], data.store.labels(data.validation))
        size = self.config.batch_size

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(train_tables))
            for start in range(0, len(order), size):
                idx = order[start : start + size]
                seqs = [window(self._sequence(train_tables[i], rng), self.config.max_notes, rng) for i in idx]
                yield pad(seqs), y_train[idx]

        return train_torch(self.net, batches, lambda: val_batches, self.config, run_dir, progress)

    def _batches(self, tables: list[NoteTable], labels: np.ndarray | None, size: int = 16) -> list:
        seqs = [self._sequence(t, None) for t in tables]
        target = torch.from_numpy(labels) if labels is not None else torch.zeros(len(seqs), N_SCALES)
        return [(pad(seqs[i : i + size]), target[i : i + size]) for i in range(0, len(seqs), size)]

    def predict(self, store: FeatureStore, ids) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            parts = [self.net(*inputs).numpy() for inputs, _ in self._batches([store.tables[i] for i in ids], None)]
        return np.concatenate(parts).astype(np.float32)

    def to_onnx(self):
        # The GRU traces its unpadded path: the device scores one performance at a time, mask all ones.
        example = (torch.zeros(1, 64, N_NOTE_FEATURES), torch.ones(1, 64))
        axes = {0: "batch", 1: "notes"}
        return torch_to_onnx(self.net, example, ["notes", "mask"], {"notes": axes, "mask": axes})

    def onnx_feeds(self, store: FeatureStore, ids) -> list[dict[str, np.ndarray]]:
        feeds = []
        for ident in ids:
            sequence = self._sequence(store.tables[ident], None)[None]
            feeds.append({"notes": sequence, "mask": np.ones(sequence.shape[:2], dtype=np.float32)})
        return feeds

    def reference_outputs(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            return self.net(torch.from_numpy(feed["notes"]), torch.from_numpy(feed["mask"])).numpy()

    def torch_modules(self) -> list:
        return [self.net]

    def save(self, run_dir: Path) -> None:
        save_checkpoint(
            {"config": self.config.to_dict(), "name": self.name, "model": self.net.state_dict()}, run_dir / "model.pt"
        )

    @classmethod
    def load(cls, run_dir: Path, config: TrainConfig) -> "SequenceScorer":
        state = load_checkpoint(run_dir / "model.pt")
        scorer = cls(config, state["name"])
        scorer.net.load_state_dict(state["model"])
        scorer.net.eval()
        return scorer
