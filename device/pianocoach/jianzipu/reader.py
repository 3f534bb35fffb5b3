"""Read jianzipu from an image with the installed bundle's ``jianzipu_reader`` model (ONNX Runtime): one character
(a crop or a photograph of any size and contrast), or a column of characters stacked top to bottom as handbooks
print them; and explain what was read."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pianocoach.bundle import DEFAULT_BUNDLE, Verification, load_verified
from pianocoach.bundle.signing import TrustedKey
from pianocoach.errors import BundleError, InputFileError
from pianocoach.jianzipu.column import ColumnError, cut_column
from pianocoach.jianzipu.explain import explain
from pianocoach.jianzipu.image import NoInk, load_image, prepare
from pianocoach.jianzipu.vocab import OUTPUTS, OUTSIDE_OUTPUT, OUTSIDE_THRESHOLD, Candidate, top_readings

log = logging.getLogger(__name__)

ROLE = "jianzipu_reader"
UNSURE = 0.3  # below this confidence a reading is said to be unsure (a part the reader may not know)
COLUMN_ASPECT = 2.5  # an image this many times taller than wide is read as a column


class JianzipuReader:
    def __init__(
        self, bundle: str | Path | None = None, keys: list[TrustedKey] | None = None, threads: int = 1
    ) -> None:
        path = Path(bundle or DEFAULT_BUNDLE)
        if not path.is_dir():
            raise BundleError(path, "no model bundle folder here")
        keep = lambda manifest, model: model.role == ROLE  # noqa: E731 (only the reader's session is opened)
        self._use(path, load_verified(path, keys, threads=threads, keep=keep))

    @classmethod
    def from_verified(cls, verified: Verification) -> "JianzipuReader":
        """The reader of a bundle that was just verified (its sessions are already open)."""
        reader = cls.__new__(cls)
        reader._use(verified.path, verified)
        return reader

    def _use(self, path: Path, verified: Verification) -> None:
        assert verified.manifest is not None  # a bundle that passed verification has its manifest read
        model = verified.manifest.model(ROLE)
        if model is None:
            raise BundleError(path, f"the bundle has no {ROLE} model (rebuild it with `make bundle-jianzipu`)")
        self.input_name = model.inputs[0].name
        self.output_names = [o.name for o in model.outputs]
        if self.output_names != list(OUTPUTS):
            raise BundleError(
                path,
                f"{model.file}: outputs {self.output_names} are not this reader's {list(OUTPUTS)} (a reader from "
                "another software version: install a bundle made for this one)",
            )
        self.session = verified.sessions[model.file]

    def probabilities(self, image) -> dict[str, np.ndarray]:
        """Per-output probabilities for one PIL image."""
        outputs = self.session.run(self.output_names, {self.input_name: prepare(image)})
        return {name: out[0] for name, out in zip(self.output_names, outputs)}

    def candidates(self, image) -> tuple[list[Candidate], float]:
        """The top readings, and the probability that the character is outside the vocabulary."""
        probabilities = self.probabilities(image)
        return top_readings(probabilities, k=5), float(probabilities[OUTSIDE_OUTPUT][0])

    def read(self, image_path: str | Path, tuning: str = "standard") -> dict:
        """The explain fields for the best reading, plus ``confidence`` and ``top5``; or, for a character that uses
        a part the reader has no class for, ``outside`` and no reading."""
        return self._read_image(load_image(image_path), tuning, str(image_path))

    def _read_image(self, image, tuning: str, source: str) -> dict:
        try:
            return describe(*self.candidates(image), tuning, source)
        except NoInk as exc:
            raise InputFileError(Path(source), str(exc)) from None

    def read_column(self, image_path: str | Path, tuning: str = "standard") -> dict:
        """A column: the characters top to bottom, each read and explained, and the line they make."""
        path = Path(image_path)
        image = load_image(path)
        return self._read_column(image, path, tuning, self._cut(image, path))

    def _cut(self, image, path: Path) -> list[tuple[int, int]]:
        try:
            return cut_column(np.asarray(image))
        except ColumnError as exc:
            raise InputFileError(path, str(exc)) from None

    def _read_column(self, image, path: Path, tuning: str, pieces: list[tuple[int, int]]) -> dict:
        from pianocoach.jianzipu.sequence import playable_line

        if not pieces:
            raise InputFileError(path, "no ink found (a blank, uniformly dark or transparent image)")
        characters = []
        for top, bottom in pieces:
            read = self._read_image(image.crop((0, top, image.width, bottom)), tuning, f"{path} rows {top}-{bottom}")
            read["rows"] = [top, bottom]
            characters.append(read)
        return {"input": str(path), "characters": characters, "line": playable_line(characters, tuning)}

    def read_any(self, image_path: str | Path, tuning: str = "standard", column: bool | None = None) -> dict:
        """One character, or a column: when ``column`` says so, or (None) when the image is much taller than wide and
        cuts into two or more characters."""
        path = Path(image_path)
        image = load_image(path)
        if column is False or (column is None and image.height < COLUMN_ASPECT * image.width):
            return self._read_image(image, tuning, str(path))
        pieces = self._cut(image, path)
        if column is None and len(pieces) < 2:  # a tall single character (some real crops are 3 widths tall)
            return self._read_image(image, tuning, str(path))
        if image.width > image.height:
            log.warning("%s: read as a column though it is wider than tall", path)
        return self._read_column(image, path, tuning, pieces)


def describe(candidates: list[Candidate], outside: float, tuning: str, source: str) -> dict:
    """The explanation of the best candidate, with the reader's confidence and its top 5; a character the reader
    takes to be outside its vocabulary is said to be so, never forced into the nearest reading."""
    if outside >= OUTSIDE_THRESHOLD:
        return {
            "input": source,
            "written": None,
            "outside": True,
            "outside_probability": round(outside, 4),
            "said": "this character uses a part the reader does not know (two strings, a rare stroke or mark)",
        }
    if not candidates:  # every combination of the heads' best classes was invalid
        return {"input": source, "written": None, "outside": False, "confidence": 0.0, "top5": [], "unsure": True}
    best = candidates[0]
    result = explain(best.reading.character(), tuning)
    result["input"] = source
    result["confidence"] = round(best.probability, 4)
    result["unsure"] = best.probability < UNSURE
    result["outside"] = False
    result["outside_probability"] = round(outside, 4)
    result["top5"] = [{"written": c.reading.text, "probability": round(c.probability, 4)} for c in candidates]
    return result
