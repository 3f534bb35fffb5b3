"""The bundle's microphone path is chosen from the measured audio evaluation, not by code."""

from pianocoach.jsonio import write_json_atomic
from pianocoach_train.audio.path_choice import choose_audio_path


def report(r2: dict[str, float]) -> dict:
    """Two splits; every fusion row's folds chose audio shares 0.2 and 0.4 on validation."""
    return {
        "splits": {
            split: {
                row: {
                    "mean": {"r2": value + offset},
                    "folds": [{"audio_weight": 0.2}, {"audio_weight": 0.4}] if row.startswith("fusion") else [],
                }
                for row, value in r2.items()
            }
            for split, offset in (("performer", 0.0), ("piece", 0.1))
        }
    }


def test_the_best_measured_path_is_chosen(tmp_path):
    path = tmp_path / "audio_eval.json"
    write_json_atomic(
        path,
        report(
            {
                "m_crnn:weighted": 0.20,
                "hybrid:weighted": 0.25,
                "pc_fcn:weighted": 0.1,
                "fusion_hybrid": 0.32,
                "fusion_m_crnn": 0.28,
                "transcription": 0.30,
            }
        ),
    )
    choice = choose_audio_path(path)
    assert choice["mode"] == "fusion" and choice["audio_model"] == "hybrid" and choice["audio_weight"] == 0.3
    assert choice["measured"]["fusion"] == 0.37  # mean over the two splits
    write_json_atomic(path, report({"m_crnn:weighted": 0.40, "fusion_m_crnn": 0.35, "transcription": 0.30}))
    assert choose_audio_path(path)["mode"] == "audio_model"
    write_json_atomic(path, report({"m_crnn:weighted": 0.10, "fusion_m_crnn": 0.2, "transcription": 0.30}))
    choice = choose_audio_path(path)  # the notes path alone is reported, but the audio model is always used
    assert choice["mode"] == "fusion" and choice["measured"]["transcription"] == 0.35


def test_without_an_audio_evaluation_there_is_no_audio_path(tmp_path):
    assert choose_audio_path(tmp_path / "missing.json") is None
