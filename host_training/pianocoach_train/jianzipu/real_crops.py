"""The real printed characters: crops of 五声琴谱 pages 3-25 (``../shared/guqin``, from guqinMM), their labels
parsed into the reader's parts, and the split by page.

A label is an ideographic-description prefix form, e.g. ``['Music', '⿱', '⿰', 'LEFT_FINGER_MING', '10',
'⿹', 'RIGHT_GOU', '2']`` (名十勾二): the IDC operators (⿱ ⿰ ⿹ ...) say where each part sits, the names are
components (``node_dict.txt``), the numbers hui or strings by position. :func:`reading_of_tokens` turns the
tokens into the reader's parts (``vocab.Reading``) or says why it cannot (a part the vocabulary has no class for,
or a structure it does not describe: two strings, three strokes); those characters are "outside the vocabulary"
and counted, never forced into the nearest class.

Numbers: those in the left hand's part (the top of a ⿱/⿳ character, unless a stroke is written there) are the hui
(one number: a whole hui; two: whole and tenth, except 十 over 一/二/三, which is hui 11-13 as in the long form);
any other number is the string.

The split is by page, never by crop: neighbouring crops on a page share carving, ink and scan.

    python -m pianocoach_train jianzipu real-data    # what maps and what does not (reports/jianzipu/real_data.*)
"""

from __future__ import annotations

import ast
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pianocoach.errors import InputFileError, PianoCoachError
from pianocoach.jianzipu.vocab import Reading
from pianocoach_train.paths import REPO_ROOT

log = logging.getLogger(__name__)

GUQIN_ENV = "PIANOCOACH_GUQIN"
DEFAULT_GUQIN = REPO_ROOT.parent / "shared" / "guqin"
VALIDATION_PAGES = (6, 11, 16, 21, 25)  # about a fifth of the labelled crops, spread over the book

IDC_ARITY = {"⿰": 2, "⿱": 2, "⿸": 2, "⿹": 2, "⿺": 2, "⿻": 2, "⿲": 3, "⿳": 3}
FORMS = {"TECHNIQUE_SAN_YIN": "open", "TECHNIQUE_FAN_YIN": "harmonic", "TECHNIQUE_AN_YIN": "stopped"}
FINGERS = {
    "LEFT_FINGER_DA": "大",
    "LEFT_FINGER_SHI": "食",
    "LEFT_FINGER_SHI_2": "食",
    "LEFT_FINGER_ZHONG": "中",
    "LEFT_FINGER_MING": "名",
    "LEFT_FINGER_GUI": "跪",
}
MARKS = {
    "LEFT_ZHU": "注",
    "LEFT_ZHU_2": "注",
    "LEFT_CHUO": "绰",
    "LEFT_CHUO_2": "绰",
    "LEFT_SHANG": "上",
    "LEFT_XIA": "下",
    "LEFT_YAN": "掩",
    "LEFT_YAN_2": "掩",
    "LEFT_JIU": "就",
    "LEFT_ZHUANG": "撞",
    "LEFT_DUIQI": "对起",
    "LEFT_DUIAN": "对按",
    "LEFT_YIN": "吟",
    "LEFT_ROU": "猱",
    "O_JIAN": "间",
}
TECHNIQUES = {
    "RIGHT_BI": "擘",
    "RIGHT_TUO": "托",
    "RIGHT_MO": "抹",
    "RIGHT_TIAO": "挑",
    "RIGHT_GOU": "勾",
    "RIGHT_TI": "剔",
    "RIGHT_TI_2": "剔",
    "RIGHT_DA": "打",
    "RIGHT_ZHAI": "摘",
    "RIGHT_LI": "历",
    "RIGHT_LUN": "轮",
    "RIGHT_GUN": "滚",
    "RIGHT_FU": "拂",
    "RIGHT_JUAN": "蠲",
    "RIGHT_JUAN_2": "蠲",
    "RIGHT_SUO": "锁",
    "RIGHT_CHANGSUO": "长锁",
    "RIGHT_CUO": "撮",
    "RIGHT_SHUANGTAN": "双弹",
    "RIGHT_SHUANGTAN_2": "双弹",
    "RIGHT_BACI": "拨剌",
}
HUI_OUTSIDE = "LEFT_WAI"  # 徽外


class NotInVocabulary(PianoCoachError):
    """A real character the reader's parts cannot describe; the message says which part or structure."""


def guqin_root(cli_value: str | Path | None = None) -> Path:
    """The guqin data folder: ``--data`` if given, else $PIANOCOACH_GUQIN, else ../shared/guqin."""
    if cli_value:
        return Path(cli_value)
    return Path(os.environ[GUQIN_ENV]) if os.environ.get(GUQIN_ENV) else DEFAULT_GUQIN


