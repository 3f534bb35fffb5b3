"""The audio evaluation end to end on the synthetic dataset: rendered through the training soundfonts and
the held-out one, then every path scored on the held-out renders (quick: performer fold 0)."""

import pytest

from pianocoach.jsonio import read_json
from pianocoach_train.audio.evaluate import TRANSCRIPTION_SOUNDFONTS, run_audio_eval
from pianocoach_train.audio.renders import render_soundfont
from pianocoach_train.audio.soundfonts import HELD_OUT, TRAINING
from pianocoach_train.percepiano import PercePiano


@pytest.mark.slow
def test_the_quick_audio_evaluation_scores_every_path_on_the_held_out_soundfont(synthetic_root, isolated_outputs):
    dataset = PercePiano.open(synthetic_root)
    for name in (HELD_OUT, *TRAINING):
        render_soundfont(
            name, dataset.midi_files, seed=0, transcribe=name in (HELD_OUT, *TRANSCRIPTION_SOUNDFONTS), workers=1
        )
    out = isolated_outputs / "reports"
    text = run_audio_eval(("transcription", "pc_fcn"), ("performer",), out, data=synthetic_root, quick=True, workers=1)
    assert "transcription" in text and HELD_OUT in text
    rows = read_json(out / "audio_eval-quick.json")["splits"]["performer"]
    assert {
        "midi_true",
        "midi_on_transcription",
        "transcription",
        "pc_fcn:mean",
        "pc_fcn:weighted",
        "fusion_pc_fcn",
    } <= set(rows)
    assert 0.0 <= rows["fusion_pc_fcn"]["folds"][0]["audio_weight"] <= 1.0
    assert all(len(rows[r]["folds"]) == 1 and len(rows[r]["mean"]["r2_per_scale"]) == 19 for r in rows)
    run = read_json(
        isolated_outputs / "artifacts" / "runs" / "audio-quick" / "pc_fcn" / "performer" / "fold_0" / "run.json"
    )
    assert (
        run["soundfonts"] == list(TRAINING) and HELD_OUT not in run["soundfonts"] and run["test_soundfont"] == HELD_OUT
    )
    assert set(run["test_ids"]).isdisjoint(run["train_ids"] + run["validation_ids"])


def test_an_unknown_audio_model_is_one_error_not_an_exit(tmp_path):
    from pianocoach_train.audio.evaluate import UnknownModelError

    with pytest.raises(UnknownModelError, match="unknown audio model 'nope' \\(known: transcription, "):
        run_audio_eval(("nope",), ("performer",), tmp_path / "report")
    assert not (tmp_path / "report").exists()


def test_a_transcription_scorer_leaf_holds_three_performances_however_many_pianos_render_them():
    """Each performance is one row per training piano, near-duplicates: the forest must not split them apart."""
    import numpy as np

    from pianocoach_train.audio.evaluate import LEAF_PERFORMANCES, transcription_config
    from pianocoach_train.models.trees import extra_trees

    config = transcription_config()
    rows_per_performance = config.augment_copies + 1
    assert rows_per_performance == len(TRANSCRIPTION_SOUNDFONTS)
    rng = np.random.default_rng(0)
    performances = rng.normal(size=(60, 5))
    performance_of_row = np.repeat(np.arange(60), rows_per_performance)
    x = performances[performance_of_row] + rng.normal(scale=0.01, size=(len(performance_of_row), 5))
    y = x @ rng.normal(size=(5, 2))
    forest = extra_trees(config).fit(x, y)
    leaves = forest.apply(x)  # [rows, trees]
    for tree in range(leaves.shape[1]):
        for leaf in np.unique(leaves[:, tree]):
            assert len(set(performance_of_row[leaves[:, tree] == leaf])) >= LEAF_PERFORMANCES
