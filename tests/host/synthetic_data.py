"""A small synthetic PercePiano-shaped dataset whose labels follow the playing, so models can learn it."""

from __future__ import annotations

import json

from midi_helpers import write_midi

from pianocoach_train.percepiano.ids import WORKS

PERFORMERS = (1, 2, 3, 4, 5)
SEGMENTS = ("1", "2")


def synthetic_id(work: str, performer: int, segment: str) -> str:
    return f"{work}_8bars_{performer}_{segment}"


def build_synthetic_dataset(root):
    """4 works x 2 passages x 5 performers. Performer p plays work w at level L = p + w/4: 70 + 15L BPM,
    velocity 30 + 15L; the first ten scales rise with L and the rest fall, so the labels are learnable
    from the features and vary inside every test list."""
    (root / "midi").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "splits").mkdir()
    labels = {}
    for w, work in enumerate(WORKS):
        for segment in SEGMENTS:
            base_pitch = 48 + 5 * w + 2 * int(segment)
            for p in PERFORMERS:
                ident = synthetic_id(work, p, segment)
                level = p + w / 4
                beat = 60.0 / (70 + 15 * level)
                velocity = int(30 + 15 * level)
                notes = [
                    (i * beat, i * beat + 0.8 * beat, base_pitch + (i * 7) % 12 + 12 * (i % 2), velocity + (i % 3) * 4)
                    for i in range(24)
                ]
                write_midi(root / "midi" / f"{ident}.mid", notes, pedal=[(0.0, 20 * p), (2.0, 0)])
                labels[ident] = [0.3 + 0.08 * level] * 10 + [0.7 - 0.08 * level] * 9 + [p]
    (root / "labels" / "mean19.json").write_text(json.dumps(labels))
    ids = lambda cond: [i for i in sorted(labels) if cond(i)]  # noqa: E731
    performer = lambda i: int(i.split("_")[-2])  # noqa: E731
    splits = {
        "performer4fold": {
            "test": ids(lambda i: performer(i) == 3),
            **{f"fold_{k}": ids(lambda i, k=k: performer(i) == (1, 2, 4, 5)[k]) for k in range(4)},
        },
        "piece4fold": {
            "test": ids(lambda i: i.startswith(WORKS[0]) and i.endswith("_2")),
            **{
                f"fold_{k}": ids(lambda i, k=k: i.startswith(WORKS[k]) and (k > 0 or i.endswith("_1")))
                for k in range(4)
            },
        },
        "work4fold": {f"fold_{k}": ids(lambda i, k=k: i.startswith(WORKS[k] + "_")) for k in range(4)},
    }
    # piece: works 1..3 hold both passages in one fold; work 0 passage 1 in fold 0, passage 2 is the test
    for name, parts in splits.items():
        (root / "splits" / f"{name}.json").write_text(json.dumps(parts))
    return root
