"""The feedback language model end to end on a tiny Llama-style model built here: instruction data from
the real PercePiano files, two QLoRA steps (bitsandbytes 4-bit NF4 on CPU), merge, llama.cpp's GGUF
converter, real K-quants, llama-cpp-python generating, the bundle carrying the GGUF, the real
``llama_cpp.server`` behind the remote backend, and the appliance writing feedback with the model."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from real_data import real_percepiano

from pianocoach.appliance.config import Config
from pianocoach.appliance.driven import DrivenAppliance
from pianocoach.bundle import DEFAULT_BUNDLE, Manifest, verify_bundle
from pianocoach.bundle.signing import PACKAGED_KEYS, TrustedKey, key_id, public_key_pem, trusted_keys
from pianocoach.bundle.trust import TRUST_DIR_ENV
from pianocoach.errors import DatasetFileError
from pianocoach.feedback.backends import LocalBackend, RemoteBackend
from pianocoach.feedback.choose import bundled_feedback_model, open_writer
from pianocoach.feedback.prompt import FeedbackRequest, prompt_messages
from pianocoach.feedback.writer import FeedbackWriter, template_feedback
from pianocoach.rating_scales import SCALE_NAMES, overall_mark
from pianocoach.scoring import BundleScorer
from pianocoach_export.bundle_writer import BundleModel, write_bundle
from pianocoach_export.llm_export import bundle_with_feedback, export_llm
from pianocoach_export.llm_gguf import greedy_parity, quantize, tensor_types
from pianocoach_train.llm.comments import drop_reason
from pianocoach_train.llm.data import KOREAN_SYSTEM, BuildOptions, build_instruction_data
from pianocoach_train.llm.finetune import finetune
from pianocoach_train.llm.finetune_config import PRESETS_DIR, FinetuneConfigError, load_finetune_config
from pianocoach_train.llm.musicpile import make_subset, stream_rows
from pianocoach_train.llm.records import read_records
from pianocoach_train.llm.tiny import build_tiny_model
from pianocoach_train.paths import percepiano_root

PERFORMANCES = 40


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("llm")
    data = root / "data"
    stats = build_instruction_data(BuildOptions(real_percepiano(), data, limit=PERFORMANCES, jianzipu_characters=40))
    texts = [m["content"] for r in read_records(data / "train.jsonl") for m in r.messages]
    base = build_tiny_model(root / "base", texts)
    config = load_finetune_config(
        PRESETS_DIR / "tiny.toml",
        {
            "model.base": str(base),
            "data.train": str(data / "train.jsonl"),
            "data.validation": str(data / "validation.jsonl"),
            "training.output_dir": str(root / "run"),
        },
    )
    run = finetune(config, progress=False)
    exported = export_llm(root / "run", root / "gguf", "Q4_K_M")
    key = Ed25519PrivateKey.generate()  # a signer of this test's own (the development key is left alone)
    trusted = root / "trusted_keys"
    shutil.copytree(PACKAGED_KEYS, trusted)
    (trusted / "test-signer.pub").write_bytes(public_key_pem(key.public_key()))
    bundle = root / "bundle"
    models, audio_path = bundle_with_feedback(DEFAULT_BUNDLE, exported.model)
    write_bundle(bundle, models, key, "test-feedback", audio_path=audio_path)
    keys = [TrustedKey(key_id(key.public_key()), "signer", key.public_key()), *trusted_keys()]
    return SimpleNamespace(
        root=root,
        data=data,
        stats=stats,
        base=base,
        config=config,
        run=run,
        exported=exported,
        bundle=bundle,
        keys=keys,
        key=key,
        trusted=trusted,
    )


def sample_request(language: str = "en") -> FeedbackRequest:
    values = dict.fromkeys(SCALE_NAMES, 0.6)
    return FeedbackRequest(values, overall_mark(values), {}, language, 30)


# -- instruction data ------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_instruction_data_is_split_by_performance_and_has_a_data_card(chain):
    train, validation = read_records(chain.data / "train.jsonl"), read_records(chain.data / "validation.jsonl")
    assert {r.group for r in train}.isdisjoint({r.group for r in validation}) and validation
    templates = [r for r in train + validation if r.source == "percepiano_template" and "simulated" not in r.meta]
    assert len(templates) == 2 * PERFORMANCES and {r.language for r in templates} == {"en", "zh"}
    assert all(("Fundamentals: " if r.language == "en" else "基本功：") in r.messages[1]["content"] for r in templates)
    assert chain.stats["mistakes"]["performances"] > 0  # a share of the takes again with simulated mistakes
    for record in templates:  # the target is the device's own template text for that prompt
        assert record.messages[:2] == prompt_messages_of(record) and record.messages[-1]["role"] == "assistant"
    comments = [r for r in train + validation if r.source == "percepiano_comment"]
    assert comments and all(r.language == "ko" and r.messages[0]["content"] == KOREAN_SYSTEM for r in comments)
    assert all(drop_reason(r.messages[-1]["content"]) is None for r in comments)
    assert {r.source for r in train} >= {"percepiano_comment", "percepiano_template", "jianzipu"}
    c = chain.stats["comments"]
    assert c["with_message"] == 1909 and c["kept"] + c["survey"] + c["empty"] == 1909 and c["used"] == len(comments)
    card = (chain.data / "DATA_CARD.md").read_text()
    assert f"{c['kept']} remain" in card and "groups on both sides: 0" in card


def prompt_messages_of(record):
    """The device's prompt for the record's performance, rebuilt from the numbers in its user turn."""
    lines = record.messages[1]["content"].splitlines()
    values = {}
    for name, line in zip(SCALE_NAMES, (ln for ln in lines if ln.startswith("- ") and "(1 " in ln)):
        values[name] = float(line.split(": ", 1)[1].split(" ", 1)[0]) / 7
    rebuilt = prompt_messages(FeedbackRequest(values, 0.0, {}, record.language, 45))
    assert rebuilt[0] == record.messages[0]  # the same system text
    return [record.messages[0], record.messages[1]]


def test_the_comment_filter_rule():
    assert drop_reason("없음") == "empty" and drop_reason("..") == "empty"
    assert drop_reason("판단하기 애매하네요") == "survey" and drop_reason("평가하기 쉽지 않다.") == "survey"
    assert drop_reason("음질은 조금 떨어지네요") == "survey"
    assert drop_reason("페달이 깔끔하다기보다 발을 빨리 떼 애매하게 나는 소리같다.") is None  # names the pedal
    assert drop_reason("템포가 너무 느려집니다") is None


def test_musicpile_files_are_streamed_and_subset_reproducibly(tmp_path):
    rows = [{"id": i, "text": f"Row {i}: the pedal and phrasing in Chopin.", "src": "web"} for i in range(30)]
    rows += [{"id": 100 + i, "text": f"Row {i}: stock market news.", "src": "web"} for i in range(30)]
    rows += [{"instruction": "How do I practise rubato?", "input": "", "output": "Slowly, with a pulse in mind."}]
    jsonl = tmp_path / "pile.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "pile.parquet"
    pq.write_table(pa.Table.from_pylist(rows[:60]), parquet, row_group_size=7)
    assert sum(1 for _ in stream_rows(parquet, batch_rows=5)) == 60
    first = make_subset(jsonl, 5, seed=1)
    assert [r.id for r in first] == [r.id for r in make_subset(jsonl, 5, seed=1)] and len(first) == 5
    assert all("pedal" in r.text or r.messages for r in first)  # the piano filter left the market news out
    assert len(make_subset(jsonl, 100)) == 31 and len(make_subset(jsonl, 100, piano_only=False)) == 61
    assert any(r.messages and r.messages[-1]["content"].startswith("Slowly") for r in make_subset(jsonl, 100))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(DatasetFileError, match=r"bad.jsonl: line 2: not JSON"):
        list(stream_rows(bad))
    stats = build_instruction_data(
        BuildOptions(percepiano_root(), tmp_path / "data", sources=("musicpile",), musicpile=jsonl, musicpile_size=10)
    )
    assert stats["sources"]["musicpile"]["train"] + stats["sources"]["musicpile"]["validation"] == 10


# -- fine-tuning -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_qlora_steps_on_a_4bit_base_then_a_merged_float_model(chain):
    import bitsandbytes as bnb
    import torch
    from safetensors.torch import load_file

    from pianocoach_train.llm.finetune import load_base_for_training

    model, _ = load_base_for_training(chain.config)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(layer.base_layer, bnb.nn.Linear4bit) and layer.base_layer.weight.quant_type == "nf4"
    e = chain.run.evaluation
    assert e["steps"] == 2 and e["quantized_base"] and math.isfinite(e["validation_loss"]) and e["train_records"] == 64
    assert len(e["generations"]) == 2 and all(isinstance(g["generated"], str) for g in e["generations"])
    assert (chain.run.adapter_dir / "adapter_model.safetensors").is_file()
    base = load_file(chain.base / "model.safetensors")
    merged = load_file(chain.run.merged_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert merged[name].dtype == torch.float32 and not torch.equal(base[name], merged[name])  # the adapter is in
    assert (chain.run.merged_dir / "tokenizer.model").is_file()


def test_a_config_without_a_base_model_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[model]\nbase = ""\n')
    with pytest.raises(FinetuneConfigError, match="base is empty"):
        load_finetune_config(path)
    path.write_text('[training]\nepochs = "two"\n[model]\nbase = "x"\n')
    with pytest.raises(FinetuneConfigError, match=r"\[training\] epochs must be float"):
        load_finetune_config(path)
    for preset in ("pi-0.5b.toml", "gpu24-8b.toml", "tiny.toml"):
        assert load_finetune_config(PRESETS_DIR / preset).quantization.load_in_4bit


# -- GGUF ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_gguf_conversion_gives_real_k_quants_and_q8_tracks_the_float_model(chain):
    report = chain.exported.report
    assert report["tensor_types"].get("Q4_K", 0) >= 10 and report["quantized_bytes"] < report["float_bytes"] / 2.5
    assert report["greedy_parity"]["prompts"] == 6
    q8 = quantize(chain.exported.float_gguf, chain.root / "gguf" / "q8.gguf", "Q8_0")
    assert tensor_types(q8).get("Q8_0", 0) >= 10
    parity = greedy_parity(chain.exported.float_gguf, q8)
    assert parity.first_token >= 5 and parity.mean_agreement >= 0.5


@pytest.mark.slow
def test_llama_cpp_generates_with_the_quantized_model_on_the_device_side(chain):
    backend = LocalBackend(chain.bundle / "models" / "feedback_llm.gguf", threads=1)
    import threading

    text = "".join(backend.stream(prompt_messages(sample_request()), 16, 0.0, threading.Event()))
    assert isinstance(text, str)  # the tiny model's weights are random: its first greedy token may be the end
    # so generation itself is checked with the end of text forbidden: llama.cpp decodes every token asked for
    llm = backend.load()
    done = llm.create_completion("Bar 3", max_tokens=8, temperature=0.0, logit_bias={llm.token_eos(): -1e9})
    # llama-cpp-python skips its max_tokens check while the text ends in an incomplete UTF-8 character (a byte token
    # of the Chinese feedback), so it may decode up to 3 more tokens to finish that character
    assert 8 <= done["usage"]["completion_tokens"] <= 11 and done["choices"][0]["finish_reason"] == "length"
    feedback = FeedbackWriter(backend, max_tokens=40, temperature=0.0).write(sample_request("zh"))
    assert feedback.pieces > 0 and feedback.text.strip()
    # the tiny model's words are noise: either some passed the checks or the template stood in
    assert feedback.source == "local" or (
        feedback.source == "template" and feedback.text == template_feedback(sample_request("zh"))
    )


# -- the bundle ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_bundle_carries_the_gguf_with_its_checksum_and_the_device_finds_it(chain, tmp_path):
    check = verify_bundle(chain.bundle, chain.keys)
    assert check.ok, check.problems
    entry = Manifest.read(chain.bundle).model("feedback_llm")
    assert entry.precision == "Q4_K_M" and entry.file == "models/feedback_llm.gguf" and entry.inputs == ()
    assert Manifest.read(chain.bundle).files[entry.file].sha256 == chain.exported.report["sha256"]
    assert {m.role for m in Manifest.read(chain.bundle).models} >= {"midi_scorer", "jianzipu_reader", "feedback_llm"}
    scorer = BundleScorer(chain.bundle, keys=chain.keys)  # the daemon verifies and loads the bundle first
    backend = bundled_feedback_model(scorer.verification)
    assert backend.model_path == scorer.folder / entry.file
    config = Config().with_overrides({"feedback.backend": "local"})
    assert open_writer(config.feedback, scorer.verification).name == "local"
    assert (
        open_writer(config.feedback, BundleScorer(DEFAULT_BUNDLE).verification).name == "template"
    )  # the built-in bundle has none
    assert open_writer(config.feedback, None).name == "template"  # no verified bundle: never a model file

    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"NOTAGGUF" * 64)
    write_bundle(tmp_path / "fake", [BundleModel("feedback_llm", fake, "llama", "Q4_K_M", ())], chain.key, "fake")
    assert (
        "models/feedback_llm.gguf: not a GGUF file (bad magic)" in verify_bundle(tmp_path / "fake", chain.keys).problems
    )

    tampered = tmp_path / "tampered"
    shutil.copytree(chain.bundle, tampered)
    with open(tampered / entry.file, "r+b") as handle:
        handle.seek(-100, os.SEEK_END)
        handle.write(b"\x00" * 8)
    assert any("sha256 differs" in p for p in verify_bundle(tampered, chain.keys).problems)


# -- the remote backend against llama_cpp.server ------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def llama_server(chain, tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(chain.exported.quantized_gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "1",
            "--n_ctx",
            "1024",
            "--api_key",
            "test-key-42",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/v1/models", headers={"Authorization": "Bearer test-key-42"}), timeout=2
            )
            break
        except OSError:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("llama_cpp.server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.mark.slow
def test_the_remote_backend_streams_from_llama_cpp_server(llama_server, monkeypatch):
    monkeypatch.setenv("PIANOCOACH_LLM_KEY", "test-key-42")
    config = Config().with_overrides(
        {
            "feedback.backend": "remote",
            "feedback.url": llama_server,
            "feedback.temperature": 0.0,
            "feedback.max_tokens": 40,
        }
    )
    writer = open_writer(config.feedback)
    feedback = writer.write(sample_request())
    assert feedback.pieces > 0 and feedback.text.strip()
    assert feedback.source == "remote" or feedback.dropped  # the tiny model's noise may all be dropped
    monkeypatch.setenv("PIANOCOACH_LLM_KEY", "wrong")
    refused = FeedbackWriter(RemoteBackend(llama_server, api_key_env="PIANOCOACH_LLM_KEY")).write(sample_request())
    assert refused.source == "template" and "HTTP 401" in refused.reason


# -- the appliance ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_appliance_writes_feedback_with_the_bundled_model(chain, tmp_path, monkeypatch):
    # a device that trusts this test's signer, as one does after its release key is installed on it
    shutil.copytree(chain.trusted, tmp_path / "trusted_keys")
    monkeypatch.setenv(TRUST_DIR_ENV, str(tmp_path / "trusted_keys"))
    midi = next(iter(sorted((percepiano_root() / "midi").glob("Schubert_D960*.mid"))))
    config = Config().with_overrides(
        {
            "device.data_dir": str(tmp_path),
            "device.bundle": str(chain.bundle),
            "input.source": "file",
            "input.file": str(midi),
            "input.realtime": False,
            "display.kind": "image",
            "speech.engine": "none",
            "button.pin_factory": "mock",
            "feedback.backend": "local",
            "feedback.threads": 1,
            "feedback.temperature": 0.0,
        }
    )
    app = DrivenAppliance(config, warm=False)
    try:
        app.wait_state("idle")
        app.press()
        app.wait_state("result")
        result = app.daemon.last_result
        assert app.daemon.feedback.name == "local" and app.daemon.pieces > 0
        assert result.feedback_source in ("local", "template") and result.feedback.strip()
        frames = [json.loads(line) for line in (tmp_path / "frames" / "frames.jsonl").read_text().splitlines()]
        assert any(f["state"] == "scoring" and f["text"].startswith("Feedback") for f in frames)
    finally:
        app.close()
