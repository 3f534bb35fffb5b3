"""Language-model feedback on the device: the prompt, the aspect tagger, the check against the numbers,
and the writer's streaming and fallbacks, through the remote backend against an OpenAI-style HTTP
server on 127.0.0.1 (a stdlib server that streams what each test scripts; the real llama_cpp.server
with a real model is tested in tests/host/test_feedback_llm.py)."""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pianocoach.appliance.config import Config, ConfigError, load_config
from pianocoach.feedback.aspects import tag_aspects
from pianocoach.feedback.backends import FeedbackUnavailable, LocalBackend, RemoteBackend
from pianocoach.feedback.check import check_feedback, check_sentence, split_sentences
from pianocoach.feedback.choose import open_writer
from pianocoach.feedback.prompt import FeedbackRequest, facts_text, prompt_messages
from pianocoach.feedback.writer import FeedbackWriter, template_feedback
from pianocoach.rating_scales import HIGH, LOW, MID, SCALE_NAMES, SCALES, overall_mark

MEASURES = {
    "tempo_variation_pct": {"value": 18.0, "unit": "%", "label_en": "tempo variation", "label_zh": "速度波动"},
    "pedal_down_pct": {"value": 75.0, "unit": "%", "label_en": "pedal down", "label_zh": "踏板踩下"},
}


def request(pedal_clean: bool = False, language: str = "en", word_limit: int = 45) -> FeedbackRequest:
    values = dict.fromkeys(SCALE_NAMES, MID)
    values["Pedal: clean / blurred"] = LOW if pedal_clean else HIGH  # low end = clean
    values["Timing: stable / unstable"] = LOW  # stable: good
    return FeedbackRequest(values, overall_mark(values), MEASURES, language, word_limit)


