"""The repertoire: MusicXML and MIDI scores read into notes, bars and markings, stored and listed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianocoach.repertoire import ScoreFileError, read_musicxml
from pianocoach.repertoire.midi_score import read_midi_score
from pianocoach.repertoire.store import BUILTIN_DIR, INDEX_NAME, Repertoire, RepertoireError, read_score

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="4.0"><work><work-title>Test piece</work-title></work>
<part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list><part id="P1">"""
TAIL = "</part></score-partwise>"


def note(step: str, octave: int, duration: int, staff: int = 1, *extra: str, alter: int = 0) -> str:
    pitch = f"<step>{step}</step>" + (f"<alter>{alter}</alter>" if alter else "") + f"<octave>{octave}</octave>"
    return (
        f"<note>{''.join(e for e in extra if e == '<chord/>')}<pitch>{pitch}</pitch><duration>{duration}</duration>"
        f"{''.join(e for e in extra if e != '<chord/>')}<voice>1</voice><staff>{staff}</staff></note>"
    )


def rest(duration: int, staff: int = 1, whole_bar: bool = False) -> str:
    marker = ' measure="yes"' if whole_bar else ""
    return f"<note><rest{marker}/><duration>{duration}</duration><staff>{staff}</staff></note>"


def write(tmp_path: Path, body: str, name: str = "piece.musicxml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body + TAIL, encoding="utf-8")
    return path


# 2 divisions a quarter, 3/4; bar 0 a pickup of one quarter (padded with a rest, as some editors write it);
# bar 1: a C major chord in the right hand over a left-hand G2 (after <backup>), a grace note, an E4 tied into
# bar 2, a tempo of 90 and p; bar 2 doubles the divisions and ends a repeat; bar 3 is the first volta.
PIECE = (
    '<measure number="0" implicit="yes"><attributes><divisions>2</divisions><key><fifths>0</fifths></key>'
    "<time><beats>3</beats><beat-type>4</beat-type></time><staves>2</staves></attributes>"
    "<direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>90</per-minute></metronome>"
    "</direction-type><staff>1</staff></direction>"
    + note("G", 4, 2)
    + rest(4)
    + "<backup><duration>6</duration></backup>"
    + rest(6, staff=2, whole_bar=True)
    + "</measure>"
    '<measure number="1"><barline location="left"><repeat direction="forward"/></barline>'
    "<direction><direction-type><dynamics><p/></dynamics></direction-type><staff>1</staff></direction>"
    + note("C", 4, 2)
    + note("E", 4, 2, 1, "<chord/>")
    + note("G", 4, 2, 1, "<chord/>")
    + "<note><grace/><pitch><step>D</step><octave>5</octave></pitch><voice>1</voice><staff>1</staff></note>"
    + note("C", 5, 2)
    + note("E", 4, 2, 1, '<tie type="start"/>')
    + "<backup><duration>6</duration></backup>"
    + note("G", 2, 6, 2)
    + "</measure>"
    '<measure number="2"><attributes><divisions>4</divisions></attributes>'
    '<direction><direction-type><wedge type="crescendo"/></direction-type><staff>1</staff></direction>'
    + note("E", 4, 4, 1, '<tie type="stop"/>')
    + note("F", 4, 8, 1, alter=1)
    + '<barline location="right"><repeat direction="backward"/></barline></measure>'
    '<measure number="3"><barline location="left"><ending number="1" type="start"/></barline>'
    + note("G", 4, 12)
    + '<barline location="right"><ending number="1" type="stop"/></barline></measure>'
)


def test_musicxml_notes_bars_and_markings(tmp_path):
    score = read_musicxml(write(tmp_path, PIECE))
    assert score.title == "Test piece"
    rows = list(
        zip(
            score.onset_q.tolist(),
            score.duration_q.tolist(),
            score.pitch.tolist(),
            score.staff.tolist(),
            score.bar.tolist(),
        )
    )
    assert rows == [
        (0.0, 1.0, 67, 1, 0),  # the pickup: one quarter, so bar 1 starts at 1.0
        (1.0, 3.0, 43, 2, 1),  # the left hand after <backup> (notes are ordered by onset, then pitch)
        (1.0, 1.0, 60, 1, 1),  # a chord shares its onset
        (1.0, 1.0, 64, 1, 1),
        (1.0, 1.0, 67, 1, 1),
        (2.0, 1.0, 72, 1, 1),  # the grace note before it takes no time and is left out
        (3.0, 2.0, 64, 1, 1),  # tied into bar 2: one note of two quarters
        (5.0, 2.0, 66, 1, 2),  # F#4 after the divisions changed to 4
        (7.0, 3.0, 67, 1, 3),
    ]
    assert score.grace_notes == 1
    assert [(b.number, b.start_q, b.length_q) for b in score.bars] == [
        ("0", 0, 1),
        ("1", 1, 3),
        ("2", 4, 3),
        ("3", 7, 3),
    ]
    assert score.bars[1].repeat_start and score.bars[2].repeat_end == 2 and score.bars[3].endings == (1,)
    kinds = {(m.kind, m.at_q, m.value if m.kind in ("tempo", "key") else m.text) for m in score.markings}
    assert {("tempo", 0.0, 90.0), ("dynamic", 1.0, "p"), ("wedge", 4.0, "crescendo"), ("key", 0.0, 0.0)} == kinds
    assert np.allclose(score.seconds([0.0, 1.0, 10.0]), [0.0, 60 / 90, 10 * 60 / 90])


def test_the_cached_form_gives_the_same_score(tmp_path):
    score = read_musicxml(write(tmp_path, PIECE))
    again = type(score).from_dict(json.loads(json.dumps(score.to_dict())))
    for name in ("onset_q", "duration_q", "pitch", "staff", "bar"):
        assert np.array_equal(getattr(again, name), getattr(score, name))
    assert again.bars == score.bars and again.markings == score.markings and again.title == score.title


@pytest.mark.parametrize("name", ["minuet-in-g", "ode-to-joy", "c-major-scale-study"])
def test_the_built_in_pieces_read_and_fill_their_bars(name):
    score = read_musicxml(BUILTIN_DIR / f"{name}.musicxml")
    assert len(score) > 50 and set(score.staff.tolist()) == {1, 2}
    assert score.of_kind("tempo") and (score.of_kind("dynamic") or name == "c-major-scale-study")
    ends = score.onset_q + score.duration_q
    assert ends.max() <= score.length_q + 1e-9
    for index, bar in enumerate(score.bars):  # every note lies inside the bar it is listed in
        inside = score.bar == index
        assert np.all(score.onset_q[inside] >= bar.start_q - 1e-9)
        assert np.all(score.onset_q[inside] < bar.start_q + bar.length_q - 1e-9)
    assert np.all(np.diff(score.seconds(np.sort(score.onset_q))) >= 0)


def test_repeats_and_voltas_of_the_built_in_pieces():
    minuet = read_musicxml(BUILTIN_DIR / "minuet-in-g.musicxml")
    assert minuet.bars[0].repeat_start and minuet.bars[15].repeat_end == 2
    study = read_musicxml(BUILTIN_DIR / "c-major-scale-study.musicxml")
    assert [b.endings for b in study.bars][-2:] == [(1,), (2,)] and any(b.repeat_end for b in study.bars)


def test_a_compressed_mxl_reads_like_the_plain_file(tmp_path):
    plain = BUILTIN_DIR / "ode-to-joy.musicxml"
    mxl = tmp_path / "ode.mxl"
    container = (
        '<?xml version="1.0"?><container><rootfiles><rootfile full-path="score/ode.musicxml"/></rootfiles></container>'
    )
    with zipfile.ZipFile(mxl, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("score/ode.musicxml", plain.read_bytes())
    a, b = read_musicxml(plain), read_score(mxl)
    assert np.array_equal(a.pitch, b.pitch) and np.array_equal(a.onset_q, b.onset_q) and a.bars == b.bars


@pytest.mark.parametrize(
    "content, message",
    [
        ("this is not xml", "not a MusicXML score (XML error"),
        ("<html><body/></html>", "not a MusicXML score (its root element is <html>)"),
        (HEAD + '<measure number="1">' + rest(4) + "</measure>" + TAIL, "the score holds no notes"),
        (
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><score-partwise>&b;'
            "</score-partwise>",
            "declares XML entities",
        ),
        ('<score-timewise version="4.0"/>', "a timewise MusicXML score"),
    ],
)
def test_a_file_that_is_not_a_usable_score_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "bad.musicxml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScoreFileError, match=re.escape(message)) as caught:
        read_score(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_oversized_missing_and_unknown_files_are_refused(tmp_path, monkeypatch):
    from pianocoach.repertoire import musicxml

    path = write(tmp_path, PIECE)
    monkeypatch.setattr(musicxml, "MAX_FILE_BYTES", 100)
    with pytest.raises(ScoreFileError, match="larger than a score"):
        read_musicxml(path)
    with pytest.raises(ScoreFileError, match="no such file"):
        read_score(tmp_path / "gone.musicxml")
    (tmp_path / "notes.txt").write_text("C D E")
    with pytest.raises(ScoreFileError, match="not a score file"):
        read_score(tmp_path / "notes.txt")
    (tmp_path / "empty.mid").write_bytes(b"")
    with pytest.raises(ScoreFileError, match="file is empty"):
        read_score(tmp_path / "empty.mid")
    (tmp_path / "junk.mid").write_bytes(b"MThd garbage")
    with pytest.raises(ScoreFileError, match="not a readable MIDI file"):
        read_score(tmp_path / "junk.mid")


def _midi(path: Path, tracks: list[list[tuple[float, float, int]]], tempo: float = 90.0) -> Path:
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0.0))
    for notes in tracks:
        track = pretty_midi.Instrument(0)
        track.notes = [pretty_midi.Note(80, pitch, start, end) for start, end, pitch in notes]
        midi.instruments.append(track)
    midi.write(str(path))
    return path


def test_a_midi_score_in_quarters_with_bars_and_staves(tmp_path):
    q = 60 / 90  # seconds a quarter at 90 BPM
    path = _midi(tmp_path / "two.mid", [[(0, q, 72), (q, 3 * q, 74), (3 * q, 4 * q, 76)], [(0, 3 * q, 48)]])
    score = read_midi_score(path)
    assert list(zip(score.onset_q.round(6).tolist(), score.pitch.tolist(), score.staff.tolist())) == [
        (0.0, 48, 2),
        (0.0, 72, 1),
        (1.0, 74, 1),
        (3.0, 76, 1),
    ]
    assert np.allclose(score.duration_q, [3, 1, 2, 1])
    assert [(b.start_q, b.length_q, b.beats) for b in score.bars] == [(0.0, 3.0, 3), (3.0, 3.0, 3)]
    assert score.bar.tolist() == [0, 0, 0, 1] and score.of_kind("tempo")[0].value == pytest.approx(90.0)
    single = read_midi_score(_midi(tmp_path / "one.mid", [[(0, q, 72), (0, q, 48)]]))
    assert dict(zip(single.pitch.tolist(), single.staff.tolist())) == {48: 2, 72: 1}  # split at middle C


def test_adding_listing_and_removing_pieces(tmp_path):
    repertoire = Repertoire(tmp_path / "repertoire")
    built_in = {p.id for p in repertoire.pieces()}
    assert {"minuet-in-g", "ode-to-joy", "c-major-scale-study"} <= built_in
    first = repertoire.add(write(tmp_path, PIECE))
    second = repertoire.add(write(tmp_path, PIECE.replace('number="3"', 'number="3" width="90"'), "again.musicxml"))
    assert repertoire.add(write(tmp_path, PIECE, "copy.musicxml")) == first  # the same bytes: not added twice
    assert (first.id, second.id) == ("test-piece", "test-piece-2") and first.notes == 9 and first.bars == 4
    assert [p.id for p in Repertoire(tmp_path / "repertoire").pieces() if not p.builtin] == [
        "test-piece",
        "test-piece-2",
    ]
    score = repertoire.score("test-piece")
    assert len(score) == 9
    (tmp_path / "repertoire" / "test-piece" / "score.json").write_text("{damaged")  # rebuilt from the score file
    assert np.array_equal(repertoire.score("test-piece").pitch, score.pitch)
    assert repertoire.remove("test-piece").id == "test-piece"
    assert not (tmp_path / "repertoire" / "test-piece").exists()
    assert [p.id for p in repertoire.pieces() if not p.builtin] == ["test-piece-2"]
    with pytest.raises(RepertoireError, match="no piece 'test-piece'"):
        repertoire.score("test-piece")
    with pytest.raises(RepertoireError, match="built-in piece"):
        repertoire.remove("minuet-in-g")
    (tmp_path / "repertoire" / "test-piece-2" / "score.musicxml").unlink()
    (tmp_path / "repertoire" / "test-piece-2" / "score.json").unlink()
    with pytest.raises(RepertoireError, match="has disappeared"):
        repertoire.score("test-piece-2")


def test_a_refused_file_leaves_the_repertoire_as_it_was(tmp_path):
    repertoire = Repertoire(tmp_path / "repertoire")
    repertoire.add(write(tmp_path, PIECE))
    index = (tmp_path / "repertoire" / INDEX_NAME).read_bytes()
    folders = sorted(p.name for p in (tmp_path / "repertoire").iterdir())
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise/>")
    with pytest.raises(ScoreFileError):
        repertoire.add(bad)
    assert (tmp_path / "repertoire" / INDEX_NAME).read_bytes() == index
    assert sorted(p.name for p in (tmp_path / "repertoire").iterdir()) == folders


def test_the_repertoire_command(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pianocoach.cli", "repertoire", *args, "--set", f'device.data_dir="{tmp_path}"'],
            capture_output=True,
            text=True,
        )

    added = run("add", str(write(tmp_path, PIECE)), "--title", "My étude")
    assert added.returncode == 0 and added.stdout.startswith("added my-etude: My étude (9 notes, 4 bars)")
    listed = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    assert {"my-etude", "minuet-in-g"} <= {p["id"] for p in listed}
    assert "My étude" in run("list").stdout
    refused = run("add", str(tmp_path / "missing.musicxml"))
    assert refused.returncode != 0 and refused.stderr.strip().splitlines()[-1].endswith(
        "missing.musicxml: no such file"
    )
    # several files: each added or refused on its own; the same bytes again are not added twice
    other = write(tmp_path, PIECE.replace('number="3"', 'number="3" width="90"'), "other.musicxml")
    missing, again = tmp_path / "missing.musicxml", tmp_path / "piece.musicxml"
    batch = run("add", "--title-from-file", str(other), str(missing), str(again))
    assert batch.returncode == 1 and "added other: other (9 notes, 4 bars)" in batch.stdout
    assert "already in the repertoire: my-etude" in batch.stdout and "missing.musicxml: no such file" in batch.stderr
    assert run("remove", "my-etude").stdout.startswith("removed my-etude")


# -- which piece is this? -----------------------------------------------------------------------------------------
def _built_in_index():
    from pianocoach.repertoire.identify import RepertoireIndex

    names = ("minuet-in-g", "ode-to-joy", "c-major-scale-study")
    return RepertoireIndex({n: read_musicxml(BUILTIN_DIR / f"{n}.musicxml") for n in names})


def _played(name: str, first_bar: int = 0, bars: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The piece's notes from ``first_bar`` on, in seconds at its tempo, with human timing jitter."""
    score = read_musicxml(BUILTIN_DIR / f"{name}.musicxml")
    keep = (score.bar >= first_bar) & (score.bar < first_bar + bars)
    onsets = score.seconds(score.onset_q[keep]) + np.random.default_rng(seed).normal(0, 0.012, keep.sum())
    return onsets, score.pitch[keep].astype(np.int64)


@pytest.mark.parametrize("name", ["minuet-in-g", "ode-to-joy", "c-major-scale-study"])
def test_a_played_piece_is_recognised_from_its_first_bars(name):
    match = _built_in_index().identify(*_played(name))
    assert match is not None and match.piece_id == name and match.coverage > 0.6


def test_recognised_mid_piece_with_wrong_notes_and_an_octave_slip_and_the_bar_found():
    onsets, pitches = _played("minuet-in-g", first_bar=8, bars=4, seed=1)
    pitches = pitches.copy()
    pitches[3] += 1  # a wrong note
    pitches[10:14] += 12  # a transcription's octave slip: pitch classes are unchanged
    match = _built_in_index().identify(onsets, pitches)
    assert match is not None and match.piece_id == "minuet-in-g"
    assert abs(int(match.bar) - 12) <= 1  # the player is in the last of bars 9-12


def test_music_that_is_not_in_the_repertoire_stays_free_play():
    rng = np.random.default_rng(3)
    onsets = np.cumsum(rng.uniform(0.15, 0.4, 40))
    pitches = rng.integers(40, 90, 40)
    index = _built_in_index()
    assert index.identify(onsets, pitches) is None
    assert index.identify(np.zeros(0), np.zeros(0, dtype=np.int64)) is None  # nothing played yet


def test_score_says_which_piece_was_played(tmp_path):
    onsets, pitches = _played("minuet-in-g", bars=16)
    midi = pretty_midi.PrettyMIDI()
    track = pretty_midi.Instrument(0)
    track.notes = [pretty_midi.Note(70, int(p), float(a), float(a) + 0.3) for a, p in zip(onsets, pitches)]
    midi.instruments.append(track)
    midi.write(str(tmp_path / "take.mid"))

    def piece(*flags: str):
        run = subprocess.run(
            [sys.executable, "-m", "pianocoach.cli", "score", str(tmp_path / "take.mid"), "--json", *flags],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["piece"]

    found = piece("--repertoire", str(tmp_path / "none-added"))  # the built-in pieces
    assert found["id"] == "minuet-in-g" and found["title"].startswith("Minuet in G") and found["confidence"] > 0.8
    other = piece("--score", str(BUILTIN_DIR / "ode-to-joy.musicxml"))
    assert other["id"] is None and other["title"] == "free play" and other["confidence"] < 0.3
    assert piece("--no-piece") is None
