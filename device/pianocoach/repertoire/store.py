"""The device's repertoire: the built-in demo pieces (``pianocoach/data/repertoire/``) and the pieces a user added
(``<data_dir>/repertoire/``: one folder a piece holding the score file as given and its cached form, and an
``index.json`` listing them).

Adding reads the score first, so a file that is not a usable score is refused with one line and nothing is
written; the piece's folder is written under a temporary name and renamed into place, and the index is
replaced atomically, so a power cut leaves the repertoire as it was or with the new piece, never half of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from pianocoach.errors import InputFileError, PianoCoachError
from pianocoach.jsonio import write_json_atomic
from pianocoach.repertoire.identify import RepertoireIndex
from pianocoach.repertoire.midi_score import read_midi_score
from pianocoach.repertoire.musicxml import ScoreFileError, read_musicxml
from pianocoach.repertoire.score import Score
from pianocoach.repertoire.variants import VARIANTS_NAME, ScoreVariants, read_variants

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "data" / "repertoire"
INDEX_NAME = "index.json"
CACHE_NAME = "score.json"
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
MIDI_SUFFIXES = (".mid", ".midi")
MAX_PIECES = 2000  # a repertoire larger than this is refused (the index is read whole at every start)


class RepertoireError(PianoCoachError):
    """A repertoire operation cannot be done (an unknown piece, a damaged index); the message says which."""


@dataclass(frozen=True)
class Piece:
    id: str
    title: str
    composer: str
    file: str  # the score file's name inside the piece's folder (built-in: inside BUILTIN_DIR)
    sha256: str
    notes: int
    bars: int
    builtin: bool = False
    added: str = ""  # UTC, ISO 8601


def read_score(path: str | Path) -> Score:
    """A MusicXML or MIDI score file, by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in MUSICXML_SUFFIXES:
        return read_musicxml(path)
    if suffix in MIDI_SUFFIXES:
        return read_midi_score(path)
    raise ScoreFileError(path, f"not a score file: expected MusicXML ({', '.join(MUSICXML_SUFFIXES)}) or MIDI (.mid)")


