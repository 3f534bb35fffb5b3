"""The jianzipu image reader on the host: deterministic renders, held-out splits, the real crops' labels in the
reader's parts and their split by page, model shapes, Q&A data, and a tiny reader trained on real crops and renders,
exported to INT8, bundled and used to read an image and a column."""

import numpy as np
import pytest
import torch

from pianocoach.jianzipu import parse
from pianocoach.jianzipu.image import SIZE
from pianocoach.jianzipu.vocab import HEADS, MARKS
from pianocoach_train.jianzipu.dataset import Sizes, benchmark_96, is_held_out, plan
from pianocoach_train.jianzipu.model import JianzipuNet, ProbabilityNet
from pianocoach_train.jianzipu.qa import build_turns
from pianocoach_train.jianzipu.render import HELD_OUT_FONT, TRAIN_FONTS, render
from pianocoach_train.train_config import TrainConfig

TINY = Sizes(train=240, validation=60, benchmark_renders=1, held_out_combinations=40, held_out_font=40)


def test_renders_are_deterministic_by_seed():
    c = parse("中七六挑五")
    a = np.asarray(render(c, TRAIN_FONTS[0], seed=3))
    assert np.array_equal(a, np.asarray(render(c, TRAIN_FONTS[0], seed=3)))
    assert not np.array_equal(a, np.asarray(render(c, TRAIN_FONTS[0], seed=4)))
    assert not np.array_equal(a, np.asarray(render(c, HELD_OUT_FONT, seed=3)))


def test_held_out_combinations_and_font_never_reach_training():
    sets = plan(Sizes(train=3000, validation=300, held_out_combinations=300, held_out_font=300))
    for name in ("train", "validation"):
        assert not any(is_held_out(parse(text)) for text, _, _ in sets[name])
        assert all(font >= 0 for _, font, _ in sets[name])  # never the held-out font
    assert all(is_held_out(parse(text)) for text, _, _ in sets["held_out_combinations"])
    assert all(font == -1 for _, font, _ in sets["held_out_font"])
    assert not any(is_held_out(c) for c in benchmark_96()) and len(benchmark_96()) == 96
    seeds = {name: {seed for _, _, seed in jobs} for name, jobs in sets.items()}
    assert not seeds["train"] & (seeds["benchmark_96"] | seeds["held_out_combinations"] | seeds["held_out_font"])
    assert HELD_OUT_FONT.name not in {f.name for f in TRAIN_FONTS}


def test_model_heads_have_the_vocabulary_shapes():
    net = JianzipuNet().eval()
    outputs = net(torch.zeros(3, 1, SIZE, SIZE))
    assert [tuple(o.shape) for o in outputs] == [(3, len(c)) for c in HEADS.values()] + [(3, len(MARKS)), (3, 1)]
    *probabilities, marks, outside = ProbabilityNet(net)(torch.rand(2, 1, SIZE, SIZE))
    assert all(torch.allclose(p.sum(dim=1), torch.ones(2)) for p in probabilities)
    assert ((marks > 0) & (marks < 1)).all() and ((outside > 0) & (outside < 1)).all()  # sigmoids, not a softmax


def test_question_and_answer_turns_are_deterministic_and_well_formed():
    rows = build_turns(characters=50, seed=1)
    assert rows == build_turns(characters=50, seed=1)
    assert {r["kind"] for r in rows} == {"meaning", "abbreviation", "difference", "how_to_play", "pitch"}
    for row in rows:
        assert row["source"] == "jianzipu" and row["language"] in ("zh", "en")
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"] and all(
            m["content"] for m in row["messages"]
        )
    assert any("木" in r["messages"][0]["content"] and "抹" in r["messages"][1]["content"] for r in rows)


