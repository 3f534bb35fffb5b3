"""Where language-model feedback comes from: llama.cpp on the device (``local``) or an OpenAI-compatible
server on the network (``remote``). Each streams text pieces for chat messages and stops early when
asked. The template backend needs no streaming: :mod:`pianocoach.feedback.writer` uses the template text
directly, and falls back to it whenever a model fails.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Protocol

from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)


class FeedbackUnavailable(PianoCoachError):
    """The configured feedback model cannot be used (missing file or package, server down)."""


class StreamingBackend(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
               stop: threading.Event) -> Iterator[str]: ...


class LocalBackend:
    """llama-cpp-python on a GGUF file. The model loads on first use and stays loaded (a 0.5B Q4_K_M
    model is about 400 MB; loading takes a few seconds on a Pi)."""

    name = "local"

    def __init__(self, model_path: str | Path, threads: int = 2, context: int = 1024, seed: int = 0) -> None:
        self.model_path, self.threads, self.context, self.seed = Path(model_path), threads, context, seed
        self._llm = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._llm is None:
                if not self.model_path.is_file():
                    raise FeedbackUnavailable(f"{self.model_path}: no such feedback model (GGUF)")
                try:
                    from llama_cpp import Llama
                except ImportError:
                    raise FeedbackUnavailable("llama-cpp-python is not installed (pip install './device[llm]')") from None
                try:
                    # chat_format stays unset: llama-cpp-python then formats with the GGUF's own
                    # tokenizer.chat_template, the template the model was fine-tuned with
                    self._llm = Llama(model_path=str(self.model_path), n_threads=self.threads, n_ctx=self.context,
                                      seed=self.seed, verbose=False)
                except (ValueError, RuntimeError) as exc:
                    raise FeedbackUnavailable(f"{self.model_path}: llama.cpp cannot load it ({exc})") from exc
            return self._llm

    def stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
               stop: threading.Event) -> Iterator[str]:
        llm = self.load()
        chunks = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                            top_k=1 if temperature == 0 else 40, stream=True)
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece
        finally:
            chunks.close()  # ends llama.cpp's generation loop at once


class RemoteBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint with server-sent events (llama_cpp.server,
    llama.cpp's llama-server, vLLM). The API key comes from an environment variable or a file and is
    sent only in the Authorization header; it never appears in logs or in ``repr``."""

    name = "remote"

    def __init__(self, url: str, model: str = "pianocoach", api_key_env: str = "", api_key_file: str = "",
                 timeout_s: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self.model, self.timeout_s = model, timeout_s
        self._key = _read_key(api_key_env, api_key_file)

    def __repr__(self) -> str:
        return f"RemoteBackend(url={self.url!r}, model={self.model!r}, key={'set' if self._key else 'none'})"

    def stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
               stop: threading.Event) -> Iterator[str]:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": max_tokens,
                           "temperature": temperature, "stream": True}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        endpoint = f"{self.url}/v1/chat/completions"
        request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise FeedbackUnavailable(f"{endpoint}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FeedbackUnavailable(f"{endpoint}: cannot connect ({getattr(exc, 'reason', exc)})") from None
        with response:
            for raw in response:
                if stop.is_set():
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators and ": ping" comments
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    piece = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (json.JSONDecodeError, KeyError, IndexError, TypeError):
                    raise FeedbackUnavailable(f"{endpoint}: not an OpenAI-style stream ({data[:60]!r})") from None
                if piece:
                    yield piece


def _read_key(env_name: str, key_file: str) -> str:
    if env_name and os.environ.get(env_name):
        return os.environ[env_name].strip()
    if key_file:
        path = Path(key_file).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FeedbackUnavailable(f"{path}: cannot read the API key file ({exc.strerror})") from None
    return ""
