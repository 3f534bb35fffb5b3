"""The pieces the device knows: scores read from MusicXML or MIDI, kept in a compact cached form."""

from pianocoach.repertoire.musicxml import ScoreFileError, read_musicxml
from pianocoach.repertoire.score import Bar, Marking, Score

__all__ = ["Bar", "Marking", "Score", "ScoreFileError", "read_musicxml"]
