"""Cross-fitted note-end models, for measuring the transcription path with heard ends (issue 19, item 3;
``make note-end-crossfit``, about 15 minutes).

The bundle's note-end model learned from the performer split's non-test takes, the very takes the transcription scorer
learns from: on those its ends are in sample, better than on a take it never heard, so a scorer trained on them could
learn to trust ends more than the device's deserve (README *The scorer hears the note ends*). Here every PercePiano
rendition (one player's take of a work, all its segments) is given to one of ``FOLDS`` groups; each group's ends come
from a model trained on the other groups' takes (the four training pianos), in every piano's render, the held-out one
included. Every vector the transcription path learns from or is tested on then has the ends of a take the model never
heard, as on a device. Writes ``artifacts/note_end/crossfit/{fold_<k>.onnx, folds.json}``; ``python -m
pianocoach_train audio eval --models transcription_heard_ends_crossfit`` measures the scorer on them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from pianocoach.features.note_ends import FEATURE_NAMES, NOTE_END_VERSION
from pianocoach_train.note_end_model import default_pedal, load_takes, sha256_file, to_onnx
from pianocoach_train.note_trees import fit
from pianocoach_train.paths import percepiano_root
from pianocoach_train.runs import artifacts_dir

log = logging.getLogger(__name__)

FOLDS = 4


def crossfit_dir() -> Path:
    return artifacts_dir() / "note_end" / "crossfit"


def fold_of(ident: str) -> int:
    """A performance's group, by a hash of its work and performer: every segment of one player's rendition of a work,
    and every piano's render of it, is in the same group (a model never heard any of that rendition)."""
    from pianocoach_train.percepiano.ids import parse_id

    performance = parse_id(ident)
    return int(hashlib.sha256(f"{performance.work}|{performance.performer}".encode()).hexdigest(), 16) % FOLDS


def train_folds(root: Path, workers: int, pedal_model: Path, limit: int | None = None) -> dict:
    from pianocoach_train.audio.evaluate import TRANSCRIPTION_SOUNDFONTS
    from pianocoach_train.percepiano import PercePiano

    dataset = PercePiano.open(root)
    midi = dataset.midi_files
    ids = sorted(midi)[:limit]
    pedal = str(pedal_model)
    takes = [t for font in TRANSCRIPTION_SOUNDFONTS for t in load_takes(font, ids, midi, pedal, workers)]
    out = crossfit_dir()
    out.mkdir(parents=True, exist_ok=True)
    models = {}
    for fold in range(FOLDS):
        train = [t for t in takes if fold_of(t.ident) != fold]
        x = np.concatenate([t.features[t.matched] for t in train]).astype(np.float32)
        y = np.concatenate([t.label for t in train])
        graph = to_onnx(fit(x, y))
        (out / f".fold_{fold}.onnx.tmp").write_bytes(graph)
        (out / f".fold_{fold}.onnx.tmp").replace(out / f"fold_{fold}.onnx")
        models[str(fold)] = {"file": f"fold_{fold}.onnx", "sha256": hashlib.sha256(graph).hexdigest(), "notes": len(y)}
        log.info("fold %d: %d notes from %d takes", fold, len(y), len(train))
    meta = {
        "folds": FOLDS,
        "fold_of": "sha256(work|performer) mod folds",
        "features_version": NOTE_END_VERSION,
        "features": list(FEATURE_NAMES),
        "pedal_sha256": sha256_file(pedal_model),
        "soundfonts": list(TRANSCRIPTION_SOUNDFONTS),
        "models": models,
    }
    (out / "folds.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pianocoach_train.note_end_crossfit", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", help="PercePiano folder (default $PIANOCOACH_PERCEPIANO or ../shared/percepiano)")
    parser.add_argument("--takes", type=int, help="only the first N performances")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pedal", type=Path, help="the pedal model (default: make pedal-model's when trained, else the bundle's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    meta = train_folds(percepiano_root(args.data), args.workers, args.pedal or default_pedal(), args.takes)
    print(json.dumps({k: v["notes"] for k, v in meta["models"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
