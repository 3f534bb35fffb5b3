"""The feedback backends against hostile input: a remote server that redirects, trickles, or sends endless
lines, bytes or pieces (stdlib HTTP servers on 127.0.0.1 scripted per test, each stopping by itself), a
plain http:// URL off this machine, and a local GGUF that is not the file the bundle's manifest names.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import random
import ssl
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pianocoach.feedback.backends import (
    MAX_LINE_BYTES,
    MAX_RESPONSE_BYTES,
    FeedbackUnavailable,
    LocalBackend,
    RemoteBackend,
    check_url,
)
from pianocoach.feedback.check import split_sentences
from pianocoach.feedback.prompt import FeedbackRequest
from pianocoach.feedback.writer import MAX_PIECES, FeedbackWriter, _Sentences, template_feedback
from pianocoach.rating_scales import HIGH, LOW, MID, SCALE_NAMES, overall_mark

MESSAGES = [{"role": "user", "content": "How did I play?"}]
SERVER_CAP_S = 10.0  # no scripted server loop runs longer than this, whatever the client does


def request() -> FeedbackRequest:
    values = dict.fromkeys(SCALE_NAMES, MID)
    values["Pedal: clean / blurred"] = HIGH
    values["Timing: stable / unstable"] = LOW
    return FeedbackRequest(values, overall_mark(values), {}, "en", 45)


def chunk(piece: str) -> bytes:
    return b'data: {"choices":[{"delta":{"content":%s}}]}\n\n' % json.dumps(piece).encode()


class Server:
    """An HTTP server on 127.0.0.1 whose POST handler is ``respond(handler)``. Records each request's
    Authorization header, and when the client went away (``gone_at``, from a failed write)."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None], tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[str | None] = []
        self.gone_at: float | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(self.headers.get("Authorization"))
                try:
                    respond(self)
                except OSError:  # broken pipe, reset, or (TLS) an EOF in violation of protocol
                    server.gone_at = time.monotonic()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(respond, tls=None):
        servers.append(Server(respond, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def stream_headers(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    handler.wfile.flush()


def answer(pieces: list[str]) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler):
        stream_headers(handler)
        handler.wfile.write(b"".join(chunk(p) for p in pieces) + b"data: [DONE]\n\n")

    return respond


def for_a_while(write: Callable[[], None], pause_s: float = 0.0) -> None:
    """Calls ``write`` until the client goes away (the write raises) or SERVER_CAP_S passes."""
    stop_at = time.monotonic() + SERVER_CAP_S
    while time.monotonic() < stop_at:
        write()
        if pause_s:
            time.sleep(pause_s)


def drain(backend: RemoteBackend, stop: threading.Event | None = None) -> str:
    return "".join(backend.stream(MESSAGES, 16, 0.0, stop or threading.Event()))


# -- redirects -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_api_key_never_reaches_the_other_server(serve, monkeypatch, status):
    other = serve(answer(["Your timing was steady, good. "]))

    def redirect(handler):
        handler.send_response(status)
        handler.send_header("Location", f"http://localhost:{other.port}/v1/chat/completions")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first = serve(redirect)
    monkeypatch.setenv("TEST_LLM_KEY", "sk-secret-123")
    backend = RemoteBackend(first.url, api_key_env="TEST_LLM_KEY", timeout_s=5)
    with pytest.raises(FeedbackUnavailable) as refused:
        drain(backend)
    message = str(refused.value)
    assert message == f"{first.url}/v1/chat/completions: HTTP {status} redirect refused (redirects are not followed)"
    assert first.requests == ["Bearer sk-secret-123"] and other.requests == []
    feedback = FeedbackWriter(backend, time_limit_s=5).write(request())
    assert feedback.source == "template" and "redirect refused" in feedback.reason and other.requests == []


# -- plain http only to this machine ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://192.168.1.20:8000",
        "http://10.0.0.1",
        "http://127.0.0.1.example.com:8000",
        "http://localhost.example.com",
        "http://[::ffff:8.8.8.8]:80",
        "ftp://127.0.0.1",
        "file:///etc/passwd",
        "127.0.0.1:8000",
    ],
)
def test_plain_http_off_this_machine_and_other_schemes_are_refused_at_construction(url):
    with pytest.raises(FeedbackUnavailable) as refused:
        RemoteBackend(url)
    assert str(refused.value).startswith(f"{url}: ") and "\n" not in str(refused.value)


