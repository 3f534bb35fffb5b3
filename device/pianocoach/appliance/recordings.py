"""Takes kept as recordings (``history.keep_recordings``, off by default), beside the history.

A microphone's take is written to FLAC as it is played (block by block: memory does not grow with the take), a
digital piano's to a MIDI file from its events; the file is named after the take's history id
(``take-<id>.flac`` / ``.mid``) once the take is stored, and the oldest recordings are deleted while the folder is
over its budget (``history.recordings_mb``). A take that is cancelled or not stored leaves no file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the web page reads recordings without loading the inputs (numpy)
    from pianocoach.inputs.base import Block, MidiEvent

log = logging.getLogger(__name__)

NAME = re.compile(r"^take-(\d+)\.(flac|mid)$")
PARTIAL_PREFIX = ".partial-"
TICKS_PER_BEAT = 480
TEMPO_US = 500_000  # 120 beats a minute: a tick is 1/960 s


class TakeRecorder:
    """One take being recorded into a partial file in ``folder``."""

    def __init__(self, folder: Path, number: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.stem = folder / f"{PARTIAL_PREFIX}{os.getpid()}-{number}"
        self.audio: Any = None  # a soundfile.SoundFile, opened at the first audio block
        self.events: list[MidiEvent] = []
        self.kind = ""

    def add(self, block: Block) -> None:
        if block.audio is not None:
            if self.audio is None:
                import soundfile

                self.kind = "flac"
                self.audio = soundfile.SoundFile(
                    self.stem.with_suffix(".flac"),
                    "w",
                    samplerate=block.sample_rate,
                    channels=1,
                    format="FLAC",
                    subtype="PCM_16",
                )
            self.audio.write(block.audio)
        else:
            self.kind = "mid"
            self.events.extend(block.events)

    def finish(self) -> Path | None:
        """Close the partial file; its path (None: nothing was recorded)."""
        if self.audio is not None:
            self.audio.close()
            return self.stem.with_suffix(".flac")
        if self.kind == "mid":
            path = self.stem.with_suffix(".mid")
            write_events(self.events, path)
            return path
        return None

    def discard(self) -> None:
        if self.audio is not None:
            self.audio.close()
        for suffix in (".flac", ".mid"):
            self.stem.with_suffix(suffix).unlink(missing_ok=True)


def write_events(events: list[MidiEvent], path: Path) -> None:
    import mido

    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0)])
    ticks_per_second = TICKS_PER_BEAT * 1_000_000 / TEMPO_US
    last = 0
    for event in sorted(events, key=lambda e: e.time):
        tick = max(last, round(event.time * ticks_per_second))
        delta, last = tick - last, tick
        if event.kind == "on":
            track.append(mido.Message("note_on", note=event.number, velocity=event.value, time=delta))
        elif event.kind == "off":
            track.append(mido.Message("note_off", note=event.number, velocity=0, time=delta))
        else:
            track.append(mido.Message("control_change", control=event.number, value=event.value, time=delta))
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))


def keep(partial: Path, folder: Path, take_id: int, budget_bytes: int) -> Path:
    """Name the partial recording after its stored take, then delete the oldest ones while over the budget."""
    kept = folder / f"take-{take_id}{partial.suffix}"
    partial.replace(kept)
    rotate(folder, budget_bytes, spare=take_id)
    return kept


def recordings(folder: Path) -> list[tuple[int, Path]]:
    """(take id, file), oldest take first."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found)


def rotate(folder: Path, budget_bytes: int, spare: int | None = None) -> list[int]:
    """Delete the oldest recordings while the folder holds more than ``budget_bytes`` (never ``spare``, the newest
    take's); the take ids whose recordings were deleted."""
    found = [(take, path, path.stat().st_size) for take, path in recordings(folder)]
    total = sum(size for _, _, size in found)
    deleted = []
    for take, path, size in found:
        if total <= budget_bytes:
            break
        if take == spare:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted.append(take)
    if deleted:
        log.info("recordings over %.0f MB: deleted those of takes %s", budget_bytes / 1e6, deleted)
    return deleted


def recording_of(folder: Path, take_id: int) -> Path | None:
    for suffix in (".flac", ".mid"):
        path = folder / f"take-{take_id}{suffix}"
        if path.is_file():
            return path
    return None


def delete_recording(folder: Path, take_id: int) -> None:
    for suffix in (".flac", ".mid"):
        (folder / f"take-{take_id}{suffix}").unlink(missing_ok=True)
