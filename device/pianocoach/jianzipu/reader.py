"""Read a jianzipu character from an image with the installed bundle's ``jianzipu_reader`` model (ONNX
Runtime), and explain the best reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pianocoach.bundle import DEFAULT_BUNDLE, Verification, load_verified
from pianocoach.bundle.signing import TrustedKey
from pianocoach.errors import BundleError
from pianocoach.jianzipu.explain import explain
from pianocoach.jianzipu.image import load_image, prepare
from pianocoach.jianzipu.vocab import HEADS, top_characters

ROLE = "jianzipu_reader"


class JianzipuReader:
    def __init__(
        self, bundle: str | Path | None = None, keys: list[TrustedKey] | None = None, threads: int = 1
    ) -> None:
        path = Path(bundle or DEFAULT_BUNDLE)
        if not path.is_dir():
            raise BundleError(path, "no model bundle folder here")
        self._use(path, load_verified(path, keys, threads=threads))

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
            raise BundleError(path, f"the bundle has no {ROLE} model (rebuild it with `make bundle`)")
        self.session = verified.sessions[model.file]
        self.input_name = model.inputs[0].name
        self.output_names = [o.name for o in model.outputs]
        if self.output_names != list(HEADS):
            raise BundleError(
                path, f"{model.file}: outputs {self.output_names} are not the reader's heads {list(HEADS)}"
            )

    def probabilities(self, image) -> dict[str, np.ndarray]:
        """Per-head class probabilities for one PIL image."""
        outputs = self.session.run(self.output_names, {self.input_name: prepare(image)})
        return {name: out[0] for name, out in zip(self.output_names, outputs)}

    def read(self, image_path: str | Path, tuning: str = "standard") -> dict:
        """The explain fields for the best reading, plus ``confidence`` and ``top5``."""
        candidates = top_characters(self.probabilities(load_image(image_path)), k=5)
        best = candidates[0]
        result = explain(best.character, tuning)
        result["input"] = str(image_path)
        result["confidence"] = round(best.probability, 4)
        result["top5"] = [{"written": c.character.text, "probability": round(c.probability, 4)} for c in candidates]
        return result
