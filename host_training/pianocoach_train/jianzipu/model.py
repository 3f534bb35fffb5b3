"""The image reader: a small CNN with one output head per part (form, finger, hui whole, hui tenth, prefix,
technique, string) and one multi-label head for the marks. Four conv stages (conv, batch norm, ReLU, max pool)
take 64 x 64 to 4 x 4, and each head reads the flattened map, so a part is read from where it sits in the
character."""

from __future__ import annotations

import torch
from torch import nn

from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import HEADS, MARKS


class JianzipuNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 128), dropout: float = 0.2) -> None:
        super().__init__()
        self.widths = tuple(widths)
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1,) + widths[:-1], widths):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout))
        flat = widths[-1] * (SIZE // 2 ** len(widths)) ** 2
        self.heads = nn.ModuleDict({name: nn.Linear(flat, len(classes)) for name, classes in HEADS.items()})
        self.marks = nn.Linear(flat, len(MARKS))
        self.outside = nn.Linear(flat, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """image (batch, 1, SIZE, SIZE), ink 1 on 0 -> one logit tensor per head, in vocab.HEADS order, then the
        marks' logits, then the outside logit."""
        h = self.features(image)
        return tuple(self.heads[name](h) for name in HEADS) + (self.marks(h), self.outside(h))


class ProbabilityNet(nn.Module):
    """The exported form: softmax probabilities per head (what the device reads)."""

    def __init__(self, net: JianzipuNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *heads, marks, outside = self.net(image)
        return tuple(torch.softmax(logits, dim=-1) for logits in heads) + (torch.sigmoid(marks), torch.sigmoid(outside))


class AveragedProbabilities(nn.Module):
    """Several readers as one: each output the mean of theirs (an ensemble exported as one graph, so the device
    reads it as it reads one reader)."""

    def __init__(self, members: list[ProbabilityNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = [member(image) for member in self.members]
        return tuple(torch.stack(parts).mean(dim=0) for parts in zip(*outputs))


def heads_loss(outputs: tuple[torch.Tensor, ...], targets: torch.Tensor) -> torch.Tensor:
    """Sum over heads of the cross-entropy of each part, plus the marks' binary cross-entropy (summed over marks),
    plus the outside head's. ``targets``: (batch, heads + marks + 1), the head classes, the marks' 0/1, then 1 for a
    character outside the vocabulary (whose parts and marks are not scored: its head targets are -1)."""
    *heads, marks, outside = outputs
    n_heads = len(heads)
    inside = targets[:, -1] < 0.5
    loss = outside.new_zeros(())
    if inside.any():
        loss = loss + sum(
            nn.functional.cross_entropy(logits[inside], targets[inside, i].long()) for i, logits in enumerate(heads)
        )
        mark_targets = targets[inside, n_heads:-1].float()
        loss = loss + nn.functional.binary_cross_entropy_with_logits(
            marks[inside], mark_targets, reduction="sum"
        ) / int(inside.sum())
    return loss + nn.functional.binary_cross_entropy_with_logits(outside[:, 0], targets[:, -1].float())
