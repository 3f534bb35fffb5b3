"""The image reader: a small CNN with one output head per part (form, finger, hui whole, hui tenth,
technique, string). Four conv stages (conv, batch norm, ReLU, max pool) take 96 x 96 to 6 x 6, and
each head reads the flattened map, so a part is read from where it sits in the character."""

from __future__ import annotations

import torch
from torch import nn

from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import HEADS


class JianzipuNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96), dropout: float = 0.2) -> None:
        super().__init__()
        self.widths = tuple(widths)
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1,) + widths[:-1], widths):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout))
        flat = widths[-1] * (SIZE // 2 ** len(widths)) ** 2
        self.heads = nn.ModuleDict({name: nn.Linear(flat, len(classes)) for name, classes in HEADS.items()})

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """image (batch, 1, SIZE, SIZE), ink 1 on 0 -> one logit tensor per head, in vocab.HEADS order."""
        h = self.features(image)
        return tuple(self.heads[name](h) for name in HEADS)


class ProbabilityNet(nn.Module):
    """The exported form: softmax probabilities per head (what the device reads)."""

    def __init__(self, net: JianzipuNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.softmax(logits, dim=-1) for logits in self.net(image))


def heads_loss(outputs: tuple[torch.Tensor, ...], targets: torch.Tensor) -> torch.Tensor:
    """Sum over heads of the cross-entropy of each part."""
    return sum(nn.functional.cross_entropy(logits, targets[:, i]) for i, logits in enumerate(outputs))
