"""Golden tests: the device's numbers on a committed MIDI file and its FluidSynth render (tests/fixtures/)
against the numbers committed with them, within the tolerances below.

- Feature numbers that differ while FeatureSettings (version and hash) is the recorded one fail as a feature
  change without a version bump: caches and bundles trust the version, so it must be bumped.
- A FeatureSettings version or hash other than the recorded one fails until the goldens are regenerated
  (``make golden``) and the diff reviewed.
- Scores are checked against the default bundle they were made with; a new default bundle fails until the
  goldens are regenerated.

Only device-side dependencies; the transcription checks skip where basic-pitch's model is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from pianocoach.features import DEFAULT_SETTINGS

# Descriptor vectors (MIDI and transcribed windows) are float64 numpy arithmetic stored as float32: another
# CPU or numpy build may round differently in the last float64 bits, which moves a float32 value by about
# one unit in the last place (6e-8 relative); 1e-6 relative allows ~16 of those. The absolute part covers
# values that are float64 round-off around zero (e.g. the spread of identical intervals, 3e-16).
VECTOR_RTOL = 1e-6
VECTOR_ATOL = 1e-6
# Log-mel in dB: float32 |STFT|^2 and a float32 matrix product whose summation order the BLAS chooses per
# CPU (relative ~1e-6 of the power, ~4e-6 dB; a float32 step at -50 dB is 4e-6 dB); 1e-4 dB is 25 such steps
# and still catches a 2.3e-5 relative change of the power.
MEL_ATOL_DB = 1e-4
# Contour rows (pitch scaled 0..1 over the piano range, voiced probability, onset strength in dB) and the
# rhythm pair (tempo / 200 BPM, beat stability): float64 pYIN, Viterbi and beat tracking stored as float32.
# Their discrete choices (a Viterbi path, a beat) are stable under round-off on these inputs.
CONTOUR_ATOL = 1e-4
RHYTHM_ATOL = 1e-5
ACTIVITY_ATOL = 1e-5  # mean onset strength (float32 mean of 100 frames)
LEVEL_ATOL_DB = 1.5e-3  # level_db is rounded to 0.001 dB: round-off may move the last digit by one
# Transcribed notes: onsets and offsets are functions of frame indices (exact unless a posterior crosses a
# threshold); velocity is round(127 x amplitude) of float32 ONNX outputs, which may land one step away.
NOTE_TIME_ATOL_S = 1e-6
NOTE_VELOCITY_ATOL = 1
# Scores: the bundle's INT8 ONNX models run by ONNX Runtime, whose integer and float kernels differ between
# CPUs (AVX2, AVX-512 VNNI, ARM dot product); results are rounded to 1e-4 (scales) and 0.1 (overall mark).
# Scale values lie within 1/7..1: 0.005 is 0.6 % of that range; the overall mark is 0..100.
SCORE_ATOL = 5e-3
OVERALL_ATOL = 0.5


def _load_golden():
    path = Path(__file__).resolve().parents[1] / "fixtures" / "golden.py"
    spec = importlib.util.spec_from_file_location("pianocoach_golden_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


golden = _load_golden()
REGENERATE = golden.REGENERATE_COMMAND


@pytest.fixture(scope="module")
def expected() -> tuple[dict, dict[str, np.ndarray]]:
    return golden.load_expected()


@pytest.fixture(scope="module")
def transcription_model() -> None:
    missing = golden.transcription_available()
    if missing:
        pytest.skip(f"audio transcription needs basic-pitch's model: {missing}")


def require_recorded_settings(data: dict) -> None:
    """Fail (regenerate) when FeatureSettings is not the one the goldens were made with."""
    recorded, current = data["feature_settings"], golden.feature_stamp()
    if recorded != current:
        pytest.fail(
            f"FeatureSettings changed since the golden numbers were made (recorded version {recorded['version']}, "
            f"hash {recorded['sha256'][:12]}; now version {current['version']}, hash {current['sha256'][:12]}): "
            f"regenerate them with `{REGENERATE}` and review the diff of tests/fixtures/golden.json",
            pytrace=False,
        )


def fail_feature_change(what: str, problems: list[str]) -> None:
    if problems:
        listed = "\n  ".join(problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else []))
        pytest.fail(
            f"{what}: the feature code changed the numbers without a FeatureSettings.version bump (still version "
            f"{DEFAULT_SETTINGS.version}):\n  {listed}\nIf the change is intended, bump FeatureSettings.version in "
            f"device/pianocoach/features/settings.py (caches and bundles trust it), then regenerate the goldens with "
            f"`{REGENERATE}` and review the diff. (If no feature code changed, this platform computes beyond the "
            "tolerances stated in tests/device/test_golden.py.)",
            pytrace=False,
        )


def array_differences(name: str, want: np.ndarray, got: np.ndarray, rtol: float = 0.0, atol: float = 0.0) -> list[str]:
    want, got = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if want.shape != got.shape:
        return [f"{name}: shape {want.shape}, now {got.shape}"]
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if not bad.any():
        return []
    worst = np.unravel_index(np.argmax(np.where(bad, np.abs(got - want), -1.0)), want.shape)
    return [
        f"{name}: {int(bad.sum())} of {want.size} values differ, e.g. at {tuple(int(i) for i in worst)} "
        f"{want[worst]:.9g} -> {got[worst]:.9g}"
    ]


def window_differences(what: str, want: list[dict], got: list[dict]) -> list[str]:
    """Descriptor vectors of scoring windows, named descriptor by descriptor."""
    if [(w["end"], w["notes"]) for w in want] != [(g["end"], g["notes"]) for g in got]:
        return [
            f"{what}: windows (end s, notes) {[(w['end'], w['notes']) for w in want]}, "
            f"now {[(g['end'], g['notes']) for g in got]}"
        ]
    problems = []
    for w, g in zip(want, got):
        if list(w["vector"]) != list(g["vector"]):
            problems.append(f"{what} ending {w['end']} s: descriptor names or order differ")
            continue
        for name, value in w["vector"].items():
            if not np.isclose(g["vector"][name], value, rtol=VECTOR_RTOL, atol=VECTOR_ATOL):
                problems.append(f"{what} ending {w['end']} s: {name} {value:.9g} -> {g['vector'][name]:.9g}")
    return problems


def test_fixture_inputs_are_the_recorded_ones(expected):
    data, _ = expected
    for kind, path in (("midi", golden.MIDI_FILE), ("audio", golden.AUDIO_FILE)):
        assert golden.sha256_file(path) == data["inputs"][kind]["sha256"], (
            f"{path.name} is not the file the golden numbers were made from: regenerate them with `{REGENERATE}`"
        )


def test_midi_feature_vectors(expected):
    data, _ = expected
    require_recorded_settings(data)
    fail_feature_change(
        "MIDI descriptor vectors", window_differences("MIDI window", data["midi_windows"], golden.midi_windows())
    )


def test_audio_feature_blocks(expected):
    data, arrays = expected
    require_recorded_settings(data)
    rows, now = golden.audio_blocks()
    want = data["audio_blocks"]
    problems = [] if len(rows) == len(want) else [f"{len(want)} audio feature blocks, now {len(rows)}"]
    if not problems:
        problems += array_differences("mel (dB)", arrays["mel"], now["mel"], atol=MEL_ATOL_DB)
        for row, name in enumerate(("pitch", "voiced probability", "onset strength")):
            problems += array_differences(
                f"contour {name}", arrays["contour"][:, row], now["contour"][:, row], atol=CONTOUR_ATOL
            )
        problems += array_differences(
            "rhythm", [b["rhythm"] for b in want], [b["rhythm"] for b in rows], atol=RHYTHM_ATOL
        )
        problems += array_differences(
            "activity", [b["activity"] for b in want], [b["activity"] for b in rows], atol=ACTIVITY_ATOL
        )
        problems += array_differences(
            "level_db", [b["level_db"] for b in want], [b["level_db"] for b in rows], atol=LEVEL_ATOL_DB
        )
    fail_feature_change("audio feature blocks", problems)


def test_transcribed_notes_and_their_vectors(expected, transcription_model):
    data, _ = expected
    require_recorded_settings(data)
    now = golden.transcription()
    want_notes, got_notes = np.array(data["transcription"]["notes"]), np.array(now["notes"])
    if want_notes.shape != got_notes.shape or not np.array_equal(want_notes[:, 2], got_notes[:, 2]):
        problems = [
            f"{len(want_notes)} transcribed notes (pitches {want_notes[:, 2].astype(int).tolist()}), now "
            f"{len(got_notes)} ({got_notes[:, 2].astype(int).tolist() if len(got_notes) else []})"
        ]
    else:
        problems = array_differences(
            "note onsets and offsets (s)", want_notes[:, :2], got_notes[:, :2], atol=NOTE_TIME_ATOL_S
        ) + array_differences("note velocities", want_notes[:, 3], got_notes[:, 3], atol=NOTE_VELOCITY_ATOL)
    problems += window_differences("transcribed window", data["transcription"]["windows"], now["windows"])
    fail_feature_change("transcription of golden.flac", problems)


@pytest.mark.parametrize("kind", ["midi", "audio"])
def test_default_bundle_scores(expected, kind, request):
    data, _ = expected
    if kind == "audio":
        request.getfixturevalue("transcription_model")
    require_recorded_settings(data)  # first: a bundle made for other feature settings is refused when loaded
    scorer = request.getfixturevalue("scorer")  # the committed default bundle, verified (tests/device/conftest.py)
    if scorer.bundle_id != data["bundle_id"]:
        pytest.fail(
            f"the default bundle is now {scorer.bundle_id}, the golden scores were made with {data['bundle_id']}: "
            f"regenerate the scores with `{REGENERATE}` and review the diff of tests/fixtures/golden.json",
            pytrace=False,
        )
    path = golden.MIDI_FILE if kind == "midi" else golden.AUDIO_FILE
    want, got = data["scores"][kind], golden.scores(path, scorer)
    problems = []
    if list(want["scale_values"]) != list(got["scale_values"]):
        problems.append(f"scale names or order differ: {list(got['scale_values'])}")
    else:
        problems += [
            f"{name}: {value:.4f} -> {got['scale_values'][name]:.4f}"
            for name, value in want["scale_values"].items()
            if abs(got["scale_values"][name] - value) > SCORE_ATOL
        ]
    if abs(got["overall"] - want["overall"]) > OVERALL_ATOL:
        problems.append(f"overall mark: {want['overall']} -> {got['overall']}")
    if problems:
        pytest.fail(
            f"the default bundle's scores of {path.name} changed with the same bundle ({scorer.bundle_id}) and "
            f"FeatureSettings version {DEFAULT_SETTINGS.version}:\n  "
            + "\n  ".join(problems)
            + "\nEither the feature code changed the numbers without a FeatureSettings.version bump (the feature "
            "golden tests say which numbers) or the scoring code (windows, aggregation, audio fusion) changed the "
            f"results. If that is intended, regenerate with `{REGENERATE}` and review the diff.",
            pytrace=False,
        )