def parse_tree(tokens: list[str]) -> object:
    """The IDC prefix form as a nested tuple ``(operator, child, ...)``; ValueError when it is malformed."""

    def node(i: int) -> tuple[object, int]:
        if i >= len(tokens):
            raise ValueError("the IDC form ends early")
        token = tokens[i]
        if token not in IDC_ARITY:
            return token, i + 1
        children, j = [], i + 1
        for _ in range(IDC_ARITY[token]):
            child, j = node(j)
            children.append(child)
        return (token, *children), j

    tree, end = node(0)
    if end != len(tokens):
        raise ValueError(f"{len(tokens) - end} tokens after the IDC form's end")
    return tree


def leaves(tree: object) -> list[str]:
    if isinstance(tree, tuple):
        return [leaf for child in tree[1:] for leaf in leaves(child)]
    return [str(tree)]


def hui_of(numbers: list[int]) -> tuple[str, int]:
    """(whole hui as the vocabulary writes it, tenth) of the numbers written for the hui."""
    if len(numbers) == 1 and 1 <= numbers[0] <= 13:
        return str(numbers[0]), 0
    if len(numbers) == 2 and numbers[0] == 10 and numbers[1] in (1, 2, 3):
        return str(10 + numbers[1]), 0  # 十一 十二 十三: whole hui
    if len(numbers) == 2 and 1 <= numbers[0] <= 13 and 1 <= numbers[1] <= 9:
        return str(numbers[0]), numbers[1]
    if len(numbers) == 3 and numbers[:2] in ([10, 1], [10, 2], [10, 3]) and 1 <= numbers[2] <= 9:
        return str(10 + numbers[1]), numbers[2]
    raise NotInVocabulary(f"hui written as {numbers}")


def reading_of_tokens(tokens: list[str]) -> Reading:
    """The reader's parts for a label's tokens (without the leading ``Music``), or NotInVocabulary."""
    try:
        tree = parse_tree(tokens)
    except ValueError as exc:
        raise NotInVocabulary(f"malformed label ({exc})") from None
    parts = leaves(tree)
    # the left hand's part: the top of a ⿱/⿳ character unless a stroke is written there (抹 over 挑七)
    left = 0
    if isinstance(tree, tuple) and tree[0] in ("⿱", "⿳"):
        top = leaves(tree[1])
        left = 0 if any(t in TECHNIQUES for t in top) else len(top)
    form = None
    finger = None
    hui_numbers: list[int] = []
    outside = False
    strokes: list[str] = []
    strings: list[int] = []
    marks: list[str] = []
    for position, part in enumerate(parts):
        if part in FORMS:
            if form is not None:
                raise NotInVocabulary("two left-hand forms")
            form = FORMS[part]
        elif part in FINGERS:
            if finger is not None:
                raise NotInVocabulary("two fingers")
            finger = FINGERS[part]
        elif part == HUI_OUTSIDE:
            outside = True
        elif part in MARKS:
            if MARKS[part] in marks:
                raise NotInVocabulary(f"{MARKS[part]} twice")
            marks.append(MARKS[part])
        elif part in TECHNIQUES:
            strokes.append(TECHNIQUES[part])
        elif part.isdigit():
            (hui_numbers if position < left else strings).append(int(part))
        else:
            raise NotInVocabulary(f"part {part}")
    if len(strokes) > 2:
        raise NotInVocabulary("three right-hand strokes")
    if len(strings) > 1:
        raise NotInVocabulary("two strings")
    if strings and not 1 <= strings[0] <= 7:
        raise NotInVocabulary(f"string {strings[0]}")
    whole, tenth = "none", 0
    if outside:
        if hui_numbers:
            raise NotInVocabulary("徽外 with a hui number")
        whole = "外"
    elif hui_numbers:
        whole, tenth = hui_of(hui_numbers)
    stopped = finger is not None or whole != "none"
    if form is None:
        form = "stopped" if stopped else "unmarked"
    elif form == "open" and stopped:
        raise NotInVocabulary("散 with a finger or hui")
    elif form == "stopped" and not stopped:
        raise NotInVocabulary("按 without a finger or hui")
    prefix, technique = (strokes[0], strokes[1]) if len(strokes) == 2 else (None, strokes[0] if strokes else None)
    found = Reading(
        form=form,
        finger=finger,
        hui_whole=whole,
        hui_tenth=tenth,
        prefix=prefix,
        technique=technique,
        string=strings[0] if strings else None,
        marks=frozenset(marks),
    )
    if not found.valid():  # what the parser does not accept (a string without a stroke, 对起 on 散, ...)
        raise NotInVocabulary(
            f"not a character the explainer reads ({'+'.join(sorted(marks)) or 'no marks'}, "
            f"stroke {technique or 'none'}, string {strings[0] if strings else 'none'})"
        )
    return found


@dataclass(frozen=True)
class Crop:
    path: Path
    page: int
    tokens: tuple[str, ...]  # the label without "Music"
    reading: Reading | None  # None: outside the vocabulary
    why_not: str = ""  # when reading is None

    @property
    def label(self) -> str:
        return " ".join(self.tokens)


CROP_NAME = re.compile(r"wushenqinpu_(\d+)_(\d+)\.png$")


