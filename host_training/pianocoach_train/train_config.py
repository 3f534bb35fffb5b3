"""The scorers' training configuration (:class:`TrainConfig`): one dataclass, saved as JSON in every run folder
and checkpoint. The language model's fine-tuning config is :mod:`pianocoach_train.llm.finetune_config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class TrainConfig:
    model: str = "blend"
    seed: int = 0
    augment: bool = True  # the device's MIDI augmentation (transpose, tempo, velocity)
    augment_copies: int = 1  # vector models: augmented copies of each training performance
    # Mild by default: the labels rate the performance as heard, so a transposed or much faster copy is
    # a different performance. Transposition lowered tree R² by 0.02-0.03 on the performer split.
    augment_semitones: int = 0
    augment_tempo: float = 0.03
    augment_velocity_scale: float = 0.05
    augment_velocity_offset: float = 3.0
    # torch models
    epochs: int = 150
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 15  # epochs without a better validation loss before stopping
    hidden: int = 128  # MLP width
    sequence_hidden: int = 64  # FCN channels and GRU units
    dropout: float = 0.3
    max_notes: int = 256  # sequence models train on random windows of this many notes
    # linear and tree models
    ridge_alpha: float = 30.0
    n_trees: int = 40
    min_samples_leaf: int = 6  # with one augmented copy: as many leaves as 3 without
    boosting_rounds: int = 200

    def augment_ranges(self):
        from pianocoach.features import AugmentRanges

        return AugmentRanges(
            self.augment_semitones, self.augment_tempo, self.augment_velocity_scale, self.augment_velocity_offset
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_overrides(self, **overrides) -> "TrainConfig":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})
