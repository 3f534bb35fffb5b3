"""Training an audio model on rendered blocks: MSE, Adam, early stopping (the MIDI scorers' loop).

Every performance's label is given to each of its blocks. An epoch draws one random block of every
training performance from every training soundfont, with the log-mel augmented on the fly; early
stopping watches the block MSE of the validation performances (first training soundfont).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from pianocoach.features import DEFAULT_SETTINGS
from pianocoach.features.audio import frames_per_block
from pianocoach.jsonio import read_json, write_json_atomic
from pianocoach_train.audio import augment
from pianocoach_train.audio.augment import augment_mel_batch
from pianocoach_train.audio.data import RenderedSet, aggregate
from pianocoach_train.audio.models import AudioScorerNet, build_net
from pianocoach_train.checkpoints import load_checkpoint, save_checkpoint
from pianocoach_train.models.onnx_graphs import torch_to_onnx
from pianocoach_train.train_config import TrainConfig
from pianocoach_train.training import train_torch

log = logging.getLogger(__name__)

# Audio models train on ~1,800 blocks an epoch (one per performance and training soundfont); a shorter
# budget than the MIDI scorers' 150/15 keeps the 36 fold models of `make eval-audio` near an hour here.
AUDIO_CONFIG = TrainConfig(model="m_crnn", epochs=30, patience=5, batch_size=64, lr=2e-3, weight_decay=1e-4)


class AudioScorer:
    def __init__(self, config: TrainConfig, net: AudioScorerNet | None = None) -> None:
        self.config = config
        self.net = net or build_net(config.model, DEFAULT_SETTINGS.mel_bands)
        self.reused = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.net.inputs

    def fit(
        self,
        sets: list[RenderedSet],
        labels: dict[str, np.ndarray],
        train: tuple[str, ...],
        validation: tuple[str, ...],
        run_dir: Path,
        progress: bool = True,
    ) -> dict:
        run_dir.mkdir(parents=True, exist_ok=True)
        y_train = np.stack([labels[i] for i in train]).astype(np.float32)
        self.net.set_labels(y_train.mean(axis=0), y_train.std(axis=0) + 1e-6)
        floor = DEFAULT_SETTINGS.mel_floor_db
        per_set = [(s, [s.rows[i] for i in train]) for s in sets]

        def batches(rng: np.random.Generator):
            rows, owners = [], []
            for rendered, spans in per_set:
                for (a, b), ident in zip(spans, train):
                    for _ in range(self.config.augment_copies if b > a else 0):  # blocks per performance per epoch
                        rows.append((rendered, int(rng.integers(a, b))))
                        owners.append(ident)
            order = rng.permutation(len(rows))
            for start in range(0, len(order), self.config.batch_size):
                chosen = order[start : start + self.config.batch_size]
                feeds = {}
                for name in self.inputs:
                    feeds[name] = np.stack([rows[k][0].arrays[name][rows[k][1]] for k in chosen]).astype(np.float32)
                if "mel" in feeds:
                    feeds["mel"] = augment_mel_batch(feeds["mel"], rng, floor)
                target = torch.from_numpy(np.stack([labels[owners[k]] for k in chosen]).astype(np.float32))
                yield tuple(torch.from_numpy(feeds[n]) for n in self.inputs), target

        val_set = sets[0]
        val_rows = val_set.block_rows(validation)
        val_inputs = val_set.tensors(val_rows, self.inputs)
        val_target = torch.from_numpy(np.stack([labels[o] for o in val_set.block_owner[val_rows]]).astype(np.float32))

        def validation_batches():
            for start in range(0, len(val_rows), 512):
                yield tuple(t[start : start + 512] for t in val_inputs), val_target[start : start + 512]

        history = train_torch(self.net, batches, validation_batches, self.config, run_dir, progress)
        return {
            "best_epoch": history["best_epoch"],
            "best_val_loss": history["best_val_loss"],
            "epochs_run": len(history["train_loss"]),
            "stopped_early": history["stopped_early"],
        }

    def predict_blocks(self, rendered: RenderedSet, ids) -> np.ndarray:
        rows = rendered.block_rows(ids)
        tensors = rendered.tensors(rows, self.inputs)
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), 1024):
                out.append(self.net(*(t[start : start + 1024] for t in tensors)).numpy())
        return np.concatenate(out)

    def predict(self, rendered: RenderedSet, ids) -> tuple[np.ndarray, np.ndarray]:
        """Per performance: (mean over blocks, activity-weighted mean over blocks)."""
        return aggregate(self.predict_blocks(rendered, ids), rendered, ids)

    def example_feeds(self, batch: int = 2) -> dict[str, np.ndarray]:
        s = DEFAULT_SETTINGS
        frames = frames_per_block(s)
        shapes = {"mel": (batch, 1, s.mel_bands, frames), "contour": (batch, 3, frames), "rhythm": (batch, 2)}
        rng = np.random.default_rng(0)
        feeds = {n: rng.random(shapes[n]).astype(np.float32) for n in self.inputs}
        if "mel" in feeds:
            feeds["mel"] = feeds["mel"] * 80 - 90
        return feeds

    def to_onnx(self):
        feeds = self.example_feeds()
        example = tuple(torch.from_numpy(feeds[n]) for n in self.inputs)
        return torch_to_onnx(self.net, example, list(self.inputs), {n: {0: "batch"} for n in self.inputs})

    def reference_outputs(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            return self.net(*(torch.from_numpy(feed[n]) for n in self.inputs)).numpy()

    def save(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.net.state_dict(), run_dir / "model.pt")
        write_json_atomic(run_dir / "config.json", self.config.to_dict())

    @classmethod
    def load(cls, run_dir: Path) -> "AudioScorer":
        config = TrainConfig.from_dict(read_json(run_dir / "config.json"))
        scorer = cls(config)
        scorer.net.load_state_dict(load_checkpoint(run_dir / "model.pt"))
        scorer.net.eval()
        return scorer


def train_audio_run(
    config: TrainConfig,
    sets: list[RenderedSet],
    labels: dict[str, np.ndarray],
    train: tuple[str, ...],
    validation: tuple[str, ...],
    run_dir: Path,
    provenance: dict | None = None,
    progress: bool = True,
) -> AudioScorer:
    """One run in its own folder; a finished run with the same config is loaded, not retrained."""
    import time

    meta_path = run_dir / "run.json"
    if meta_path.is_file():
        meta = read_json(meta_path)
        if (
            meta.get("finished")
            and meta.get("config") == config.to_dict()
            and meta.get("soundfonts") == [s.soundfont for s in sets]
            and meta.get("augmentation", 1) == augment.VERSION  # renders drawn by other augmentation: train again
        ):
            scorer = AudioScorer.load(run_dir)
            scorer.reused = True
            return scorer
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": config.to_dict(),
        "soundfonts": [s.soundfont for s in sets],
        "augmentation": augment.VERSION,
        "feature_settings_sha256": DEFAULT_SETTINGS.sha256(),
        "train_ids": list(train),
        "validation_ids": list(validation),
        **(provenance or {}),
        "finished": False,
    }
    write_json_atomic(meta_path, meta)
    started = time.perf_counter()
    scorer = AudioScorer(config)
    meta["fit"] = scorer.fit(sets, labels, train, validation, run_dir, progress)
    scorer.save(run_dir)
    meta.update(finished=True, train_seconds=round(time.perf_counter() - started, 1))
    write_json_atomic(meta_path, meta)
    return scorer
