"""Grad-CAM over the log-mel block for the M-CRNN (or the hybrid's mel branch): which time-frequency
regions raised the predicted "Interpretation: convincing" score. Gradients of that output with respect
to the last convolution stage's activations weight its channels; the ReLU of the weighted sum is
upsampled to the mel grid and drawn over the spectrogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pianocoach.rating_scales import SCALE_NAMES
from pianocoach_train.audio.data import RenderedSet
from pianocoach_train.audio.train import AudioScorer
from pianocoach_train.plots import pyplot, save_figure

TARGET = "Interpretation: unsatisfactory-doubtful / convincing"


def grad_cam(scorer: AudioScorer, feeds: dict[str, np.ndarray], target: int) -> np.ndarray:
    """Grad-CAM maps [n, bands, frames] in 0..1 for one batch of blocks."""
    net = scorer.net
    if net.mel_body is None:
        raise ValueError(f"{scorer.config.model} has no mel branch")
    captured: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["activation"] = output

    handle = net.mel_body.conv.register_forward_hook(keep)
    try:
        net.eval()
        inputs = tuple(torch.from_numpy(feeds[n]).float() for n in scorer.inputs)
        out = net(*inputs)
        out[:, target].sum().backward()
    finally:
        handle.remove()
    activation, gradient = captured["activation"], captured["activation"].grad
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=feeds["mel"].shape[-2:], mode="bilinear", align_corners=False)[:, 0].detach().numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return cam / np.maximum(peak, 1e-12)


def save_grad_cam_figure(scorer: AudioScorer, rendered: RenderedSet, ids: list[str], path: Path) -> Path:
    """One row per performance: its most active block's log-mel and the Grad-CAM overlay."""
    target = SCALE_NAMES.index(TARGET)
    rows = []
    for ident in ids:
        a, b = rendered.rows[ident]
        rows.append(a + int(np.argmax(rendered.arrays["activity"][a:b])))
    feeds = {n: rendered.arrays[n][rows].astype(np.float32) for n in scorer.inputs}
    cams = grad_cam(scorer, feeds, target)
    with torch.no_grad():
        predicted = scorer.net(*(torch.from_numpy(feeds[n]) for n in scorer.inputs))[:, target].numpy()
    plt = pyplot()
    fig, axes = plt.subplots(len(ids), 2, figsize=(10, 2.3 * len(ids)), squeeze=False)
    for k, ident in enumerate(ids):
        mel = feeds["mel"][k, 0]
        axes[k, 0].imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, 2, 0, mel.shape[0]))
        axes[k, 0].set_title(f"{ident}: log-mel (block {rows[k] - rendered.rows[ident][0]})", fontsize=8)
        axes[k, 1].imshow(mel, origin="lower", aspect="auto", cmap="gray", extent=(0, 2, 0, mel.shape[0]))
        axes[k, 1].imshow(
            cams[k], origin="lower", aspect="auto", cmap="jet", alpha=0.45, extent=(0, 2, 0, mel.shape[0])
        )
        axes[k, 1].set_title(f"Grad-CAM for 'convincing' (predicted {predicted[k]:.2f})", fontsize=8)
        for ax in axes[k]:
            ax.set_ylabel("mel band")
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.suptitle(
        f"{scorer.config.model}: where the interpretation score comes from ({rendered.soundfont} renders)", fontsize=9
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=90)
    return path