def slug(text: str) -> str:
    """``"Für Elise, WoO 59"`` -> ``"fur-elise-woo-59"`` (accents dropped; other scripts give ``"piece"``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:48].strip("-") or "piece"


class Repertoire:
    """``root``: the folder of added pieces (created on the first add); the built-in pieces are always listed."""

    def __init__(self, root: str | Path, builtin_dir: Path | None = BUILTIN_DIR) -> None:
        self.root = Path(root)
        self.builtin_dir = builtin_dir

    # -- reading -----------------------------------------------------------------------------------
    def pieces(self) -> list[Piece]:
        return self._builtin() + self._added()

    def piece(self, piece_id: str) -> Piece:
        for piece in self.pieces():
            if piece.id == piece_id:
                return piece
        raise RepertoireError(f"{self.root}: no piece {piece_id!r} in the repertoire (`pianocoach repertoire list`)")

    def score(self, piece_id: str) -> Score:
        """The piece's score from its cached form (rebuilt from the score file when the cache is missing,
        damaged or of another layout)."""
        piece = self.piece(piece_id)
        folder = self.builtin_dir if piece.builtin and self.builtin_dir else self.root / piece.id
        source = folder / piece.file
        cache = None if piece.builtin else folder / CACHE_NAME
        if cache is not None and cache.is_file():
            try:
                return Score.from_dict(json.loads(cache.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s: cached score unusable (%s); reading %s again", cache, exc, source.name)
        if not source.is_file():
            raise RepertoireError(
                f"{source}: the score file of {piece.id!r} has disappeared; remove the piece "
                f"(`pianocoach repertoire remove {piece.id}`) and add it again"
            )
        score = read_score(source)
        if cache is not None:
            write_json_atomic(cache, score.to_dict())
        return score

    def variants(self, piece_id: str) -> ScoreVariants | None:
        """How skilled pianists commonly play the piece otherwise than its score (learned on the host and stored
        with :meth:`set_variants`), or None."""
        piece = self.piece(piece_id)
        if piece.builtin:
            return None
        return read_variants(self.root / piece.id / VARIANTS_NAME, piece.sha256)

    # -- changing ----------------------------------------------------------------------------------
    def set_variants(self, piece_id: str, variants: ScoreVariants) -> None:
        """Keep ``variants`` beside the piece's score (replaced atomically); they must be learned on its file. The
        index is written anew, so a running daemon, which reads the repertoire again when its index changes, takes
        them up."""
        piece = self.piece(piece_id)
        if piece.builtin:
            raise RepertoireError(f"{piece_id!r} is built in: its variants cannot be changed")
        if variants.score_sha256 != piece.sha256:
            raise RepertoireError(f"{piece_id!r}: the variants were learned on another score file")
        write_json_atomic(self.root / piece.id / VARIANTS_NAME, variants.to_dict())
        self._write_index(self._added())  # a new index: a running daemon reads the pieces (and these) again

    def holding(self, path: str | Path) -> Piece | None:
        """The piece whose score file has the same bytes as ``path``, if one does."""
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            return None
        return next((p for p in self.pieces() if p.sha256 == digest), None)

    def add(self, path: str | Path, title: str | None = None) -> Piece:
        """Read ``path`` (a refused file changes nothing), then store it with its cached form. A file already in
        the repertoire (the same bytes) is not added twice: its piece is returned."""
        path = Path(path)
        score = read_score(path)  # raises ScoreFileError naming the file
        existing = self.holding(path)
        if existing is not None:
            return existing
        added = self._added()
        if len(added) >= MAX_PIECES:
            raise RepertoireError(f"{self.root}: {MAX_PIECES} pieces already; remove some first")
        taken = {p.id for p in self.pieces()}
        base = slug(title or score.title or path.stem)
        piece_id = base
        for n in range(2, MAX_PIECES + 2):
            if piece_id not in taken:
                break
            piece_id = f"{base}-{n}"
        piece = Piece(
            id=piece_id,
            title=(title or score.title or path.stem).strip()[:200],
            composer=score.composer[:200],
            file="score" + path.suffix.lower(),
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            notes=len(score),
            bars=len(score.bars),
            added=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{piece_id}-", dir=self.root))
        try:
            shutil.copyfile(path, staging / piece.file)
            write_json_atomic(staging / CACHE_NAME, score.to_dict())
            staging.rename(self.root / piece_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._write_index(added + [piece])
        log.info("repertoire: added %s (%s, %d notes, %d bars)", piece.id, piece.title, piece.notes, piece.bars)
        return piece

    def remove(self, piece_id: str) -> Piece:
        piece = self.piece(piece_id)
        if piece.builtin:
            raise RepertoireError(f"{piece_id!r} is a built-in piece; only added pieces can be removed")
        self._write_index([p for p in self._added() if p.id != piece_id])  # gone from the list first
        shutil.rmtree(self.root / piece_id, ignore_errors=True)
        return piece

    # -- internals ---------------------------------------------------------------------------------
    def _builtin(self) -> list[Piece]:
        if self.builtin_dir is None or not self.builtin_dir.is_dir():
            return []
        found = []
        for path in sorted(self.builtin_dir.iterdir()):
            if path.suffix.lower() in MUSICXML_SUFFIXES + MIDI_SUFFIXES:
                score = read_score(path)
                found.append(
                    Piece(
                        path.stem,
                        score.title,
                        score.composer,
                        path.name,
                        hashlib.sha256(path.read_bytes()).hexdigest(),
                        len(score),
                        len(score.bars),
                        True,
                    )
                )
        return found

    def _added(self) -> list[Piece]:
        index = self.root / INDEX_NAME
        if not index.is_file():
            return []
        try:
            if index.stat().st_size > 1000 * MAX_PIECES:
                raise ValueError("larger than an index of the most pieces allowed")
            rows = json.loads(index.read_text(encoding="utf-8"))["pieces"]
            return [Piece(**row) for row in rows][:MAX_PIECES]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(index, f"damaged repertoire index ({exc})") from None

    def _write_index(self, pieces: list[Piece]) -> None:
        write_json_atomic(self.root / INDEX_NAME, {"pieces": [asdict(p) for p in pieces]})


def load_index(repertoire: Repertoire) -> RepertoireIndex:
    """Every piece's score in one index; a piece that cannot be read is left out with a warning, so one broken
    entry never stops scoring."""
    scores, titles, variants = {}, {}, {}
    for piece in repertoire.pieces():
        try:
            scores[piece.id] = repertoire.score(piece.id)
            titles[piece.id] = piece.title
        except PianoCoachError as exc:
            log.warning("repertoire: %s left out: %s", piece.id, exc)
            continue
        found = repertoire.variants(piece.id)
        if found is not None:
            variants[piece.id] = found
    return RepertoireIndex(scores, titles, variants)