class ScriptedServer:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 streaming ``pieces`` with ``delay_s``
    before each; records the requests it got (body and Authorization header)."""

    def __init__(self, pieces: list[str], delay_s: float = 0.0, status: int = 200) -> None:
        self.pieces, self.delay_s, self.status = pieces, delay_s, status
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.status != 200:
                    self.send_error(server.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in server.pieces:
                        time.sleep(server.delay_s)
                        chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped listening (word or time limit)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(pieces, delay_s=0.0, status=200):
        servers.append(ScriptedServer(pieces, delay_s, status))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def remote_writer(server: ScriptedServer, time_limit_s: float = 10.0, **backend) -> FeedbackWriter:
    return FeedbackWriter(RemoteBackend(server.url, timeout_s=time_limit_s, **backend), time_limit_s=time_limit_s)


# -- prompt, aspects, check -------------------------------------------------------------------------
def test_the_prompt_carries_every_scale_the_mark_and_the_measurements_in_both_languages():
    r = request()
    facts = facts_text(r)
    assert f"Overall mark: {r.mark:.0f}/100" in facts
    assert all(f"- {s.topic('en')}: " in facts for s in SCALES)
    assert "- pedal clarity: 7.0 (1 clean, 7 blurred; better: clean)" in facts and "- tempo variation: 18 %" in facts
    system, user = prompt_messages(request(language="zh", word_limit=30))
    assert system["role"] == "system" and "60个字" in system["content"]
    assert "踏板清晰度: 7.0 (1 清晰, 7 模糊; 较好：清晰)" in user["content"] and "速度波动: 18 %" in user["content"]


@pytest.mark.parametrize(
    "text, aspects",
    [
        ("Your pedal was clear, but the tempo rushed.", {"pedal", "timing"}),
        ("Round off the loudest notes and let the melody sing.", {"dynamics", "tone"}),
        ("踏板要更干净，节奏再稳一些。", {"pedal", "timing"}),
        ("셈여림의 변화가 뚜렷하고 페달 사용이 적어 건조하다", {"dynamics", "pedal"}),
        ("아티큘레이션이 짧고 감정 표현이 부족하다", {"articulation", "emotion"}),
        ("A lovely performance.", set()),
    ],
)
def test_the_aspect_tagger_reads_english_chinese_and_korean(text, aspects):
    assert tag_aspects(text) == aspects


def test_a_sentence_praising_a_scale_that_scored_low_is_dropped_and_kept_when_it_scored_well():
    praise = "Your pedalling was beautifully clean."
    assert "praises pedal clarity" in check_sentence(praise, request(pedal_clean=False))
    assert check_sentence(praise, request(pedal_clean=True)) is None
    # criticism and suggestions about a weak scale are what feedback is for
    assert check_sentence("Clear the pedal with each new harmony.", request(pedal_clean=False)) is None
    assert check_sentence("The pedal was not clean enough.", request(pedal_clean=False)) is None
    assert check_sentence("你的踏板很干净，很好。", request(pedal_clean=False, language="zh")) is not None
    # a quoted mark must be the measured one
    r = request()
    assert check_sentence(f"You scored {r.mark:.0f}/100.", r) is None
    assert "quotes 99/100" in check_sentence("You scored 99/100.", r)
    checked = check_feedback(f"Steady pulse, well done. Your pedal was great. {r.mark:.0f}/100 overall.", r)
    assert checked.kept == ["Steady pulse, well done.", f"{r.mark:.0f}/100 overall."] and len(checked.dropped) == 1


def test_the_template_text_always_passes_the_check():
    rng = random.Random(0)
    for _ in range(300):
        values = {name: rng.uniform(LOW, HIGH) for name in SCALE_NAMES}
        for language in ("en", "zh"):
            r = FeedbackRequest(values, overall_mark(values), MEASURES, language)
            checked = check_feedback(template_feedback(r), r)
            assert not checked.dropped, checked.dropped


# -- the writer ------------------------------------------------------------------------------------
def test_the_model_text_streams_sentence_by_sentence_and_the_first_arrives_before_the_end(serve):
    server = serve(
        ["Your timing ", "was steady, ", "well done. ", "Clear the pedal ", "with each harmony. "], delay_s=0.25
    )
    seen = []
    feedback = remote_writer(server).write(request(), on_sentence=lambda s: seen.append((time.perf_counter(), s)))
    done = time.perf_counter()
    assert feedback.source == "remote" and feedback.reason == ""
    assert [s for _, s in seen] == ["Your timing was steady, well done.", "Clear the pedal with each harmony."]
    assert feedback.text == "Your timing was steady, well done. Clear the pedal with each harmony."
    assert done - seen[0][0] > 0.4  # the first sentence was handed on while the rest was still coming
    assert feedback.pieces == 5 and feedback.first_sentence_s < feedback.seconds
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["stream"] is True
    assert sent["body"]["messages"] == prompt_messages(request())


def test_contradicting_sentences_are_dropped_and_all_dropped_means_the_template(serve):
    r = request(pedal_clean=False)
    mixed = serve(["Your pedal was wonderfully clean. ", "Your timing was steady, good. "])
    feedback = remote_writer(mixed).write(r)
    assert feedback.text == "Your timing was steady, good." and len(feedback.dropped) == 1
    only_wrong = serve(["Your pedal was wonderfully clean. "])
    feedback = remote_writer(only_wrong).write(r)
    assert feedback.source == "template" and feedback.text == template_feedback(r)
    assert feedback.reason == "every sentence contradicted the numbers"


def test_the_word_limit_stops_the_model(serve):
    server = serve([f"Sentence number {i} is about timing and the pulse. " for i in range(20)])
    feedback = remote_writer(server).write(request(word_limit=20))
    assert feedback.source == "remote" and len(feedback.text.split()) <= 20 and len(split_sentences(feedback.text)) == 2


def test_a_slow_model_falls_back_to_the_template_at_the_time_limit(serve):
    server = serve(["Your timing ", "was steady. "], delay_s=2.0)
    started = time.perf_counter()
    feedback = remote_writer(server, time_limit_s=0.8).write(request())
    assert time.perf_counter() - started < 1.8
    # the writer's time limit and the connection's deadline (the same 0.8 s) race: on a busy machine the
    # connection's cut-off is seen first; either way the limit ended it and the template is used
    assert feedback.source == "template"
    assert feedback.reason == "time limit 0.8 s" or "within 0.8 s; cut off" in feedback.reason
    assert feedback.text == template_feedback(request())


def test_an_empty_answer_a_server_error_and_a_missing_server_fall_back_to_the_template(serve):
    spoken = []
    empty = remote_writer(serve([])).write(request(), on_sentence=spoken.append)
    assert empty.source == "template" and empty.reason == "the model said nothing"
    assert spoken == split_sentences(template_feedback(request()))  # the template is spoken sentence by sentence too
    failing = remote_writer(serve([], status=500)).write(request())
    assert failing.source == "template" and "HTTP 500" in failing.reason
    down = FeedbackWriter(RemoteBackend("http://127.0.0.1:9", timeout_s=2), time_limit_s=3).write(request())
    assert down.source == "template" and "cannot connect" in down.reason


def test_the_api_key_comes_from_the_environment_or_a_file_and_is_never_shown(serve, monkeypatch, tmp_path):
    server = serve(["Your timing was steady, good. "])
    monkeypatch.setenv("TEST_LLM_KEY", "sk-secret-123")
    backend = RemoteBackend(server.url, api_key_env="TEST_LLM_KEY")
    assert FeedbackWriter(backend).write(request()).source == "remote"
    assert server.requests[-1]["auth"] == "Bearer sk-secret-123" and "sk-secret" not in repr(backend)
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    FeedbackWriter(RemoteBackend(server.url, api_key_file=str(key_file))).write(request())
    assert server.requests[-1]["auth"] == "Bearer from-a-file"
    with pytest.raises(FeedbackUnavailable, match="cannot read the API key file"):
        RemoteBackend(server.url, api_key_file=str(tmp_path / "missing"))


def test_a_missing_local_model_falls_back_to_the_template(tmp_path, caplog):
    r = request()
    feedback = FeedbackWriter(LocalBackend(tmp_path / "none.gguf")).write(r)
    assert feedback.source == "template" and "no such feedback model" in feedback.reason
    config = Config().with_overrides({"feedback.backend": "local"})  # and no verified bundle with a GGUF
    assert open_writer(config.feedback).name == "template"
    assert "no GGUF model" in caplog.text


def test_the_feedback_section_of_the_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[feedback]\nbackend = "remote"\nurl = "http://127.0.0.1:8000"\ntime_limit_s = 5\n')
    config = load_config(path)
    assert config.feedback.backend == "remote" and config.feedback.time_limit_s == 5.0
    assert open_writer(config.feedback).name == "remote"
    with pytest.raises(ConfigError, match=r"\[feedback\] backend must be one of template, local, remote"):
        path.write_text('[feedback]\nbackend = "cloud"\n')
        load_config(path)
    assert load_config(Path(__file__).parents[2] / "firmware_config" / "config.toml").feedback == Config().feedback
