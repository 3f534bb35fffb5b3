"""The real printed crops of 五声琴谱 (../shared/guqin): their labels in the reader's parts, what is outside the
vocabulary and why, and the split by page."""

import pytest

from pianocoach.jianzipu.vocab import Reading
from pianocoach_train.jianzipu.real_crops import (
    VALIDATION_PAGES,
    NotInVocabulary,
    coverage,
    load_crops,
    reading_of_tokens,
    split,
)
from pianocoach_train.jianzipu.train import DEVELOPMENT_PAGES


@pytest.mark.parametrize(
    "label, expected",
    [
        ("⿱ ⿰ LEFT_FINGER_MING 10 ⿹ RIGHT_GOU 2", Reading("stopped", "名", "10", 0, None, "勾", 2)),
        ("⿱ TECHNIQUE_SAN_YIN ⿺ RIGHT_TIAO 7", Reading("open", None, "none", 0, None, "挑", 7)),
        ("⿹ RIGHT_GOU 4", Reading("unmarked", None, "none", 0, None, "勾", 4)),  # an open string without 散
        ("⿱ ⿰ LEFT_FINGER_MING ⿱ 10 1 ⿹ RIGHT_DA 3", Reading("stopped", "名", "11", 0, None, "打", 3)),  # 十一
        ("⿱ ⿰ LEFT_FINGER_MING ⿱ 7 8 LEFT_DUIQI", Reading("stopped", "名", "7", 8, marks=frozenset({"对起"}))),
        ("⿱ RIGHT_MO ⿺ RIGHT_TIAO 7", Reading("unmarked", None, "none", 0, "抹", "挑", 7)),  # 抹挑七
        (
            "⿳ ⿰ LEFT_FINGER_DA 9 ⿹ RIGHT_GOU O_JIAN ⿹ RIGHT_GOU 4",
            Reading("stopped", "大", "9", 0, "勾", "勾", 4, frozenset({"间"})),
        ),
        ("⿳ ⿰ LEFT_FINGER_DA 9 RIGHT_MO 5", Reading("stopped", "大", "9", 0, None, "抹", 5)),  # the numeral under 木
        (
            "⿱ ⿰ LEFT_FINGER_DA 9 ⿰ LEFT_ZHU ⿺ RIGHT_TIAO 4",
            Reading("stopped", "大", "9", 0, None, "挑", 4, frozenset({"注"})),
        ),
        ("⿱ ⿰ LEFT_FINGER_MING LEFT_WAI ⿹ RIGHT_GOU 5", Reading("stopped", "名", "外", 0, None, "勾", 5)),  # 徽外
        ("⿱ ⿰ 7 6 ⿹ RIGHT_GOU 3", Reading("stopped", None, "7", 6, None, "勾", 3)),  # the finger carried over
    ],
)
def test_labels_become_the_readers_parts(label, expected):
    found = reading_of_tokens(label.split())
    assert found == expected and found.valid()


@pytest.mark.parametrize(
    "label, why",
    [
        ("⿲ N LR_QIACUO_2 N".replace("N", "5"), "part LR_QIACUO_2"),
        ("⿱ TECHNIQUE_SAN_YIN ⿲ 4 RIGHT_CUO 6", "two strings"),
        ("⿱ TECHNIQUE_SAN_YIN RIGHT_GOU RIGHT_GOU 4", "malformed"),
        ("⿱ ⿰ LEFT_FINGER_MING LEFT_FINGER_DA ⿹ RIGHT_GOU 2", "two fingers"),
        ("⿹ RIGHT_GOU 9", "string 9"),
    ],
)
def test_what_the_vocabulary_cannot_describe_is_refused_with_the_reason(label, why):
    with pytest.raises(NotInVocabulary, match=why):
        reading_of_tokens(label.split())


def test_the_real_crops_load_and_split_by_page():
    crops = load_crops()
    assert len(crops) == 2438 and all(c.path.is_file() for c in crops[:50])
    report = coverage(crops)
    assert report["share_within"] >= 0.9  # issue 21's goal for the vocabulary
    assert sum(report["outside_by_reason"].values()) == report["labelled"] - report["within_vocabulary"]
    parts = split(crops)
    assert {c.page for c in parts["validation"]} == set(VALIDATION_PAGES)
    assert not {c.page for c in parts["train"]} & set(VALIDATION_PAGES)
    assert not set(DEVELOPMENT_PAGES) & set(VALIDATION_PAGES)


def test_a_missing_data_folder_is_named(tmp_path):
    from pianocoach.errors import InputFileError

    with pytest.raises(InputFileError, match="labels.txt: no such file"):
        load_crops(tmp_path)


def test_a_photograph_of_a_crop_prepares_like_the_scan():
    """Real crops as a phone might see them: eight times larger, lit from one side, low contrast, noisy. The reader's
    input is nearly the same as the enlarged scan's; without the lighting flattened it is not."""
    import numpy as np
    from PIL import Image

    import pianocoach.jianzipu.image as image

    rng = np.random.default_rng(0)
    crops = [c for c in load_crops() if c.page in VALIDATION_PAGES and c.reading is not None][::25]
    flattened, raw = [], []
    for crop in crops:
        scan = Image.open(crop.path).convert("L")
        big = np.asarray(scan.resize((scan.width * 8, scan.height * 8), Image.Resampling.BICUBIC), dtype=np.float32)
        light = np.linspace(0.55, 1.0, big.shape[1])[None, :]  # a lamp on the right
        photo = np.clip((120 + 0.45 * big) * light + rng.normal(0, 3, big.shape), 0, 255).astype(np.uint8)
        reference = image.prepare(Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)))
        flattened.append(np.abs(image.prepare(Image.fromarray(photo)) - reference).mean())
        amount = image.ink(photo.astype(np.float32))  # what prepare would see without the flattening
        raw.append(float(np.abs((amount > 0.25).mean() - (image.ink(big) > 0.25).mean())))
    assert len(crops) >= 15
    assert float(np.max(flattened)) < 0.05, flattened
    assert float(np.mean(raw)) > 0.05  # the lamp alone would have turned paper into ink


def test_composites_are_new_combinations_in_the_books_own_hand():
    """The left hand of one training crop over the right hand of another: valid readings the training pages lack,
    never a validation page's crop."""
    import numpy as np

    from pianocoach.jianzipu.image import SIZE
    from pianocoach_train.jianzipu.composites import composite_reading, composites, split_row
    from pianocoach_train.jianzipu.train import held_out_pages

    crops = [c for c in load_crops() if c.page not in held_out_pages()]
    images, readings = composites(crops, 40, seed=3)
    assert images.shape == (40, SIZE, SIZE) and len(readings) == 40
    seen = {c.reading for c in crops if c.reading is not None}
    assert all(r.valid() and r not in seen for r in readings)
    assert all((image > 64).mean() > 0.02 for image in images)  # ink from both halves
    top = Reading("stopped", "名", "10", 0, None, "勾", 2)
    bottom = Reading("open", None, "none", 0, "抹", "挑", 7)
    assert composite_reading(top, bottom) == Reading("stopped", "名", "10", 0, "抹", "挑", 7)
    page = np.full((60, 30), 255, dtype=np.uint8)
    page[5:25], page[33:55] = 0, 0  # ink above and below an empty band at rows 25-32
    assert 25 <= split_row(page) < 33
