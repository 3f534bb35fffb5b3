"""Where language-model feedback comes from: llama.cpp on the device (``local``) or an OpenAI-compatible
server on the network (``remote``). Each streams text pieces for chat messages and stops early when
asked. The template backend needs no streaming: :mod:`pianocoach.feedback.writer` uses the template text
directly, and falls back to it whenever a model fails.

Both backends treat what they read as untrusted: the local GGUF must hash to the bundle manifest's sha256
before llama.cpp sees it, and a remote server gets no redirects, no cleartext off the machine, and a
bounded response (line length, total bytes, and a deadline that holds even against a trickle).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator, Protocol

from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)

# A server-sent-events line is one JSON chunk of one token (a few hundred bytes); 64 KiB is far above any
# honest line, and bounds what one line without a newline can make the client buffer.
MAX_LINE_BYTES = 64 * 1024
# The whole answer to one request: a few hundred tokens in SSE framing is tens of KiB; 1 MiB bounds memory
# and CPU however the server behaves.
MAX_RESPONSE_BYTES = 1024 * 1024
# How often the watchdog looks at the caller's stop event (the deadline itself is waited for exactly).
WATCH_INTERVAL_S = 0.05
# The local model file is hashed in pieces of this size (a 400 MB GGUF never sits in memory at once).
HASH_CHUNK_BYTES = 1024 * 1024
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class FeedbackUnavailable(PianoCoachError):
    """The configured feedback model cannot be used (missing file or package, server down)."""


class StreamingBackend(Protocol):
    name: str

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, stop: threading.Event
    ) -> Iterator[str]: ...


# -- local: llama.cpp --------------------------------------------------------------------------------
class LocalBackend:
    """llama-cpp-python on a GGUF file. The model loads on first use and stays loaded (a 0.5B Q4_K_M
    model is about 400 MB; loading takes a few seconds on a Pi).

    ``expected_sha256`` / ``expected_size``: the bundle manifest's entry for the file. When given, the file
    is opened once (no symbolic links), its size and sha256 are checked, and llama.cpp is handed that same
    open file (``/proc/self/fd/N``), so the bytes hashed are the bytes loaded even if the name is swapped
    meanwhile. Without them (a GGUF named in config.toml) the file is loaded unverified."""

    name = "local"

    def __init__(
        self,
        model_path: str | Path,
        threads: int = 2,
        context: int = 1024,
        seed: int = 0,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> None:
        self.model_path, self.threads, self.context, self.seed = Path(model_path), threads, context, seed
        if expected_sha256 is not None:
            expected_sha256 = expected_sha256.strip().lower()
            if not SHA256_HEX.fullmatch(expected_sha256):
                raise FeedbackUnavailable(
                    f"{self.model_path}: expected sha256 {expected_sha256[:80]!r} is not 64 hex digits; not loaded"
                )
        self.expected_sha256, self.expected_size = expected_sha256, expected_size
        self._llm = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._llm is None:
                fd = self._open_verified()
                try:
                    self._llm = self._load_llama(str(self.model_path) if fd is None else _fd_path(fd, self.model_path))
                finally:
                    if fd is not None:
                        os.close(fd)  # llama.cpp has opened (and mapped) the file by now
            return self._llm

    def _open_verified(self) -> int | None:
        """The open, checked model file, or None when there is nothing to check against."""
        if self.expected_sha256 is None and self.expected_size is None:
            if not self.model_path.is_file():
                raise FeedbackUnavailable(f"{self.model_path}: no such feedback model (GGUF)")
            log.info("%s: no checksum given; loaded unverified", self.model_path)
            return None
        fd = _open_regular(self.model_path)
        try:
            self._check(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if self.expected_size is not None and size != self.expected_size:
            raise FeedbackUnavailable(
                f"{self.model_path}: {size} bytes, the bundle's manifest says {self.expected_size}; not loaded"
            )
        if self.expected_sha256 is not None and _sha256_of(fd) != self.expected_sha256:
            raise FeedbackUnavailable(f"{self.model_path}: sha256 differs from the bundle's manifest; not loaded")

    def _load_llama(self, path: str):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise FeedbackUnavailable("llama-cpp-python is not installed (pip install './device[llm]')") from None
        try:
            # chat_format stays unset: llama-cpp-python then formats with the GGUF's own
            # tokenizer.chat_template, the template the model was fine-tuned with
            return Llama(model_path=path, n_threads=self.threads, n_ctx=self.context, seed=self.seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise FeedbackUnavailable(f"{self.model_path}: llama.cpp cannot load it ({exc})") from exc

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, stop: threading.Event
    ) -> Iterator[str]:
        llm = self.load()
        chunks = llm.create_chat_completion(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=1 if temperature == 0 else 40,
            stream=True,
        )
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece
        finally:
            chunks.close()  # ends llama.cpp's generation loop at once


def _open_regular(path: Path) -> int:
    """``path`` opened read-only: not through a symbolic link (O_NOFOLLOW), and a regular file (O_NONBLOCK
    only so that a FIFO put in its place cannot block the open; it changes nothing for a regular file)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FeedbackUnavailable(f"{path}: no such feedback model (GGUF)") from None
    except OSError as exc:  # ELOOP: the last component is a symbolic link
        raise FeedbackUnavailable(
            f"{path}: cannot open it without following links ({exc.strerror}); not loaded"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FeedbackUnavailable(f"{path}: not a regular file; not loaded")
    return fd


def _sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, HASH_CHUNK_BYTES, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _fd_path(fd: int, name: Path) -> str:
    """A name for the open file itself: opening ``/proc/self/fd/N`` reaches the inode ``fd`` refers to,
    whatever its name now points at (Linux). Without /proc, the name is all there is."""
    if os.path.isdir("/proc/self/fd"):
        return f"/proc/self/fd/{fd}"
    log.warning("/proc/self/fd is missing: %s is loaded by name after it was checked", name)
    return str(name)


# -- remote: an OpenAI-compatible server --------------------------------------------------------------
class RemoteBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint with server-sent events (llama_cpp.server,
    llama.cpp's llama-server, vLLM). The API key comes from an environment variable or a file and is
    sent only in the Authorization header; it never appears in logs or in ``repr``.

    ``url`` must be ``https://`` (certificates verified) or ``http://`` to this machine (127.0.0.0/8, ::1,
    localhost). Redirects are refused, not followed. One request reads at most ``MAX_RESPONSE_BYTES``
    in lines of at most ``MAX_LINE_BYTES``, and is cut ``timeout_s`` after it starts (or as soon as the
    caller's ``stop`` is set), however slowly the server keeps sending."""

    name = "remote"

    def __init__(
        self,
        url: str,
        model: str = "pianocoach",
        api_key_env: str = "",
        api_key_file: str = "",
        timeout_s: float = 20.0,
    ) -> None:
        self.url = check_url(url.rstrip("/"))
        self.model, self.timeout_s = model, timeout_s
        self._key = _read_key(api_key_env, api_key_file)

    def __repr__(self) -> str:
        return f"RemoteBackend(url={self.url!r}, model={self.model!r}, key={'set' if self._key else 'none'})"

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, stop: threading.Event
    ) -> Iterator[str]:
        endpoint = f"{self.url}/v1/chat/completions"
        cutter = _Cutter(time.monotonic() + self.timeout_s, stop)
        watchdog = threading.Thread(target=cutter.watch, name="feedback-remote-deadline", daemon=True)
        watchdog.start()
        try:
            response = self._open(endpoint, messages, max_tokens, temperature, cutter)
            if response is None:
                return
            with response:
                yield from _pieces(response, endpoint, cutter, self.timeout_s)
        finally:
            cutter.finish()

    def _open(
        self, endpoint: str, messages: list[dict[str, str]], max_tokens: int, temperature: float, cutter: _Cutter
    ) -> http.client.HTTPResponse | None:
        """The response to the request (status 200), or None when the caller stopped meanwhile."""
        body = json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stream": True,
            }
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
        try:
            return _opener(cutter, https=self.url.startswith("https:")).open(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            exc.close()
            if 300 <= exc.code < 400:
                raise FeedbackUnavailable(
                    f"{endpoint}: HTTP {exc.code} redirect refused (redirects are not followed)"
                ) from None
            raise FeedbackUnavailable(f"{endpoint}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if cutter.why == "stopped":
                return None
            if cutter.why == "deadline":
                raise _too_slow(endpoint, self.timeout_s) from None
            raise FeedbackUnavailable(f"{endpoint}: cannot connect ({getattr(exc, 'reason', exc)})") from None


def _pieces(response: http.client.HTTPResponse, endpoint: str, cutter: _Cutter, timeout_s: float) -> Iterator[str]:
    """The text pieces of a server-sent-events answer, within the line, size and time bounds."""
    total = 0
    while True:
        try:
            raw = response.readline(MAX_LINE_BYTES + 1)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if cutter.why is None:
                raise FeedbackUnavailable(f"{endpoint}: the answer broke off ({exc})") from None
            raw = b""
        if cutter.why == "stopped":
            return
        if cutter.why == "deadline" or time.monotonic() > cutter.deadline:
            raise _too_slow(endpoint, timeout_s)
        if not raw:
            return  # the server ended the answer without [DONE]
        total += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise FeedbackUnavailable(f"{endpoint}: a line longer than {MAX_LINE_BYTES} bytes; answer refused")
        if total > MAX_RESPONSE_BYTES:
            raise FeedbackUnavailable(f"{endpoint}: the answer exceeds {MAX_RESPONSE_BYTES} bytes; cut off")
        piece = _sse_piece(raw, endpoint)
        if piece is None:
            return
        if piece:
            yield piece


def _sse_piece(raw: bytes, endpoint: str) -> str | None:
    """The text in one SSE line: "" for separators, comments and empty deltas, None at ``[DONE]``."""
    line = raw.decode("utf-8", "replace").strip()
    if not line.startswith("data:"):
        return ""  # blank separators and ": ping" comments
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        piece = json.loads(data)["choices"][0].get("delta", {}).get("content")
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise FeedbackUnavailable(f"{endpoint}: not an OpenAI-style stream ({data[:60]!r})") from None
    return piece if isinstance(piece, str) else ""


def _too_slow(endpoint: str, timeout_s: float) -> FeedbackUnavailable:
    return FeedbackUnavailable(f"{endpoint}: no complete answer within {timeout_s:g} s; cut off")


def check_url(url: str) -> str:
    """``url`` when it is https://, or http:// to a loopback host; FeedbackUnavailable otherwise (the key
    and the performance data must not cross a network in clear text)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise FeedbackUnavailable(f"{url}: not a valid feedback server URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not host:
        raise FeedbackUnavailable(f"{url}: the feedback server URL must be https://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise FeedbackUnavailable(
            f"{_without_userinfo(parts)}: no user or password in the feedback server URL "
            "(the API key goes in api_key_env or api_key_file)"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise FeedbackUnavailable(
            f"{url}: plain http:// is allowed only to this machine (127.0.0.1, ::1, localhost); use https://"
        )
    return url


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: resolving it proves nothing about later requests


def _without_userinfo(parts: urllib.parse.SplitResult) -> str:
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Cutter:
    """One request's deadline: a watchdog thread shuts the request's socket down when the deadline passes or
    the caller's ``stop`` is set. A socket timeout alone bounds only the gap between two bytes, not a
    server that trickles one byte at a time; shutting the socket down ends a read blocked in another thread
    at once (closing the response would not: its buffered reader's lock is held by the blocked read)."""

    def __init__(self, deadline: float, stop: threading.Event) -> None:
        self.deadline = deadline
        self.why: str | None = None  # None, "deadline" or "stopped" once cut
        self._stop, self._done = stop, threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def watch(self) -> None:
        while not self._done.is_set():
            if self._stop.is_set():
                return self.cut("stopped")
            left = self.deadline - time.monotonic()
            if left <= 0:
                return self.cut("deadline")
            self._done.wait(min(WATCH_INTERVAL_S, left))

    def finish(self) -> None:
        self._done.set()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.why is not None:
                _shutdown(sock)

    def cut(self, why: str) -> None:
        with self._lock:
            self.why = why
            if self._sock is not None:
                _shutdown(self._sock)
        log.log(logging.INFO if why == "deadline" else logging.DEBUG, "remote feedback request cut off (%s)", why)

    def create_connection(
        self, address: tuple[str, int], timeout: object = None, source_address: tuple[str, int] | None = None
    ) -> socket.socket:
        """socket.create_connection, with the connect bounded by the deadline too."""
        left = max(0.01, self.deadline - time.monotonic())
        wait = min(timeout, left) if isinstance(timeout, (int, float)) else left
        sock = socket.create_connection(address, wait, source_address)
        if isinstance(timeout, (int, float)):
            sock.settimeout(timeout)  # the gap allowed between two reads; the watchdog bounds the total
        self.attach(sock)
        return sock


def _shutdown(sock: socket.socket) -> None:
    try:
        # the plain socket's shutdown also for an SSLSocket: its own shutdown() drops the SSL object under
        # the feet of the thread that is reading
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet, already closed, or detached by the TLS wrapper (attach() runs again)


def _opener(cutter: _Cutter, https: bool) -> urllib.request.OpenerDirector:
    """An opener without HTTPRedirectHandler: urllib's default opener follows redirects and re-sends the
    Authorization header to wherever the server points, another host included. A 3xx then reaches
    HTTPDefaultErrorHandler and is raised as an HTTPError. Environment proxies are used for https only
    (a CONNECT tunnel keeps the key inside TLS); an http:// URL is this machine, reached directly."""
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(None if https else {}),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    handlers.append(_HTTPSHandler(cutter) if https else _HTTPHandler(cutter))
    for handler in handlers:
        opener.add_handler(handler)
    return opener


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, cutter: _Cutter) -> None:
        super().__init__()
        self._cutter = cutter

    def http_open(self, req):
        cutter = self._cutter

        class Connection(http.client.HTTPConnection):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = cutter.create_connection  # http.client's hook for the socket

        return self.do_open(Connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """TLS with the default context: certificates and host names are verified."""

    def __init__(self, cutter: _Cutter) -> None:
        super().__init__(context=ssl.create_default_context())
        self._cutter = cutter

    def https_open(self, req):
        cutter = self._cutter

        class Connection(http.client.HTTPSConnection):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = cutter.create_connection

            def connect(self) -> None:
                # HTTPSConnection.connect, with the handshake after the watchdog holds the TLS socket (a
                # server can trickle its handshake too)
                http.client.HTTPConnection.connect(self)
                # _context and _tunnel_host are http.client's private attributes, which typeshed leaves out
                context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
                self.sock = context.wrap_socket(
                    self.sock,
                    server_hostname=self._tunnel_host or self.host,  # type: ignore[attr-defined]
                    do_handshake_on_connect=False,
                )
                cutter.attach(self.sock)
                self.sock.do_handshake()

        return self.do_open(Connection, req, context=self._context)  # type: ignore[attr-defined]  # urllib's private attribute


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
