"""``python -m pianocoach_train.sound_check_model``: train and measure the "is this a piano?" check (issue 19, bad
input: a guitar or speech must be refused with a reason or scored with a warning, never silently scored as piano).

The check is a small classifier on a take's sound profile (``pianocoach.features.sound_profile``) with three
classes: a piano; another struck or plucked instrument (guitar, harp, mallets, electric piano), which decays like a
piano; and a held sound (organ, strings, winds, voices, synth pads), speech or noise. A take is refused when the
last class is likely ("this does not sound like a piano"), and scored with a warning when the piano class is
unlikely. The classifier is written by hand as a float32 ONNX graph (MatMul, Relu, Softmax: a few KB).

With two training pianos, what matters is how the check treats a piano it never heard. So the candidates (a
logistic regression and a one-hidden-layer MLP, on every profile number or without the spectral envelope) are
trained on one training soundfont and measured on the other, both ways; the thresholds are set on the unheard
soundfont's pianos (99.5 % of them below the refusal threshold, 90 % above the warning one), and the candidate
that then refuses the most held sounds, speech and noise is chosen. The test clips never choose anything.

Data (``sound_check_data``): the training clips are PercePiano's performer-split training passages rendered by the
training soundfonts, the training espeak-ng voices and noise kinds; the figures come from the test clips: the
performer test passages through the held-out soundfont, other voices, other noise kinds. All of it is rendered
or synthesised here: none of it is a real piano in a real room.

Writes ``artifacts/sound_check/`` (the ONNX graph and ``model.json``) and ``reports/sound_check/``
(``sound_check.{json,md,png}``).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.features.sound_profile import PROFILE_NAMES, PROFILE_VERSION
from pianocoach.scoring.sound_check import (
    ACCEPTED,
    CLASSES,
    HELD,
    NOISY_FLATNESS,
    PIANO,
    QUIET_BELOW_DB,
    REFUSED,
    STRUCK,
    SoundCheck,
    decide,
    level_warnings,
)
from pianocoach_train.audio.noises import TRAIN_SENTENCES, TRAIN_VOICES
from pianocoach_train.audio.soundfonts import (
    HELD_OUT,
    distinct_files,
    plays_held_out_samples,
    soundfont,
    training_soundfonts,
)
from pianocoach_train.eval_report import write_benchmark
from pianocoach_train.paths import REPO_ROOT, percepiano_root
from pianocoach_train.plots import pyplot, save_figure
from pianocoach_train.runs import artifacts_dir, write_model_run
from pianocoach_train.sound_check_data import (
    ELECTRIC_PIANO_PROGRAMS,
    FAMILIES,
    PIANO_PROGRAMS,
    TEST_NOISES,
    TEST_SENTENCES,
    TEST_VOICES,
    TRAIN_NOISES,
    ClipSpec,
    profiles,
)

log = logging.getLogger(__name__)

# programmes whose notes are held at a level (bowed, blown, sung, organs, synth leads and pads): with speech and
# noise they make the class the check refuses; the rest of the non-piano programmes are struck or plucked and
# decay like a piano, so the check only warns about them
HELD_PROGRAMS = frozenset((*range(16, 24), *range(40, 45), *range(48, 96), 109, 110, 111))


def sound_class(spec: ClipSpec) -> int:
    """PIANO, STRUCK or HELD (the electric pianos count as struck: they are not what the scorer learned)."""
    if spec.is_piano:
        return PIANO
    if spec.kind in ("speech", "noise") or spec.program in HELD_PROGRAMS:
        return HELD
    return STRUCK


ONNX_INPUT = "profile"
ONNX_OUTPUT = "probabilities"
# a take is refused when its "held, speech or noise" probability is above, or its piano probability below, what
# 99.5 % of the pianos of a soundfont the model did not learn from reach; warned about when its piano probability
# is below what 90 % of them reach
REFUSE_QUANTILE = 0.995
WARN_QUANTILE = 0.10
FEATURE_SETS = ("every number", "without the spectral envelope")


def clip_specs(train_ids: list[str], test_ids: list[str], seed: int = 0) -> tuple[list[ClipSpec], list[ClipSpec]]:
    """The training and test clips: every take of each list once as a piano, and once more as another instrument;
    speech and noise as a tenth of the clips each."""
    rng = np.random.default_rng(seed)
    fonts = distinct_files(training_soundfonts())  # the clips choose the programme themselves

    def instrument_specs(ids: list[str], font_choice) -> list[ClipSpec]:
        specs = []
        families = list(FAMILIES)
        for n, ident in enumerate(ids):
            family = families[n % len(families)]
            program = int(rng.choice(FAMILIES[family]))
            specs.append(ClipSpec("instrument", family, ident, font_choice(), program, int(rng.integers(2**31))))
        return specs

    def piano_specs(ids: list[str], font_choice, training: bool) -> list[ClipSpec]:
        specs = []
        for ident in ids:
            font = font_choice()
            # training clips skip programmes replaying the held-out soundfont's samples (FluidR3's electric grand)
            programs = [p for p in PIANO_PROGRAMS if not (training and plays_held_out_samples(soundfont(font).path, p))]
            specs.append(ClipSpec("piano", "piano", ident, font, int(rng.choice(programs)), int(rng.integers(2**31))))
        return specs

    def voice_specs(voices, sentences, count: int) -> list[ClipSpec]:
        return [
            ClipSpec(
                "speech",
                voices[n % len(voices)],
                sentences[int(rng.integers(len(sentences)))],
                seed=int(rng.integers(2**31)),
            )
            for n in range(count)
        ]

    def noise_specs(kinds, count: int) -> list[ClipSpec]:
        return [ClipSpec("noise", kinds[n % len(kinds)], "", seed=int(rng.integers(2**31))) for n in range(count)]

    def train_font() -> str:
        return str(rng.choice(fonts))

    train = piano_specs(train_ids, train_font, True) + instrument_specs(train_ids, train_font)
    train += voice_specs(TRAIN_VOICES, TRAIN_SENTENCES, len(train_ids) // 5) + noise_specs(
        TRAIN_NOISES, len(train_ids) // 8
    )
    test = piano_specs(test_ids, lambda: HELD_OUT, False) + instrument_specs(test_ids, lambda: HELD_OUT)
    test += [  # the same test passages, clean: the easiest case must pass
        ClipSpec("piano", "piano (clean)", ident, HELD_OUT, 0, int(rng.integers(2**31)), augmented=False)
        for ident in test_ids[::3]
    ]
    test += [
        ClipSpec("electric piano", "electric piano", ident, HELD_OUT, program, int(rng.integers(2**31)))
        for ident, program in zip(test_ids[::4], np.resize(ELECTRIC_PIANO_PROGRAMS, len(test_ids[::4])))
    ]
    test += voice_specs(TEST_VOICES, TEST_SENTENCES, len(test_ids) // 3) + noise_specs(TEST_NOISES, len(test_ids) // 6)
    test += [  # what the quiet and noisy warnings are for
        ClipSpec("piano", "piano (noise at 5 dB SNR)", ident, HELD_OUT, 0, int(rng.integers(2**31)), snr_db=5.0)
        for ident in test_ids[1::4]
    ]
    test += [
        ClipSpec("piano", "piano (25 dB quieter)", ident, HELD_OUT, 0, int(rng.integers(2**31)), gain_db=-25.0)
        for ident in test_ids[2::4]
    ]
    return train, test


def candidates() -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic regression": make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)),
        "mlp 32": make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), alpha=1.0, max_iter=3000, random_state=0)
        ),
    }


def feature_columns(feature_set: str) -> np.ndarray:
    """A mask over ``PROFILE_NAMES``: the spectral envelope is the most instrument-specific part of the profile (a
    soundfont's own piano), so leaving it out may generalise better to an unheard piano."""
    names = np.array(PROFILE_NAMES)
    return np.ones(len(names), bool) if feature_set == FEATURE_SETS[0] else ~np.char.startswith(names, "envelope")


def soundfont_groups(specs: list[ClipSpec], seed: int = 0) -> np.ndarray:
    """0 or 1: the clips of each training soundfont, and half the speech and noise clips each (drawn)."""
    rng = np.random.default_rng(seed)
    fonts = sorted({s.soundfont for s in specs if s.soundfont})
    return np.array([fonts.index(s.soundfont) % 2 if s.soundfont else int(rng.integers(2)) for s in specs])


def unseen_piano_thresholds(model, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    """Train on one soundfont's clips, measure on the other's (both ways): the thresholds from the unheard soundfont's
    pianos, and what they do to that soundfont's other sounds (by the device's rule, :func:`decide`). The
    thresholds are the mean over the two ways."""
    from sklearn.base import clone

    found = []
    for held in (0, 1):
        fitted = clone(model).fit(x[groups != held], y[groups != held])
        p, c = fitted.predict_proba(x[groups == held]), y[groups == held]
        pianos = p[c == PIANO]
        thresholds = (
            float(np.quantile(pianos[:, HELD], REFUSE_QUANTILE)),
            float(np.quantile(pianos[:, PIANO], 1 - REFUSE_QUANTILE)),
            float(np.quantile(pianos[:, PIANO], WARN_QUANTILE)),
        )
        outcome = np.array([decide(row, *thresholds, level_warned=False) for row in p])
        found.append((*thresholds, np.mean(outcome[c == HELD] == REFUSED), np.mean(outcome[c == STRUCK] != ACCEPTED)))
    refuse, refuse_piano, warn, held_refused, struck_flagged = np.mean(found, axis=0)
    return {
        "refuse_above": round(float(refuse), 4),
        "refuse_piano_below": round(float(refuse_piano), 6),
        "warn_below": round(float(warn), 4),
        "unseen_soundfont_held_refused": round(float(held_refused), 4),
        "unseen_soundfont_struck_warned": round(float(struck_flagged), 4),
    }


def to_onnx(pipeline, columns: np.ndarray | None = None) -> bytes:
    """The fitted scaler + classifier as an ONNX graph: ``profile`` [batch, len(PROFILE_NAMES)] -> ``probabilities``
    [batch, 3] (piano, struck or plucked, held/speech/noise; or [batch, 2] for two classes). The scaler is folded
    into the first layer, and the profile numbers outside ``columns`` get zero weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from pianocoach_train.models.onnx_graphs import OPSET

    scaler, classifier = pipeline[0], pipeline[-1]
    scale = 1.0 / scaler.scale_
    if hasattr(classifier, "coefs_"):
        weights, biases = [w.copy() for w in classifier.coefs_], [b.copy() for b in classifier.intercepts_]
        binary = classifier.n_outputs_ == 1
    else:
        weights, biases = [classifier.coef_.T.copy()], [classifier.intercept_.copy()]
        binary = classifier.coef_.shape[0] == 1
    biases[0] = biases[0] - (scaler.mean_ * scale) @ weights[0]
    weights[0] = weights[0] * scale[:, None]
    columns = np.ones(len(scale), bool) if columns is None else columns
    full = np.zeros((len(columns), weights[0].shape[1]))
    full[columns] = weights[0]
    weights[0] = full
    nodes, inits, current = [], [], ONNX_INPUT
    for i, (w, b) in enumerate(zip(weights, biases)):
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
        ]
        current = f"a{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    if binary:  # one logit: [1 - p, p]
        inits.append(numpy_helper.from_array(np.array([-1.0, 1.0], np.float32), "signs"))
        nodes += [
            helper.make_node("Mul", [current, "signs"], ["pair"]),
            helper.make_node("Sigmoid", ["pair"], [ONNX_OUTPUT]),
        ]
        width = 2
    else:
        nodes.append(helper.make_node("Softmax", [current], [ONNX_OUTPUT], axis=1))
        width = len(biases[-1])
    graph = helper.make_graph(
        nodes,
        "sound_check",
        [helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, ["batch", len(columns)])],
        [helper.make_tensor_value_info(ONNX_OUTPUT, TensorProto.FLOAT, ["batch", width])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pianocoach")
    model.ir_version = 8  # readable by every ONNX Runtime the device may have
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_probabilities(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {ONNX_INPUT: x.astype(np.float32)})[0]


def verdicts(
    p: np.ndarray, refuse_above: float, refuse_piano_below: float, warn_below: float, level_warned: np.ndarray
) -> np.ndarray:
    """What the device does with each take (``p``: [n, 3] class probabilities; ``level_warned``: very quiet or very
    noisy), by the device's own rule."""
    return np.array(
        [decide(row, refuse_above, refuse_piano_below, warn_below, bool(w)) for row, w in zip(p, level_warned)]
    )


def _quantiles(values: np.ndarray, digits: int = 1) -> list[float]:
    return [round(float(v), digits) for v in np.quantile(values, [0.05, 0.5, 0.95])] if len(values) else []


def group_rows(specs: list[ClipSpec], outcome: np.ndarray, level_warned: np.ndarray) -> list[dict]:
    rows = []
    for kind, family in dict.fromkeys((s.kind, s.family) for s in specs):
        index = [i for i, s in enumerate(specs) if s.kind == kind and s.family == family]
        found = outcome[index]
        rows.append(
            {
                "kind": kind,
                "family": family,
                "clips": len(index),
                **{v: round(float(np.mean(found == v)), 3) for v in ("accepted", "warned", "refused")},
                "quiet_or_noisy_warning": round(float(np.mean(level_warned[index])), 3),
            }
        )
    return rows


@dataclass
class Clips:
    """The training and test clips' specs and profiles (the last profile column is the loudness)."""

    train_specs: list[ClipSpec]
    test_specs: list[ClipSpec]
    x_train: np.ndarray
    x_test: np.ndarray
    loudness: np.ndarray

    @property
    def level_warned(self) -> np.ndarray:
        """The test clips the device warns about as very quiet or very noisy."""
        flatness = self.x_test[:, PROFILE_NAMES.index("flatness_mean")]
        return np.array([bool(level_warnings(float(a), float(b))) for a, b in zip(self.loudness, flatness)])


def made_clips(root: Path, limit: int | None, workers: int, train_takes: int, train: bool = True) -> Clips:
    """The clips (made, or read from .cache/sound_check); ``train=False``: the test clips only."""
    from pianocoach_train.percepiano import PercePiano

    dataset = PercePiano.open(root)
    split = dataset.split("performer")
    held_out = set(split.test)
    train_ids = sorted(i for ids in split.parts.values() for i in ids if i not in held_out and i in dataset.midi_files)
    train_ids = train_ids[:: max(1, round(len(train_ids) / train_takes))][:limit]  # spread over every piece
    test_ids = sorted(i for i in split.test if i in dataset.midi_files)[:limit]
    train_specs, test_specs = clip_specs(train_ids, test_ids)
    cache = REPO_ROOT / ".cache" / "sound_check"
    x_train = profiles(train_specs, dataset.midi_files, cache, workers)[:, :-1] if train else np.zeros((0, 0))
    measured = profiles(test_specs, dataset.midi_files, cache, workers)
    return Clips(train_specs, test_specs, x_train, measured[:, :-1], measured[:, -1])


def outcome_figures(specs: list[ClipSpec], outcome: np.ndarray) -> dict[str, float]:
    """What the device did with the test clips: the pianos refused or warned about, the other sounds let through."""
    kind = np.array([s.kind for s in specs])
    piano = kind == "piano"
    other = np.isin(kind, ("instrument", "speech", "noise"))
    test_class = np.array([sound_class(s) for s in specs])
    return {
        "piano_refused": round(float(np.mean(outcome[piano] == "refused")), 4),
        "piano_warned_or_refused": round(float(np.mean(outcome[piano] != "accepted")), 4),
        "held_speech_noise_refused": round(float(np.mean(outcome[other & (test_class == HELD)] == "refused")), 4),
        "struck_warned_or_refused": round(float(np.mean(outcome[other & (test_class == STRUCK)] != "accepted")), 4),
        "not_piano_scored_without_warning": round(float(np.mean(outcome[other] == "accepted")), 4),
    }


def train_and_measure(root: Path, limit: int | None, workers: int, train_takes: int) -> tuple[dict, bytes, dict]:
    clips = made_clips(root, limit, workers, train_takes)
    train_specs, test_specs, x_train, x_test, loudness = (
        clips.train_specs,
        clips.test_specs,
        clips.x_train,
        clips.x_test,
        clips.loudness,
    )
    flatness = x_test[:, PROFILE_NAMES.index("flatness_mean")]
    level_warned = clips.level_warned
    y_train = np.array([sound_class(s) for s in train_specs])
    groups = soundfont_groups(train_specs)

    comparison, best, best_score = {}, None, -np.inf
    for feature_set in FEATURE_SETS:
        columns = feature_columns(feature_set)
        for name, model in candidates().items():
            found = unseen_piano_thresholds(model, x_train[:, columns], y_train, groups)
            comparison[f"{name}, {feature_set}"] = found
            # what matters most: refuse the other sounds while (nearly) every unheard piano passes; then the warnings
            score = found["unseen_soundfont_held_refused"] + 0.25 * found["unseen_soundfont_struck_warned"]
            if score > best_score:
                best, best_score, chosen = (name, feature_set), score, found
    name, feature_set = best
    columns = feature_columns(feature_set)
    final = candidates()[name].fit(x_train[:, columns], y_train)
    model_bytes = to_onnx(final, columns)
    p_test = onnx_probabilities(model_bytes, x_test)
    parity = float(np.max(np.abs(p_test - final.predict_proba(x_test[:, columns]))))
    refuse_above, refuse_piano_below, warn_below = (
        chosen["refuse_above"],
        chosen["refuse_piano_below"],
        chosen["warn_below"],
    )
    outcome = verdicts(p_test, refuse_above, refuse_piano_below, warn_below, level_warned)
    piano = np.array([s.kind for s in test_specs]) == "piano"
    report = {
        "data": "rendered and synthesised clips (no real recording): training = PercePiano performer-split "
        "training passages through the training soundfonts, espeak-ng voices "
        "and noise kinds; test = the performer test passages through the held-out soundfont (musescore_general), "
        "other voices and other noise kinds; most clips augmented (gain, room, EQ, noise at 15-45 dB SNR)",
        "profile_version": PROFILE_VERSION,
        "classes": list(CLASSES),
        "train_clips": len(train_specs),
        "test_clips": len(test_specs),
        "candidates": comparison,
        "chosen": f"{name}, {feature_set}",
        "refuse_above": refuse_above,
        "refuse_piano_below": refuse_piano_below,
        "warn_below": warn_below,
        "onnx_parity_max_abs": parity,
        **outcome_figures(test_specs, outcome),
        "groups": group_rows(test_specs, outcome, level_warned),
        "level_thresholds": {"quiet_below_db": QUIET_BELOW_DB, "noisy_flatness": NOISY_FLATNESS},
        "loudness_db_piano_p5_p50_p95": _quantiles(loudness[piano & (loudness > -150)]),
        "flatness_piano_p5_p50_p95": _quantiles(flatness[piano], 3),
        # what NOISY_FLATNESS was chosen from: the training pianos (augmented with 15-45 dB SNR noise for most)
        "flatness_training_pianos_p95_p99_p999": [
            round(float(v), 3)
            for v in np.quantile(x_train[y_train == PIANO, PROFILE_NAMES.index("flatness_mean")], [0.95, 0.99, 0.999])
        ],
    }
    meta = {
        "profile_version": PROFILE_VERSION,
        "profile_names": list(PROFILE_NAMES),
        "classes": list(CLASSES),
        "refuse_above": refuse_above,
        "refuse_piano_below": refuse_piano_below,
        "warn_below": warn_below,
        "architecture": f"{name} ({feature_set})",
        "test": {k: report[k] for k in ("piano_refused", "held_speech_noise_refused", "struck_warned_or_refused")},
    }
    return report, model_bytes, meta


def markdown(report: dict) -> str:
    lines = [
        f"Data: {report['data']}.",
        "",
        "| candidate (trained on one training soundfont, thresholds from the other's pianos) | held sounds, speech, "
        "noise refused | struck or plucked warned or refused |",
        "| --- | --- | --- |",
        *(
            f"| {k} | {100 * v['unseen_soundfont_held_refused']:.1f} % | "
            f"{100 * v['unseen_soundfont_struck_warned']:.1f} % |"
            for k, v in report["candidates"].items()
        ),
        "",
        f"Chosen: {report['chosen']}: refused when p(held, speech or noise) > {report['refuse_above']} or p(piano) < "
        f"{report['refuse_piano_below']}, warned when p(piano) < {report['warn_below']}.",
        "",
        f"Test clips ({report['test_clips']}, held-out soundfont): pianos refused "
        f"{100 * report['piano_refused']:.1f} %, "
        f"warned or refused {100 * report['piano_warned_or_refused']:.1f} %; held sounds, speech and noise refused "
        f"{100 * report['held_speech_noise_refused']:.1f} %; struck or plucked instruments warned or refused "
        f"{100 * report['struck_warned_or_refused']:.1f} %; other sounds scored without a warning "
        f"{100 * report['not_piano_scored_without_warning']:.1f} %.",
        "",
        f"Test pianos (p5 / p50 / p95): loudness {report['loudness_db_piano_p5_p50_p95']} dBFS, spectral flatness "
        f"{report['flatness_piano_p5_p50_p95']}. Warned as very quiet below "
        f"{report['level_thresholds']['quiet_below_db']} dBFS, as very noisy above a flatness of "
        f"{report['level_thresholds']['noisy_flatness']} (the training pianos' flatness p95 / p99 / p99.9: "
        f"{report['flatness_training_pianos_p95_p99_p999']}).",
        "",
        "| test clips | n | scored | scored, may not be a piano | refused | very quiet / noisy warning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["groups"]:
        name = _row_name(row)
        lines.append(
            f"| {name} | {row['clips']} | {100 * row['accepted']:.0f} % | {100 * row['warned']:.0f} % | "
            f"{100 * row['refused']:.0f} % | {100 * row['quiet_or_noisy_warning']:.0f} % |"
        )
    return "\n".join(lines) + "\n"


def _row_name(row: dict) -> str:
    return (
        row["family"] if row["kind"] in ("piano", "instrument", "electric piano") else f"{row['kind']}: {row['family']}"
    )


def plot(report: dict, path: Path) -> None:
    plt = pyplot()
    rows = report["groups"]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1.8))
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    labels = {"accepted": "scored", "warned": "scored, may not be a piano", "refused": "refused"}
    for key, colour in (("accepted", "#4c9a2a"), ("warned", "#e0a800"), ("refused", "#c0392b")):
        values = np.array([r[key] for r in rows])
        ax.barh(y, values, left=left, color=colour, label=labels[key])
        left += values
    ax.set_yticks(y, [_row_name(r) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="share of test clips", title="Is this a piano? Held-out soundfont, voices and noises")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
    fig.tight_layout()
    save_figure(fig, path)


def write_model(model_bytes: bytes, meta: dict, out: Path) -> None:
    write_model_run(out, "sound_check.onnx", model_bytes, meta)


def loaded_check(folder: Path) -> SoundCheck:
    """The sound check of a bundle folder (verified, against the device's keys) or of a model folder as
    ``make sound-check`` writes it (``model.json`` and ``sound_check.onnx``)."""
    from pianocoach.bundle.verify import open_session
    from pianocoach.scoring import BundleScorer

    if (folder / "manifest.json").exists():
        check = BundleScorer(folder).sound_check
        if check is None:
            raise SystemExit(f"{folder}: the bundle has no sound check")
        return check
    meta_path, model_path = folder / "model.json", folder / "sound_check.onnx"
    if not (meta_path.exists() and model_path.exists()):
        raise SystemExit(f"{folder}: neither a bundle (manifest.json) nor a sound check (model.json, sound_check.onnx)")
    return SoundCheck(open_session(model_path), json.loads(meta_path.read_text(encoding="utf-8")), folder)


def measure_checks(folders: list[Path], clips: Clips) -> dict:
    """Each sound check's verdicts on the same test clips (made by today's code), by the device's rule."""
    level_warned = clips.level_warned
    rows = {}
    for folder in folders:
        check = loaded_check(folder)
        p = np.stack([check.probabilities(row) for row in clips.x_test])
        outcome = verdicts(p, check.refuse_above, check.refuse_piano_below, check.warn_below, level_warned)
        rows[str(folder)] = outcome_figures(clips.test_specs, outcome)
    return {"test_clips": len(clips.test_specs), "checks": rows}


def measured_markdown(report: dict) -> str:
    lines = [
        f"The same {report['test_clips']} test clips (held-out soundfont, test voices and noises), each sound check "
        "by the device's rule.",
        "",
        "| sound check | pianos refused | pianos warned or refused | held sounds, speech, noise refused | struck or "
        "plucked warned or refused | other sounds scored without a warning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in report["checks"].items():
        lines.append(
            f"| {name} | {100 * f['piano_refused']:.1f} % | {100 * f['piano_warned_or_refused']:.1f} % | "
            f"{100 * f['held_speech_noise_refused']:.1f} % | {100 * f['struck_warned_or_refused']:.1f} % | "
            f"{100 * f['not_piano_scored_without_warning']:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.sound_check_model", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N takes of each list (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--train-takes",
        type=int,
        default=600,
        help="about this many training passages, every k-th of the 1,009 (default 600: every 2nd, 505)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "sound_check")
    parser.add_argument(
        "--measure",
        type=Path,
        nargs="+",
        metavar="FOLDER",
        help="train nothing: measure these sound checks (bundle folders or model folders) on the same test clips; "
        "writes measured.{json,md} in --out",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.measure:
        clips = made_clips(percepiano_root(args.data), args.takes, args.workers, args.train_takes, train=False)
        measured = measure_checks(args.measure, clips)
        write_benchmark(args.out, "measured", measured, measured_markdown, lambda report, path: None)
        return 0
    report, model_bytes, meta = train_and_measure(
        percepiano_root(args.data), args.takes, args.workers, args.train_takes
    )
    write_model(model_bytes, meta, artifacts_dir() / "sound_check")
    write_benchmark(args.out, "sound_check", report, markdown, plot)
    log.info("sound check written to %s", artifacts_dir() / "sound_check")
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("chosen", "refuse_above", "warn_below", "piano_refused", "held_speech_noise_refused")
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
