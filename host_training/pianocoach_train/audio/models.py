"""The three audio models, each predicting the 19 scales from one 2 s block.

- ``PCFCN``  (pitch-contour FCN): 1-D convolutions, batch norm, ReLU, average pooling, then fully
  connected layers, over the contour [pitch, voiced probability, onset strength] x 100 frames;
- ``MCRNN``  (mel CRNN): 2-D convolutions, batch norm, ELU, max pooling, a GRU over time, then fully
  connected layers, over the log-mel block [1, 64 bands, 100 frames];
- ``Hybrid``: both bodies side by side, fused by fully connected layers.
Each also sees the block's [tempo, beat stability] at its fully connected layers. Outputs are on the
label scale: the head predicts standardised scores, de-standardised by the training labels' mean and std
kept inside the model (so the exported ONNX graph gives label-scale scores directly).
"""

from __future__ import annotations

import torch
from torch import nn

from pianocoach.features.audio import INPUT_NAMES
from pianocoach.rating_scales import SCALE_NAMES

N_SCALES = len(SCALE_NAMES)
MEL_OFFSET_DB, MEL_SCALE_DB = 50.0, 25.0  # fixed input scaling: -100..0 dB -> about -2..2


class ContourBody(nn.Module):
    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels

        def stage(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, k, padding=k // 2), nn.BatchNorm1d(cout), nn.ReLU()]

        self.net = nn.Sequential(
            nn.BatchNorm1d(3),
            *stage(3, c, 5),
            nn.AvgPool1d(2),
            *stage(c, 2 * c, 5),
            nn.AvgPool1d(2),
            *stage(2 * c, 2 * c, 3),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
        )
        self.width = 2 * c

    def forward(self, contour: torch.Tensor) -> torch.Tensor:
        return self.net(contour)


class MelBody(nn.Module):
    def __init__(self, bands: int = 64, channels: int = 8, hidden: int = 48) -> None:
        super().__init__()
        c = channels

        def stage(cin: int, cout: int, pool: tuple[int, int]) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ELU(), nn.MaxPool2d(pool)]

        # the 20 ms frames are averaged in pairs first: a 40 ms grid halves the cost of every layer (an
        # epoch took 21 s on 2 cores at 20 ms) and still resolves note onsets
        self.pool_time = nn.AvgPool2d((1, 2))
        self.conv = nn.Sequential(*stage(1, c, (2, 2)), *stage(c, 2 * c, (2, 2)), *stage(2 * c, 4 * c, (2, 1)))
        self.gru = nn.GRU(4 * c * (bands // 8), hidden, batch_first=True)
        self.width = 2 * hidden

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool_time((mel - MEL_OFFSET_DB) / MEL_SCALE_DB))  # [n, 4c, bands/8, frames/8]
        x = x.flatten(1, 2).transpose(1, 2)  # [n, frames/4, features]
        sequence, last = self.gru(x)
        return torch.cat([sequence.mean(dim=1), last[0]], dim=1)


class AudioScorerNet(nn.Module):
    """Bodies -> concat with rhythm -> fully connected -> 19 label-scale scores."""

    inputs: tuple[str, ...] = INPUT_NAMES

    def __init__(self, contour: bool, mel: bool, bands: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.contour_body = ContourBody() if contour else None
        self.mel_body = MelBody(bands) if mel else None
        width = 2 + (self.contour_body.width if contour else 0) + (self.mel_body.width if mel else 0)
        self.head = nn.Sequential(nn.Linear(width, 64), nn.ELU(), nn.Dropout(dropout), nn.Linear(64, N_SCALES))
        self.register_buffer("label_mean", torch.zeros(N_SCALES))
        self.register_buffer("label_std", torch.ones(N_SCALES))
        self.inputs = tuple(n for n, used in (("mel", mel), ("contour", contour), ("rhythm", True)) if used)

    def set_labels(self, mean, std) -> None:
        self.label_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.label_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.inputs, tensors))
        parts = []
        if self.mel_body is not None:
            parts.append(self.mel_body(named["mel"]))
        if self.contour_body is not None:
            parts.append(self.contour_body(named["contour"]))
        parts.append(named["rhythm"])
        return self.label_mean + self.label_std * self.head(torch.cat(parts, dim=1))


ARCHITECTURES = {
    "pc_fcn": dict(contour=True, mel=False),
    "m_crnn": dict(contour=False, mel=True),
    "hybrid": dict(contour=True, mel=True),
}


def build_net(name: str, bands: int = 64) -> AudioScorerNet:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown audio model {name!r} (known: {', '.join(ARCHITECTURES)})")
    return AudioScorerNet(bands=bands, **ARCHITECTURES[name])
