"""Reading MusicXML scores (``.musicxml``/``.xml``, and compressed ``.mxl``) with the standard library.

partitura reads MusicXML too, but it needs scipy and lxml, which the device does not carry; what the coach
needs from a score is small: pitched notes with their written onsets and durations (ties merged, chords sharing
an onset, ``<backup>``/``<forward>`` moving the cursor between voices), the staff of each note, the notes a player
may add (grace notes, trill and turn neighbours, tremolo strokes: ornaments, neither right nor wrong), the bars with
time signatures, repeat barlines and volta endings, and the key, tempo and dynamics markings.

Bounded: a score file is at most :data:`MAX_FILE_BYTES`, an ``.mxl`` archive's score at most
:data:`MAX_XML_BYTES` unpacked, and a score at most :data:`MAX_NOTES` notes. A file that declares XML
entities is refused (the "billion laughs"); ElementTree never fetches the external DTD a MusicXML file names.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from pianocoach.errors import InputFileError
from pianocoach.repertoire.score import Bar, Marking, Score, sorted_score

MAX_FILE_BYTES = 20_000_000
MAX_XML_BYTES = 50_000_000
MAX_NOTES = 200_000
STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
DYNAMICS = ("pppp", "ppp", "pp", "p", "mp", "mf", "f", "ff", "fff", "ffff", "fp", "sf", "sfz", "sffz", "fz", "rf")
BEAT_UNITS = {"whole": 4.0, "half": 2.0, "quarter": 1.0, "eighth": 0.5, "16th": 0.25}


class ScoreFileError(InputFileError):
    """A score file cannot be read: not MusicXML or MIDI, damaged, too large, or without notes."""


def read_musicxml(path: str | Path) -> Score:
    """The score in a ``.musicxml``/``.xml``/``.mxl`` file (every part; staves numbered from the top)."""
    path = Path(path)
    root = _parse(path, _xml_bytes(path))
    if root.tag == "score-timewise":
        raise ScoreFileError(path, "a timewise MusicXML score: export it as partwise (the usual form)")
    if root.tag != "score-partwise":
        raise ScoreFileError(path, f"not a MusicXML score (its root element is <{root.tag}>)")
    reader = _PartwiseReader(path)
    staff_offset = 0
    for part in root.findall("part"):
        staff_offset += reader.read_part(part, staff_offset)
    if not reader.pitches:
        raise ScoreFileError(path, "the score holds no notes")
    title = _text(root, "work/work-title") or _text(root, "movement-title") or path.stem
    composer = _text(root, "identification/creator[@type='composer']")
    score = Score(
        title=title,
        composer=composer,
        onset_q=np.asarray(reader.onsets, dtype=np.float64),
        duration_q=np.asarray(reader.durations, dtype=np.float64),
        pitch=np.asarray(reader.pitches, dtype=np.int16),
        staff=np.asarray(reader.staves, dtype=np.int8),
        bar=np.asarray(reader.bar_of_note, dtype=np.int32),
        bars=reader.bars,
        markings=reader.markings,
        grace_notes=reader.grace_notes,
        ornament_q=np.asarray([o for o, _ in reader.ornaments], dtype=np.float64),
        ornament_pitch=np.asarray([p for _, p in reader.ornaments], dtype=np.int16),
    )
    return sorted_score(score)


def _xml_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScoreFileError(
                path, f"{size / 1e6:.0f} MB: larger than a score ({MAX_FILE_BYTES / 1e6:.0f} MB at most)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScoreFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ScoreFileError(path, "a folder, not a score file") from None
    except OSError as exc:
        raise ScoreFileError(path, f"cannot read it ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    return _mxl_score(path, data)


def _mxl_score(path: Path, data: bytes) -> bytes:
    """The score inside a compressed ``.mxl``: the rootfile META-INF/container.xml names, else the one
    MusicXML file at the top of the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            name = None
            if "META-INF/container.xml" in names:
                container = _parse(path, _read_member(path, archive, "META-INF/container.xml"))
                rootfile = container.find(".//rootfile")
                name = rootfile.get("full-path") if rootfile is not None else None
            if name is None:
                candidates = [n for n in names if "/" not in n and n.lower().endswith((".xml", ".musicxml"))]
                name = candidates[0] if len(candidates) == 1 else None
            if name is None or name not in names:
                raise ScoreFileError(path, "a compressed MusicXML (.mxl) archive without its score")
            return _read_member(path, archive, name)
    except zipfile.BadZipFile as exc:
        raise ScoreFileError(path, f"a damaged .mxl archive ({exc})") from None


def _read_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > MAX_XML_BYTES:
        raise ScoreFileError(path, f"{name} inside the archive is larger than a score")
    with archive.open(name) as member:
        data = member.read(MAX_XML_BYTES + 1)  # the declared size may lie: read no more than the limit
    if len(data) > MAX_XML_BYTES:
        raise ScoreFileError(path, f"{name} inside the archive is larger than a score")
    return data


