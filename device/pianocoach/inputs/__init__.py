"""Inputs behind one interface (:class:`BlockSource`): microphone, USB-MIDI port, file replay."""

from pianocoach.inputs.base import Block, BlockSource, InputDeviceError, MidiEvent
from pianocoach.inputs.files import AudioFileError, AudioFileSource, MidiFileSource, open_file, read_audio

__all__ = [
    "AudioFileError",
    "AudioFileSource",
    "Block",
    "BlockSource",
    "InputDeviceError",
    "MidiEvent",
    "MidiFileSource",
    "open_file",
    "read_audio",
]