def test_a_tiny_reader_exports_to_int8_and_reads_an_image(isolated_outputs, tmp_path, monkeypatch):
    import pianocoach_train.jianzipu.train as reader_training
    from pianocoach.bundle.signing import load_public_key
    from pianocoach_export.bundle_writer import BundleModel, write_bundle
    from pianocoach_export.jianzipu_export import LABELS, ROLE, export_reader
    from pianocoach_export.signing import generate_key_pair, load_private_key
    from pianocoach_export.trained_models import MissingArtifactError
    from pianocoach_train.jianzipu.evaluate import DEVELOPMENT_SET, REAL_SET
    from pianocoach_train.jianzipu.train import ENSEMBLE, train_reader

    monkeypatch.setattr(reader_training, "WOODBLOCK", 64)  # a tiny run: few woodblock renders and composites
    monkeypatch.setattr(reader_training, "COMPOSITES", 64)
    config = TrainConfig(model="jianzipu_reader", epochs=1, batch_size=64)
    with pytest.raises(MissingArtifactError, match="run `make jianzipu-reader` first"):  # export trains nothing
        export_reader(tmp_path / "export", progress=False, sizes=TINY, config=config)
    train_reader(ENSEMBLE[0], TINY, config, progress=False)
    with pytest.raises(MissingArtifactError, match=ENSEMBLE[1]):  # every member of the averaged reader is needed
        export_reader(tmp_path / "export", progress=False, sizes=TINY, config=config)
    for variant in ENSEMBLE[1:]:
        train_reader(variant, TINY, config, progress=False)
    export = export_reader(tmp_path / "export", progress=False, sizes=TINY, config=config)
    assert len(export.members) == len(ENSEMBLE) == 2
    assert export.parity_max_abs <= 1e-4
    assert (
        export.quantization["int8_ops"].get("Conv") == 4 * len(ENSEMBLE)
        and export.bytes["int8"] < export.bytes["float"]
    )
    assert export.coverage["labelled"] == 2438 and export.coverage["share_within"] > 0.9
    assert export.unsure["outside"]["n"] > 0 and 0 <= export.unsure["outside"]["unsure"] <= 1
    assert {"composites-woodblock (torch)", "INT8 (ONNX)"} <= set(export.results)
    for name, variant in export.results.items():
        torch_only = {DEVELOPMENT_SET} if name.endswith("(torch)") else set()  # the variants compared for the choice
        assert set(variant) == {REAL_SET, "benchmark_96", "held_out_combinations", "held_out_font"} | torch_only
        assert all(0 <= r["exact_top1"] <= r["exact_top5"] <= 1 for r in variant.values())
        assert variant[REAL_SET]["n"] == 494  # the validation pages' characters within the vocabulary
    private, public = generate_key_pair("test", tmp_path / "keys")
    model = BundleModel(ROLE, export.int8_path, "cnn", "int8", LABELS)
    write_bundle(tmp_path / "bundle", [model], load_private_key(private), "reader-test")
    image = tmp_path / "char.png"
    render(parse("中七六挑五"), TRAIN_FONTS[1], seed=0, strength=0.0).save(image)
    from pianocoach.jianzipu.reader import JianzipuReader

    reader = JianzipuReader(tmp_path / "bundle", keys=[load_public_key(public)])
    result = reader.read(image)
    assert {"form", "finger", "hui", "technique", "string", "note", "frequency_hz", "confidence", "top5"} <= set(result)
    assert 0 < len(result["top5"]) <= 5 and 0 < result["confidence"] <= 1
    column = reader.read_column(stacked_column(tmp_path))
    assert len(column["characters"]) == 3 and len(column["line"]["notes"]) == 3


def stacked_column(tmp_path):
    """Three real crops of a validation page stacked top to bottom with paper between, as a handbook's column."""
    from PIL import Image

    from pianocoach_train.jianzipu.real_crops import VALIDATION_PAGES, load_crops

    crops = [c for c in load_crops() if c.page == VALIDATION_PAGES[0] and c.reading is not None][:3]
    images = [Image.open(c.path).convert("L") for c in crops]
    width = max(i.width for i in images)
    paper = int(np.percentile(np.asarray(images[0]), 90))
    column = Image.new("L", (width, sum(i.height + 8 for i in images)), paper)
    y = 4
    for image in images:
        column.paste(image, ((width - image.width) // 2, y))
        y += image.height + 8
    path = tmp_path / "column.png"
    column.save(path)
    return path


@pytest.mark.slow
def test_the_default_bundle_reads_real_printed_characters_from_the_command_line(tmp_path):
    """The shipped reader on crops of the validation pages (never trained on): every one of the first ten has its
    reading in the top 5, most as the top reading; a stacked column reads in order."""
    import json
    import subprocess
    import sys

    from pianocoach_train.jianzipu.real_crops import VALIDATION_PAGES, load_crops

    crops = [c for c in load_crops() if c.page == VALIDATION_PAGES[1] and c.reading is not None][:10]
    first = 0
    for crop in crops:
        run = subprocess.run(
            [sys.executable, "-m", "pianocoach.cli", "jianzipu", "read", "--json", str(crop.path)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert {"form", "finger", "hui", "technique", "string", "note", "confidence", "top5", "explanation_en"} <= set(
            result
        )
        assert crop.reading.text in [t["written"] for t in result["top5"]], (crop.path.name, crop.label)
        first += result["written"] == crop.reading.text
    assert first >= 7
    column = subprocess.run(
        [
            sys.executable,
            "-m",
            "pianocoach.cli",
            "jianzipu",
            "read",
            "--column",
            "--json",
            str(stacked_column(tmp_path)),
        ],
        capture_output=True,
        text=True,
    )
    assert column.returncode == 0, column.stderr
    line = json.loads(column.stdout)["line"]
    assert len(line["notes"]) == 3 and line["text"].count("\n") == 2
    (tmp_path / "blank.png").write_bytes(b"not an image")
    bad = subprocess.run(
        [sys.executable, "-m", "pianocoach.cli", "jianzipu", "read", str(tmp_path / "blank.png")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "blank.png: not a readable image" in bad.stderr