def test_a_password_in_the_url_is_refused_without_repeating_it():
    with pytest.raises(FeedbackUnavailable, match="no user or password") as refused:
        RemoteBackend("https://user:hunter2@llm.example.com")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://llm.example.com",
        "https://llm.example.com:8443/api",
        "http://127.0.0.1:8000",
        "http://127.1.2.3",
        "http://localhost:8000",
        "http://LOCALHOST",
        "http://[::1]:8000",
    ],
)
def test_https_anywhere_and_plain_http_to_loopback_are_accepted(url):
    assert check_url(url) == url and RemoteBackend(url + "/").url == url  # construction only: no network


def test_plain_http_to_127_0_0_1_and_localhost_streams(serve):
    server = serve(answer(["Your timing ", "was steady. "]))
    for url in (server.url, f"http://localhost:{server.port}"):
        assert drain(RemoteBackend(url, timeout_s=5)) == "Your timing was steady. "
    assert len(server.requests) == 2


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_with_a_certificate_the_device_does_not_trust_is_refused_before_the_key_is_sent(
    serve, certificate, monkeypatch
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = serve(answer(["Your timing was steady. "]), tls=tls_context(certificate))
    monkeypatch.setenv("TEST_LLM_KEY", "sk-secret-123")
    with pytest.raises(FeedbackUnavailable, match="cannot connect .*CERTIFICATE_VERIFY_FAILED"):
        drain(RemoteBackend(server.url, api_key_env="TEST_LLM_KEY", timeout_s=5))
    assert server.requests == []


def test_https_with_a_trusted_certificate_streams(serve, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # OpenSSL's default verify paths read it
    server = serve(answer(["Your timing ", "was steady. "]), tls=tls_context(certificate))
    for url in (server.url, f"https://localhost:{server.port}"):
        assert drain(RemoteBackend(url, timeout_s=5)) == "Your timing was steady. "


# -- bounded lines, bytes and time -----------------------------------------------------------------
def test_an_endless_line_without_a_newline_is_refused_in_bounded_memory_and_time(serve):
    block = b"x" * 65536

    def endless_line(handler):
        stream_headers(handler)
        handler.wfile.write(b"data: ")
        for_a_while(lambda: handler.wfile.write(block))

    server = serve(endless_line)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FeedbackUnavailable, match=f"a line longer than {MAX_LINE_BYTES} bytes; answer refused"):
            drain(RemoteBackend(server.url, timeout_s=10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 3.0
    assert peak < 8 * MAX_LINE_BYTES, peak  # a line's worth of buffers, not the stream


def test_endless_short_lines_are_cut_at_the_response_size_limit(serve):
    line = b": ping " + b"." * 1000 + b"\n"

    def endless_comments(handler):
        stream_headers(handler)
        for_a_while(lambda: handler.wfile.write(line * 64))

    server = serve(endless_comments)
    started = time.monotonic()
    with pytest.raises(FeedbackUnavailable, match=f"the answer exceeds {MAX_RESPONSE_BYTES} bytes; cut off"):
        drain(RemoteBackend(server.url, timeout_s=10))
    assert time.monotonic() - started < 3.0


def trickle(where: str) -> Callable[[BaseHTTPRequestHandler], None]:
    """One byte every 0.2 s, forever (well, SERVER_CAP_S): inside a header line or inside an SSE line."""

    def respond(handler):
        if where == "headers":
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        else:
            stream_headers(handler)
            handler.wfile.write(b"data: ")
        handler.wfile.flush()
        for_a_while(lambda: (handler.wfile.write(b"a"), handler.wfile.flush()), pause_s=0.2)

    return respond


@pytest.mark.parametrize("where, tls", [("headers", False), ("body", False), ("headers", True), ("body", True)])
def test_a_trickling_server_is_cut_off_at_the_deadline(serve, certificate, monkeypatch, where, tls):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = serve(trickle(where), tls=tls_context(certificate) if tls else None)
    started = time.monotonic()
    with pytest.raises(FeedbackUnavailable, match=r"no complete answer within 1 s; cut off"):
        drain(RemoteBackend(server.url, timeout_s=1.0))  # socket timeouts never fire: a byte comes every 0.2 s
    assert time.monotonic() - started < 1.0 + 2.0
    assert wait_for(lambda: server.gone_at is not None, 2.0) and server.gone_at - started < 1.0 + 2.0


def test_the_writers_time_limit_closes_a_trickling_response(serve):
    server = serve(trickle("body"))
    started = time.monotonic()
    feedback = FeedbackWriter(RemoteBackend(server.url, timeout_s=60), time_limit_s=1.0).write(request())
    assert feedback.source == "template" and feedback.reason == "time limit 1 s"
    assert time.monotonic() - started < 1.5
    # the writer's stop reaches the backend: the connection closes now, not at the backend's own 60 s
    assert wait_for(lambda: server.gone_at is not None, 2.0) and server.gone_at - started < 1.0 + 2.0


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    until = time.monotonic() + seconds
    while not condition() and time.monotonic() < until:
        time.sleep(0.05)
    return condition()


# -- endless tiny pieces ---------------------------------------------------------------------------
class Pieces:
    """A backend streaming ``count`` copies of ``piece`` (no model, no network): the writer's own cost."""

    name = "pieces"

    def __init__(self, piece: str, count: int) -> None:
        self.piece, self.count = piece, count

    def stream(self, messages, max_tokens, temperature, stop: threading.Event) -> Iterator[str]:
        for _ in range(self.count):
            if stop.is_set():
                return
            yield self.piece


def test_endless_tiny_pieces_are_cut_at_the_piece_cap():
    started = time.monotonic()
    feedback = FeedbackWriter(Pieces("a", 10**7), time_limit_s=10).write(request())
    assert time.monotonic() - started < 2.0
    assert feedback.pieces == MAX_PIECES and feedback.reason == f"more than {MAX_PIECES} pieces"
    assert feedback.source == "template" and feedback.text == template_feedback(request())


def test_endless_characters_are_cut_at_the_character_cap():
    feedback = FeedbackWriter(Pieces("word " * 200, 10**6), max_chars=20_000).write(request())
    assert feedback.pieces == 20 and feedback.reason == "more than 20000 characters"


def test_the_cost_of_a_piece_does_not_grow_with_the_text_so_far():
    # 60,000 one-character pieces without a sentence end: re-joining or re-scanning the text on each piece
    # is ~1.8e9 character steps (tens of seconds); linear work is well under a second of the writer's own
    started = time.monotonic()
    feedback = FeedbackWriter(Pieces("a", 60_000), max_pieces=10**6, max_chars=10**6, time_limit_s=20).write(request())
    assert feedback.pieces == 60_000 and feedback.text == "a" * 60_000  # one "sentence", taken at the end
    assert time.monotonic() - started < 5.0


def test_twenty_thousand_one_character_pieces_from_a_server_stop_at_the_piece_cap(serve):
    server = serve(answer(["a"] * 20_000))  # ~0.9 MB of SSE, under the response size limit
    started = time.monotonic()
    feedback = FeedbackWriter(RemoteBackend(server.url, timeout_s=10), time_limit_s=10).write(request())
    assert time.monotonic() - started < 3.0
    assert feedback.pieces == MAX_PIECES and feedback.reason == f"more than {MAX_PIECES} pieces"


def test_sentences_cut_piece_by_piece_match_cutting_the_whole_text():
    text = (
        "Your timing was steady.  Clear the pedal!\nMore colour?\n\nKeep going. 踏板要更干净。节奏再稳一些！"
        "Good...  really good. End"
    )
    rng = random.Random(1)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 30)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        sentences = _Sentences()
        found = [s for piece in pieces for s in sentences.feed(piece)] + [sentences.rest()]
        assert [s.strip() for s in found if s.strip()] == split_sentences(text), pieces


# -- the local model file --------------------------------------------------------------------------
@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "feedback_llm.gguf"
    path.write_bytes(b"GGUF-not-really" + bytes(range(256)) * 9000)  # 2.3 MB: more than one hash chunk
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_local_model_whose_sha256_differs_from_the_manifest_is_not_loaded(model_file):
    fds = open_fds()
    backend = LocalBackend(model_file, expected_sha256="0" * 64, expected_size=model_file.stat().st_size)
    with pytest.raises(FeedbackUnavailable) as refused:
        backend.load()
    assert str(refused.value) == f"{model_file}: sha256 differs from the bundle's manifest; not loaded"
    feedback = FeedbackWriter(backend).write(request())
    assert feedback.source == "template" and "sha256 differs" in feedback.reason
    assert open_fds() == fds


def test_a_local_model_of_the_wrong_size_a_link_or_a_bad_checksum_is_refused(model_file, tmp_path):
    right = sha256(model_file)
    with pytest.raises(FeedbackUnavailable, match="bytes, the bundle's manifest says 10; not loaded"):
        LocalBackend(model_file, expected_sha256=right, expected_size=10).load()
    link = tmp_path / "link.gguf"
    link.symlink_to(model_file)
    with pytest.raises(FeedbackUnavailable, match="cannot open it without following links"):
        LocalBackend(link, expected_sha256=right).load()
    with pytest.raises(FeedbackUnavailable, match="is not 64 hex digits"):
        LocalBackend(model_file, expected_sha256="abc")
    with pytest.raises(FeedbackUnavailable, match="no such feedback model"):
        LocalBackend(tmp_path / "none.gguf", expected_sha256=right).load()


def test_a_local_model_with_the_right_checksum_goes_on_to_llama_cpp(model_file):
    try:
        import llama_cpp  # noqa: F401 (its first import opens files of its own, which would count below)

        refusal = r"llama.cpp cannot load it \(.*/proc/self/fd/\d+"  # the checked descriptor, not the name
    except ImportError:
        refusal = "llama-cpp-python is not installed"
    fds = open_fds()
    backend = LocalBackend(
        model_file, expected_sha256=sha256(model_file).upper(), expected_size=model_file.stat().st_size
    )
    with pytest.raises(FeedbackUnavailable, match=refusal):  # past the check: llama.cpp refuses the non-GGUF bytes
        backend.load()
    assert open_fds() == fds


class ReadsWhatItIsHanded(LocalBackend):
    """llama.cpp's part replaced by reading the path it would be handed, after swapping the file's name
    for other bytes: the check, the descriptor and the path are the real ones."""

    def _load_llama(self, path: str):
        impostor = self.model_path.with_name("impostor.gguf")
        impostor.write_bytes(b"evil" * 1000)
        os.replace(impostor, self.model_path)
        return path, Path(path).read_bytes()


def test_the_file_that_was_hashed_is_the_file_handed_to_llama_cpp_even_if_its_name_is_swapped(model_file):
    original = model_file.read_bytes()
    path, loaded = ReadsWhatItIsHanded(model_file, expected_sha256=sha256(model_file)).load()
    assert path.startswith("/proc/self/fd/") and loaded == original
    assert model_file.read_bytes() == b"evil" * 1000
