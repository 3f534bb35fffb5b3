"""The data check on a small broken copy of the dataset layout that the test builds, and on the real one."""

import json
import os
import subprocess
import sys

import pytest
from midi_helpers import write_midi
from real_data import real_percepiano

from pianocoach_train.percepiano import PercePiano
from pianocoach_train.percepiano.check import check_dataset, format_report

GOOD = [0.5] * 19 + [1]
IDS = [f"Beethoven_WoO80_thema_8bars_{p}_1" for p in range(1, 7)]


def broken_dataset(root):
    (root / "midi").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "splits").mkdir()
    for ident in IDS[:4]:
        write_midi(root / "midi" / f"{ident}.mid", [(0.0, 0.5, 60, 64), (0.5, 1.0, 62, 64)])
    write_midi(root / "midi" / f" {IDS[4]}.mid", [(0.0, 0.5, 60, 64)])  # leading space: normalised
    (root / "midi" / f"{IDS[3]}.mid").write_bytes(b"garbage")  # unreadable
    write_midi(root / "midi" / "Beethoven_WoO80_thema_8bars_9_1.mid", [(0.0, 0.5, 60, 64)])  # unlabelled
    write_midi(root / "midi" / "Beethoven_WoO80_thema_8bars_8_1.mid", [(0.0, 0.5, 60, 64)])  # in no split
    labels = {i: GOOD for i in IDS + ["Beethoven_WoO80_thema_8bars_8_1"]}  # IDS[5] has no MIDI: missing
    labels[IDS[1]] = [1.4] + [0.5] * 18 + [1]  # out of range
    labels["Beethoven_WoO80_thema_8bars_7_1"] = [0.5, 0.5]  # malformed
    (root / "labels" / "mean19.json").write_text(json.dumps(labels))
    split = {
        "test": [IDS[0]],
        "fold_0": [IDS[1]],
        "fold_1": [IDS[2], IDS[0]],
        "fold_2": [IDS[3]],
        "fold_3": [IDS[4], IDS[5]],
    }
    for name in ("performer4fold", "piece4fold", "work4fold"):
        (root / "splits" / f"{name}.json").write_text(json.dumps(split))
    return root


def test_check_lists_every_problem_without_stopping(tmp_path):
    report = check_dataset(PercePiano.open(broken_dataset(tmp_path / "pp")), progress=False)
    kinds = {p.kind for p in report.problems}
    assert {
        "missing MIDI",
        "unlabelled MIDI",
        "unreadable MIDI",
        "label out of range",
        "malformed label row",
        "id in two parts",
        "split id without MIDI",
        "id in no part",
    } <= kinds
    assert report.normalised == [(f" {IDS[4]}.mid", IDS[4])]
    assert not any(p.subject == IDS[4] and p.kind == "missing MIDI" for p in report.problems)
    text = format_report(report)
    assert f"unreadable MIDI: {IDS[3]}" in text and "garbage" not in text.split("problems:")[0]


def run_check(*args, env_root=None):
    env = dict(os.environ)
    if env_root:
        env["PIANOCOACH_PERCEPIANO"] = str(env_root)
    return subprocess.run(
        [sys.executable, "-m", "pianocoach_train", "data", "check", *args], capture_output=True, text=True, env=env
    )


def test_cli_exit_codes_and_data_setting(tmp_path):
    broken = broken_dataset(tmp_path / "pp")
    by_flag = run_check("--data", str(broken), "--json", str(tmp_path / "report.json"))
    assert by_flag.returncode == 1 and "missing MIDI" in by_flag.stdout
    assert json.loads((tmp_path / "report.json").read_text())["performances"] == 7
    by_env = run_check(env_root=broken)
    assert by_env.returncode == 1 and str(broken) in by_env.stdout
    nowhere = run_check("--data", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2
    assert (
        nowhere.stderr.strip() == f"pianocoach_train: error: {tmp_path / 'nowhere'}: no PercePiano data here "
        "(expected midi/ and labels/mean19.json); pass --data or set $PIANOCOACH_PERCEPIANO"
    )


@pytest.mark.slow
def test_real_dataset_report():
    real_percepiano()
    run = run_check()
    assert run.returncode == 0, run.stdout[-2000:]
    out = run.stdout
    assert "performances: 1202 MIDI files, 1202 labelled, 4 works" in out
    assert "performer  test 193" in out and "piece      test 181" in out
    assert "' Schubert_D935_no.3_4bars_2_1.mid' -> Schubert_D935_no.3_4bars_2_1" in out
    assert "problems: none" in out
