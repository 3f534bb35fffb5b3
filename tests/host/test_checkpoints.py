"""Torch checkpoints (pianocoach_train.checkpoints): a round trip keeps every tensor and value; a save that
fails leaves the previous file whole and no temporary file; loading is weights-only."""

import os

import pytest
import torch

from pianocoach_train.checkpoints import CheckpointError, load_checkpoint, save_checkpoint


def test_a_checkpoint_round_trips(tmp_path):
    net = torch.nn.Linear(3, 2)
    state = {
        "config": {"model": "mlp", "epochs": 3, "lr": 1e-3, "augment": True},
        "widths": [8, 16],
        "model": net.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "rng": {"state": {"state": 2**100}},
    }
    path = save_checkpoint(state, tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    assert loaded["config"] == state["config"] and loaded["widths"] == [8, 16] and loaded["rng"] == state["rng"]
    assert all(torch.equal(loaded["model"][k], v) for k, v in net.state_dict().items())
    assert torch.equal(loaded["torch_rng"], state["torch_rng"])
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]


def test_a_failed_save_leaves_the_old_checkpoint_and_no_partial_file(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "model": torch.ones(1000)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # a tensor is written, then a local function cannot be pickled
        save_checkpoint({"epoch": 2, "model": torch.zeros(1000), "bad": lambda: None}, path)
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]
    with pytest.raises(Exception):
        save_checkpoint({"bad": lambda: None}, tmp_path / "new.pt")
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


class Custom:
    pass


def test_loading_is_weights_only_and_problems_are_one_line(tmp_path):
    torch.save({"obj": Custom()}, tmp_path / "pickled.pt")  # not what save_checkpoint callers write
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path / "pickled.pt")
    assert str(caught.value).startswith(f"{tmp_path / 'pickled.pt'}: cannot load the checkpoint") and "\n" not in str(
        caught.value
    )
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: cannot load the checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