def load_crops(root: Path | None = None) -> list[Crop]:
    """Every labelled crop with its reading (or why it has none), in label-file order."""
    folder = (root or guqin_root()) / "wushen_pages_3_25"
    labels = folder / "labels.txt"
    if not labels.is_file():
        raise InputFileError(labels, "no such file (the guqin crops: ../shared/guqin, or set $PIANOCOACH_GUQIN)")
    crops = []
    lines = labels.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        match = CROP_NAME.search(fields[0]) if fields else None
        if len(fields) < 2 or match is None:
            raise InputFileError(labels, f"line {number}: not 'id<TAB>text<TAB>w<TAB>h' with a wushenqinpu crop name")
        try:
            tokens = ast.literal_eval(fields[1])
        except (ValueError, SyntaxError):
            raise InputFileError(labels, f"line {number}: the label is not a token list") from None
        if not isinstance(tokens, list) or not tokens or tokens[0] != "Music":
            raise InputFileError(labels, f"line {number}: a label starts with 'Music'")
        path = folder / "images" / Path(fields[0]).name
        try:
            reading, why = reading_of_tokens([str(t) for t in tokens[1:]]), ""
        except NotInVocabulary as exc:
            reading, why = None, str(exc)
        crops.append(Crop(path, int(match.group(1)), tuple(str(t) for t in tokens[1:]), reading, why))
    return crops


def split(crops: list[Crop], validation_pages: tuple[int, ...] = VALIDATION_PAGES) -> dict[str, list[Crop]]:
    """Training and validation crops, by page."""
    return {
        "train": [c for c in crops if c.page not in validation_pages],
        "validation": [c for c in crops if c.page in validation_pages],
    }


def coverage(crops: list[Crop]) -> dict:
    """How many real characters the vocabulary describes, and what the others need."""
    outside = Counter(c.why_not for c in crops if c.reading is None)
    within = sum(c.reading is not None for c in crops)
    return {
        "labelled": len(crops),
        "within_vocabulary": within,
        "share_within": within / len(crops) if crops else float("nan"),
        "outside_by_reason": dict(outside.most_common()),
    }


def load_images(crops: list[Crop]) -> np.ndarray:
    """The crops prepared as the device prepares a photo: uint8 (n, SIZE, SIZE), ink 255."""
    from pianocoach.jianzipu.image import load_image, prepare

    return np.stack([(prepare(load_image(c.path))[0, 0] * 255).astype(np.uint8) for c in crops])


def write_real_data_report(out_dir: Path, root: Path | None = None) -> dict[str, Path]:
    """``real_data.{json,md}``: how the labels map into the reader's parts, what does not, and the page split."""
    from pianocoach.jsonio import write_json_atomic
    from pianocoach_train.jianzipu.train import DEVELOPMENT_PAGES

    crops = load_crops(root)
    report = coverage(crops)
    within = [c for c in crops if c.reading is not None]
    parts: dict[str, Counter] = {
        "form": Counter(c.reading.form for c in within if c.reading),
        "finger": Counter(c.reading.finger or "none" for c in within if c.reading),
        "hui_whole": Counter(c.reading.hui_whole for c in within if c.reading),
        "prefix": Counter(c.reading.prefix or "none" for c in within if c.reading),
        "technique": Counter(c.reading.technique or "none" for c in within if c.reading),
        "string": Counter(str(c.reading.string or "none") for c in within if c.reading),
        "marks": Counter(m for c in within if c.reading for m in c.reading.marks),
    }
    pages = sorted({c.page for c in crops})
    role = {
        p: "validation" if p in VALIDATION_PAGES else "development" if p in DEVELOPMENT_PAGES else "train"
        for p in pages
    }
    split_counts = Counter(role[c.page] for c in within)
    report.update(
        {
            "source": str((root or guqin_root()) / "wushen_pages_3_25"),
            "pages": {str(p): role[p] for p in pages},
            "within_by_split": dict(split_counts),
            "parts": {name: dict(counts.most_common()) for name, counts in parts.items()},
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "real_data.json", out_dir / "real_data.md"
    write_json_atomic(js, report)
    lines = [
        "# The real crops (五声琴谱 pages 3-25) in the reader's parts",
        "",
        f"{report['within_vocabulary']} of {report['labelled']} labelled crops ({report['share_within']:.3f}) are "
        "within the vocabulary; by split (by page): "
        + ", ".join(f"{name} {split_counts[name]}" for name in ("train", "development", "validation"))
        + f" (validation pages {', '.join(map(str, VALIDATION_PAGES))}; "
        f"development {', '.join(map(str, DEVELOPMENT_PAGES))}).",
        "",
        "Outside the vocabulary (not trained on, counted against the share): "
        + "; ".join(f"{why} x{n}" for why, n in report["outside_by_reason"].items()),
        "",
        "| part | classes (count) |",
        "| --- | --- |",
    ]
    lines += [
        f"| {name} | " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " |"
        for name, counts in report["parts"].items()
    ]
    tmp = md.with_name(".real_data.md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(md)
    return {"markdown": md, "json": js}
