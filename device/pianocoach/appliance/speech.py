"""Speaking the feedback: a synthesizer (espeak-ng, or Piper with a configured voice) writes a WAV, a
sink plays it (``aplay``) or keeps it (``file``). A worker thread does both, so ``say`` returns at once
and the button stays responsive; a new utterance replaces any that has not started yet.
"""

from __future__ import annotations

import logging
import os
import queue
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Protocol

from pianocoach.appliance.config import SpeechConfig
from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"en": "en", "zh": "cmn"}  # espeak-ng's Mandarin voice is "cmn"


class SpeechError(PianoCoachError):
    """A speech engine is missing or failed."""


class Synthesizer(Protocol):
    name: str

    def to_wav(self, text: str, language: str, path: Path) -> None: ...


class EspeakSynthesizer:
    name = "espeak-ng"

    def __init__(self, voice: str = "", rate: int = 160) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SpeechError("espeak-ng is not installed (sudo apt-get install --no-install-recommends espeak-ng)")
        self.binary = binary
        self.voice, self.rate = voice, rate

    def to_wav(self, text: str, language: str, path: Path) -> None:
        voice = self.voice or ESPEAK_VOICES.get(language, "en")
        # the text goes in on stdin: a feedback line starting with "-" must not read as an option
        run = subprocess.run(
            [self.binary, "-v", voice, "-s", str(self.rate), "-w", str(path), "--stdin"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if run.returncode != 0 or not path.is_file():
            raise SpeechError(f"espeak-ng failed ({run.returncode}): {run.stderr.strip()[:200]}")


class PiperSynthesizer:
    """Piper (``pip install piper-tts``, onnxruntime only) with a voice file and its ``.onnx.json``."""

    name = "piper"

    def __init__(self, voice_path: str | Path) -> None:
        path = Path(voice_path).expanduser()
        if not path.is_file():
            raise SpeechError(f"{path}: no such Piper voice file")
        if not Path(f"{path}.json").is_file():
            raise SpeechError(f"{path}: the voice's config {path.name}.json is missing beside it")
        try:
            from piper import PiperVoice  # piper-tts >= 1.3 (OHF-Voice/piper1-gpl)
        except ImportError as exc:
            raise SpeechError("Piper is not installed (pip install 'pianocoach[piper]')") from exc
        self.voice = PiperVoice.load(str(path))

    def to_wav(self, text: str, language: str, path: Path) -> None:
        import wave

        with wave.open(str(path), "wb") as wav:
            self.voice.synthesize_wav(text, wav)


class Sink(Protocol):
    def take(self, wav: Path) -> None: ...


class SpeakerSink:
    """Plays the WAV (``aplay`` from alsa-utils by default) and deletes it."""

    def __init__(self, command: str = "aplay -q") -> None:
        self.command = shlex.split(command)

    def take(self, wav: Path) -> None:
        try:
            run = subprocess.run([*self.command, str(wav)], capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                raise SpeechError(f"{self.command[0]} failed ({run.returncode}): {run.stderr.strip()[:200]}")
        except FileNotFoundError as exc:
            raise SpeechError(f"{self.command[0]} is not installed (sudo apt-get install alsa-utils)") from exc
        finally:
            wav.unlink(missing_ok=True)


class FileSink:
    """Keeps every utterance as ``speech-NNNN.wav`` in a folder (tests, the demo, a device without a speaker)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = len(list(self.folder.glob("speech-*.wav")))
        self.files: deque[Path] = deque(maxlen=100)  # the newest utterances

    def take(self, wav: Path) -> None:
        path = self.folder / f"speech-{self.count:04d}.wav"
        shutil.move(str(wav), path)  # the synthesizer wrote a temporary file: no half-written WAV here
        self.count += 1
        self.files.append(path)
        log.info("speech written to %s", path)


class Speaker:
    """``say`` queues the text and returns; one worker thread synthesizes and hands it to the sink."""

    def __init__(self, synthesizer: Synthesizer | None, sink: Sink | None) -> None:
        self.synthesizer, self.sink = synthesizer, sink
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self.spoken = 0
        self.failures: deque[str] = deque(maxlen=20)
        self._worker = threading.Thread(target=self._work, name="speech", daemon=True)
        if synthesizer is not None:
            self._worker.start()

    def say(self, text: str, language: str = "en", interrupt: bool = True) -> None:
        """Speak ``text`` after what is being spoken; ``interrupt``: drop anything still waiting first
        (a new result); False queues it behind (the next sentence of the same feedback)."""
        if self.synthesizer is None or not text.strip():
            return
        while interrupt:  # only the newest utterance matters: drop any still waiting
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._idle.clear()
        self._queue.put((text, language))

    def wait(self, timeout: float = 60.0) -> bool:
        """Until everything queued has been spoken (True) or the timeout passed (False)."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            text, language = item
            handle, name = tempfile.mkstemp(suffix=".wav", prefix="pianocoach-speech-")
            os.close(handle)
            wav = Path(name)
            try:
                assert self.synthesizer is not None and self.sink is not None  # the worker runs only with both
                self.synthesizer.to_wav(text, language, wav)
                self.sink.take(wav)
                self.spoken += 1
            except Exception as exc:  # speech is a nicety: log and carry on
                self.failures.append(str(exc))
                log.error("speech failed: %s", exc)
            finally:
                wav.unlink(missing_ok=True)  # the sink moved or played it; gone either way
                if self._queue.empty():
                    self._idle.set()

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=5)


def open_speaker(config: SpeechConfig, folder: Path) -> Speaker:
    """The configured engine and sink; Piper that cannot load falls back to espeak-ng, a missing
    espeak-ng to silence (both logged)."""
    if config.engine == "none":
        return Speaker(None, None)
    synthesizer: Synthesizer | None = None
    if config.engine == "piper":
        try:
            synthesizer = PiperSynthesizer(config.piper_voice) if config.piper_voice else None
            if synthesizer is None:
                log.error("speech: engine piper needs speech.piper_voice; using espeak-ng")
        except SpeechError as exc:
            log.error("speech: %s; using espeak-ng", exc)
    if synthesizer is None:
        try:
            synthesizer = EspeakSynthesizer(config.voice, config.rate)
        except SpeechError as exc:
            log.error("speech off: %s", exc)
            return Speaker(None, None)
    sink: Sink = FileSink(folder) if config.sink == "file" else SpeakerSink(config.playback)
    log.info("speech: %s -> %s", synthesizer.name, config.sink)
    return Speaker(synthesizer, sink)