def _parse(path: Path, data: bytes) -> ElementTree.Element:
    if b"<!ENTITY" in data:
        raise ScoreFileError(path, "declares XML entities, which a MusicXML score never needs: refused")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ScoreFileError(path, f"not a MusicXML score (XML error: {exc})") from None


def _text(element: ElementTree.Element, path: str, default: str = "") -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None and found.text else default


def _number(element: ElementTree.Element, path: str, default: float) -> float:
    try:
        return float(_text(element, path) or default)
    except ValueError:
        return default


def _pitch(element: ElementTree.Element) -> int | None:
    """A note's MIDI pitch; None when its step is not A-G (or it has no pitch)."""
    step = _text(element, "pitch/step")
    if step not in STEPS:
        return None
    return int(
        round((_number(element, "pitch/octave", 4) + 1) * 12 + STEPS[step] + _number(element, "pitch/alter", 0.0))
    )


class _PartwiseReader:
    """Walks the measures of each part with a time cursor in quarter notes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.onsets: list[float] = []
        self.durations: list[float] = []
        self.pitches: list[int] = []
        self.staves: list[int] = []
        self.bar_of_note: list[int] = []
        self.bars: list[Bar] = []
        self.markings: list[Marking] = []
        self.fermatas: set[float] = set()
        self.grace_notes = 0
        self.ornaments: list[tuple[float, int]] = []  # (written onset, pitch) a player may add
        self._tremolo_start: list[tuple[float, int]] = []  # the first notes of a two-note tremolo

    def read_part(self, part: ElementTree.Element, staff_offset: int) -> int:
        """Read one part; returns how many staves it has. The first part defines the bars."""
        divisions, beats, beat_type, staves = 1.0, 4, 4, 1
        first_part = not self.bars
        start = 0.0
        open_ties: dict[tuple[int, int], int] = {}  # (staff, pitch) -> index of the note a tie continues
        volta: tuple[int, ...] = ()  # the ending the bars belong to, from its start barline to its stop
        for index, measure in enumerate(part.findall("measure")):
            cursor, last_onset, reached, sounding_until = 0.0, 0.0, 0.0, 0.0
            flags: dict = {"repeat_start": False, "repeat_end": 0, "endings": volta}
            for element in measure:
                tag = element.tag
                if tag == "attributes":
                    divisions = _number(element, "divisions", divisions) or divisions
                    if element.find("time") is not None:
                        beats = int(_number(element, "time/beats", beats))
                        beat_type = int(_number(element, "time/beat-type", beat_type))
                    staves = max(staves, int(_number(element, "staves", staves)))
                    if first_part and element.find("key/fifths") is not None:
                        self.markings.append(Marking(start + cursor, "key", _number(element, "key/fifths", 0)))
                elif tag == "note":
                    if element.find("grace") is not None or element.find("cue") is not None:
                        if element.find("grace") is not None:
                            self.grace_notes += 1
                            self._grace(element, start + cursor)
                        continue
                    duration = _number(element, "duration", 0.0) / divisions
                    onset = last_onset if element.find("chord") is not None else cursor
                    if element.find("notations/fermata") is not None and first_part:
                        self._fermata(start + onset)
                    if element.find("pitch") is not None:
                        self._note(element, start + onset, duration, staff_offset, index, first_part, open_ties)
                        sounding_until = max(sounding_until, onset + duration)
                    if element.find("chord") is None:
                        last_onset = cursor
                        cursor += duration
                    rest = element.find("rest")
                    if rest is not None and rest.get("measure") == "yes":
                        continue  # a whole-bar rest is written with the full bar even in a pickup bar
                elif tag == "backup":
                    cursor -= _number(element, "duration", 0.0) / divisions
                elif tag == "forward":
                    cursor += _number(element, "duration", 0.0) / divisions
                elif tag in ("direction", "sound") and first_part:
                    offset = _number(element, "offset", 0.0) / divisions if tag == "direction" else 0.0
                    self._direction(element, start + cursor + offset, staff_offset)
                elif tag == "barline":
                    self._barline(element, flags)
                reached = max(reached, cursor)
            volta = () if flags.pop("ending_ends", False) else flags["endings"]
            nominal = beats * 4.0 / beat_type
            length = reached if 0 < reached < nominal else nominal
            if measure.get("implicit") == "yes" and 0 < sounding_until < length:
                length = sounding_until  # a pickup bar is as long as its notes (some editors pad it with rests)
            if first_part:
                self.bars.append(Bar(measure.get("number", str(index + 1)), start, length, beats, beat_type, **flags))
            start += length
        return staves

    def _note(
        self,
        element,
        onset: float,
        duration: float,
        staff_offset: int,
        bar: int,
        first_part: bool,
        open_ties: dict[tuple[int, int], int],
    ) -> None:
        pitch = _pitch(element)
        if pitch is None:
            raise ScoreFileError(self.path, f"a note with the pitch step {_text(element, 'pitch/step')!r}")
        staff = staff_offset + int(_number(element, "staff", 1))
        ties = {tie.get("type") for tie in element.findall("tie")}
        key = (staff, pitch)
        if "stop" in ties and key in open_ties:  # the tied note lengthens the one it continues
            first = open_ties.pop(key)
            self.durations[first] = max(self.durations[first], onset + duration - self.onsets[first])
            if "start" in ties:
                open_ties[key] = first
            return
        if len(self.pitches) >= MAX_NOTES:
            raise ScoreFileError(self.path, f"more than {MAX_NOTES} notes: not a score the device can follow")
        self._ornaments(element, onset, pitch)
        self.onsets.append(onset)
        self.durations.append(duration)
        self.pitches.append(pitch)
        self.staves.append(staff)
        self.bar_of_note.append(bar if first_part else min(bar, max(len(self.bars) - 1, 0)))
        if "start" in ties:
            open_ties[key] = len(self.pitches) - 1

    def _fermata(self, at_q: float) -> None:
        """A note or rest held at the player's will: the pause after it is asked for (once per onset)."""
        if at_q not in self.fermatas and len(self.fermatas) < MAX_NOTES:
            self.fermatas.add(at_q)
            self.markings.append(Marking(at_q, "fermata"))

    def _grace(self, element, at_q: float) -> None:
        """A grace note is played before the note it leads to: an ornament of the notes at ``at_q``."""
        pitch = _pitch(element)
        if pitch is not None and len(self.ornaments) < MAX_NOTES:
            self.ornaments.append((at_q, pitch))

    def _ornaments(self, element, onset: float, pitch: int) -> None:
        """Trills and turns add the neighbours (a semitone or a tone away: the key decides, the player knows);
        a tremolo strikes its notes again (a two-note tremolo alternates them: each belongs to both onsets)."""
        if len(self.ornaments) >= MAX_NOTES:
            return
        marks = element.find("notations/ornaments")
        if marks is None:
            return
        added: list[tuple[float, int]] = []
        if marks.find("trill-mark") is not None or marks.find("wavy-line") is not None:
            added += [(onset, pitch), (onset, pitch + 1), (onset, pitch + 2)]
        if any(marks.find(t) is not None for t in ("turn", "inverted-turn", "mordent", "inverted-mordent")):
            added += [(onset, pitch)] + [(onset, pitch + d) for d in (-2, -1, 1, 2)]
        tremolo = marks.find("tremolo")
        if tremolo is not None:
            kind = tremolo.get("type", "single")
            if kind == "start":
                self._tremolo_start.append((onset, pitch))
            elif kind == "stop" and self._tremolo_start:
                first = self._tremolo_start
                self._tremolo_start = []
                for at in {first[0][0], onset}:
                    added += [(at, p) for _, p in first] + [(at, pitch)]
            else:
                added.append((onset, pitch))
        self.ornaments.extend(added)

    def _direction(self, element, at_q: float, staff_offset: int) -> None:
        staff = staff_offset + int(_number(element, "staff", 0)) if element.find("staff") is not None else 0
        sound = element if element.tag == "sound" else element.find("sound")
        tempo = sound.get("tempo") if sound is not None else None
        if tempo is None and element.find("direction-type/metronome/per-minute") is not None:
            unit = BEAT_UNITS.get(_text(element, "direction-type/metronome/beat-unit"), 1.0)
            if element.find("direction-type/metronome/beat-unit-dot") is not None:
                unit *= 1.5
            tempo = str(_number(element, "direction-type/metronome/per-minute", 0.0) * unit)
        try:
            if tempo is not None and float(tempo) > 0:
                self.markings.append(Marking(at_q, "tempo", float(tempo)))
        except ValueError:
            pass
        for dynamics in element.findall("direction-type/dynamics"):
            for mark in dynamics:
                if mark.tag in DYNAMICS:
                    self.markings.append(Marking(at_q, "dynamic", text=mark.tag, staff=staff))
        for wedge in element.findall("direction-type/wedge"):
            if wedge.get("type") in ("crescendo", "diminuendo", "stop"):
                self.markings.append(Marking(at_q, "wedge", text=wedge.get("type", ""), staff=staff))

    @staticmethod
    def _barline(element, flags: dict) -> None:
        repeat = element.find("repeat")
        if repeat is not None and repeat.get("direction") == "forward":
            flags["repeat_start"] = True
        elif repeat is not None and repeat.get("direction") == "backward":
            flags["repeat_end"] = int(repeat.get("times", "2") or 2)
        ending = element.find("ending")
        if ending is not None and ending.get("type") == "start":
            numbers = tuple(int(n) for n in ending.get("number", "").replace(" ", "").split(",") if n.isdigit())
            flags["endings"] = numbers
        elif ending is not None and ending.get("type") in ("stop", "discontinue"):
            flags["ending_ends"] = True
