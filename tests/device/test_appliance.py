"""The appliance end to end: the real state machine, a button pressed through gpiozero's mock pins, the
image display (luma's dummy device), espeak-ng into the file sink, SQLite history; and the ways it must
survive: no bundle, a failing display, an input that disappears, a press storm, a power cut."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from appliance_helpers import appliance_config

from pianocoach.appliance.driven import DrivenAppliance
from pianocoach.appliance.history import History
from pianocoach.feedback.check import split_sentences
from pianocoach.inputs import open_file
from pianocoach.inputs.microphone import MicrophoneSource
from pianocoach.scoring import BundleScorer, SessionSettings, score_source, write_feedback


@pytest.fixture
def running():
    started = []

    def start(config):
        started.append(DrivenAppliance(config, warm=False))
        return started[-1]

    yield start
    for item in started:
        item.close()


def frames(tmp_path):
    index = tmp_path / "frames" / "frames.jsonl"
    return [json.loads(line) for line in index.read_text().splitlines()]


@pytest.mark.slow
def test_a_whole_session_through_the_state_machine(tmp_path, performance, running):
    app = running(appliance_config(tmp_path, performance["wav"]))
    app.wait_state("idle")
    led = app.appliance.button.led
    app.press()
    app.wait_state("listening", "scoring", "result")
    app.wait_state("result")
    page_count = len(app.daemon.pages)
    for _ in range(page_count):
        app.press()
    app.wait_state("idle")
    assert not led.is_lit
    assert app.daemon.speaker.wait(60)

    assert list(app.daemon.state_log) == ["idle", "listening", "scoring", "result", "idle"]
    shown = frames(tmp_path)
    assert {"idle", "listening", "scoring", "result"} <= {f["state"] for f in shown}
    assert all((tmp_path / "frames" / f["file"]).is_file() for f in shown)
    assert sum(f["state"] == "result" for f in shown) == page_count

    # the result pages show what the pipeline computes for the same recording
    expected = score_source(open_file(performance["wav"]), BundleScorer(), SessionSettings())
    write_feedback(expected)  # the templates, as the daemon's writer without a language model
    result = app.daemon.last_result
    assert result.scale_values == expected.scale_values and result.overall == expected.overall
    first_page = next(f for f in shown if f["state"] == "result")["text"]
    assert f"{expected.overall:.0f}/100" in first_page and "first performance" in first_page
    bars = [line for f in shown if f["text"].startswith("Scales") for line in f["text"].splitlines()[1:]]
    assert len(bars) == 19 and bars[0].startswith("stable ") and bars[0].endswith(" unstable")

    # one history row, with the pipeline's numbers
    history = History(tmp_path / "history.sqlite")
    rows = history.last(5)
    assert len(rows) == 1 and rows[0]["overall"] == expected.overall and rows[0]["source"] == "audio"
    assert rows[0]["scales"] == expected.shown_scales() and len(rows[0]["scales"]) == 19  # pedal: null (a microphone)
    assert [rows[0]["scales"][name] for name in expected.unknown_scales] == [None, None]
    assert rows[0]["bundle_id"] == expected.bundle_id and rows[0]["feedback"] == expected.feedback

    # the feedback was shown and spoken sentence by sentence while it was written (the template backend)
    sentences = split_sentences(expected.feedback)
    assert result.feedback_source == "template" and app.daemon.sentences == sentences
    writing = [f["text"] for f in shown if f["state"] == "scoring" and f["text"].startswith("Feedback")]
    assert len(writing) == len(sentences) and sentences[0] in " ".join(writing[0].splitlines())
    # the speech files hold speech: espeak-ng's voice, seconds long, with pauses between words
    wavs = sorted((tmp_path / "speech").glob("*.wav"))
    assert len(wavs) == len(sentences)
    audio = np.concatenate([sf.read(wav)[0] for wav in wavs])
    rate = sf.info(wavs[0]).samplerate
    frame = rate // 50
    energy = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert len(audio) / rate > 3.0
    assert 0.2 < (energy > 0.01).mean() < 0.98  # voiced stretches and gaps, not silence or a tone


@pytest.mark.slow
def test_the_next_performance_shows_the_change_and_the_history_command_lists_both(tmp_path, performance, running):
    app = running(appliance_config(tmp_path, performance["midi"]))
    for _ in range(2):
        app.wait_state("idle")
        app.press()
        app.wait_state("result")
        app.long_press()  # a long press leaves the result pages
    app.wait_state("idle")
    second = [f["text"] for f in frames(tmp_path) if f["state"] == "result" and "/100" in f["text"]][1]
    assert "+0 vs last" in second  # the same file twice: no change
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pianocoach.cli",
            "history",
            "--json",
            "--set",
            f'history.path="{tmp_path / "history.sqlite"}"',
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["id"] for r in rows] == [2, 1] and rows[0]["input"] == "performance.mid"


@pytest.mark.slow
def test_a_long_press_cancels_and_nothing_is_stored(tmp_path, performance, running):
    config = appliance_config(tmp_path, performance["wav"], **{"input.realtime": True})
    app = running(config)
    app.wait_state("idle")
    app.press()
    app.wait_state("listening")
    time.sleep(1.0)
    app.long_press()
    app.wait_state("idle")
    time.sleep(0.5)
    assert list(app.daemon.state_log) == ["idle", "listening", "idle"]
    assert History(tmp_path / "history.sqlite").count() == 0
    assert "Cancelled" in frames(tmp_path)[-1]["text"]


@pytest.mark.slow
def test_silence_stops_listening(tmp_path, running):
    rate = 22050
    t = np.arange(int(4 * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)  # 4 s of a pulsing A
    audio = np.concatenate([tone, np.zeros(30 * rate)]).astype(np.float32)
    path = tmp_path / "then-silence.wav"
    sf.write(path, audio, rate)
    app = running(appliance_config(tmp_path, path, **{"input.silence_stop_s": 4.0}))
    app.wait_state("idle")
    app.press()
    app.wait_state("result", "message")
    # listening ended by itself 4-6 s into the silence, long before the file's 34 s
    clocks = [f["text"].splitlines()[0].split()[1] for f in frames(tmp_path) if f["state"] == "listening"]
    seconds = [int(c.split(":")[0]) * 60 + int(c.split(":")[1]) for c in clocks]
    assert 8 <= max(seconds) <= 12
    assert list(app.daemon.state_log)[:3] == ["idle", "listening", "scoring"]


def test_no_bundle_shows_the_reason_and_keeps_running(tmp_path, performance, running):
    app = running(appliance_config(tmp_path, performance["midi"], **{"device.bundle": str(tmp_path / "no-bundle")}))
    app.wait_state("idle")
    assert "no model bundle" in frames(tmp_path)[0]["text"]
    app.press()
    app.wait_state("message")
    assert "no model bundle" in app.daemon.message
    app.press()
    app.wait_state("idle")
    assert app.loop.is_alive() and History(tmp_path / "history.sqlite").count() == 0


@pytest.mark.slow
def test_a_display_that_cannot_open_falls_back_to_the_terminal(tmp_path, performance, running, capfd):
    app = running(
        appliance_config(tmp_path, performance["midi"], **{"display.kind": "ssd1306", "display.i2c_port": 19})
    )
    assert app.daemon.display.failed and "ssd1306" in app.daemon.display.failed  # no /dev/i2c-19 here
    app.wait_state("idle")
    app.press()
    app.wait_state("result")
    assert "Result" in capfd.readouterr().out
    assert History(tmp_path / "history.sqlite").count() == 1


@pytest.mark.slow
def test_a_display_that_fails_mid_performance_does_not_stop_scoring(tmp_path, performance, running, capfd):
    app = running(appliance_config(tmp_path, performance["wav"], **{"input.realtime": True}))
    app.wait_state("idle")
    app.press()
    app.wait_state("listening")
    folder = tmp_path / "frames"
    for item in folder.iterdir():  # the frame folder's storage goes away: saving the next frame fails
        item.unlink()
    folder.rmdir()
    folder.write_text("not a folder")
    app.wait_state("result", timeout=60)
    assert app.daemon.display.failed
    assert "Result" in capfd.readouterr().out
    assert History(tmp_path / "history.sqlite").count() == 1


class VanishingMicrophone(MicrophoneSource):
    """The real microphone block assembly, fed by a PortAudio-like callback thread that stops for good
    after ``seconds`` of audio, as when a USB microphone is pulled out."""

    def __init__(self, audio, rate, seconds):
        super().__init__(sample_rate=rate, block_seconds=2.0, stall_s=1.0)
        self.audio, self.seconds = audio, seconds

    def blocks(self):
        def deliver():
            ok = SimpleNamespace(input_overflow=False)
            chunk = 1024
            for start in range(0, int(self.seconds * self.sample_rate), chunk):
                self._callback(self.audio[start : start + chunk, None], chunk, None, ok)
                time.sleep(chunk / self.sample_rate / 4)

        threading.Thread(target=deliver, daemon=True).start()
        yield from self._assemble(int(self.block_seconds * self.sample_rate))


@pytest.mark.slow
def test_an_input_that_disappears_ends_the_session_with_a_message_and_stores_nothing(tmp_path, performance, running):
    audio, rate = sf.read(performance["wav"], dtype="float32")
    audio = audio.mean(axis=1) if audio.ndim > 1 else audio
    app = running(appliance_config(tmp_path, performance["wav"]))
    app.daemon.open_source = lambda: VanishingMicrophone(audio, rate, seconds=7.0)
    app.wait_state("idle")
    app.press()
    app.wait_state("message", "result", timeout=60)
    assert app.daemon.state == "message"
    assert "microphone: no audio for 1 s" in app.daemon.message
    assert History(tmp_path / "history.sqlite").count() == 0
    app.press()
    app.wait_state("idle")
    assert app.loop.is_alive()


@pytest.mark.slow
def test_a_press_storm_leaves_one_consistent_session(tmp_path, performance, running):
    app = running(appliance_config(tmp_path, performance["midi"], **{"input.realtime": True}))
    app.wait_state("idle")
    started = time.monotonic()
    while time.monotonic() - started < 1.0:  # about 50 presses within a second
        app.press(hold=0.005, gap=0.015)
    time.sleep(0.5)
    assert app.loop.is_alive()
    assert app.daemon.listening_now <= 1
    assert app.daemon.state in ("idle", "listening", "scoring", "result", "message")
    # whatever the storm left, the appliance still answers a calm press to the end of a performance
    for _ in range(40):
        if app.daemon.state == "idle":
            break
        if app.daemon.state in ("listening", "result"):
            app.long_press()
        else:
            app.press()
    app.wait_state("idle")
    app.press()
    app.wait_state("listening")
    app.wait_state("result", timeout=60)
    rows = History(tmp_path / "history.sqlite").last(10)
    assert rows and all(len(r["scales"]) == 19 for r in rows)


WRITER = """
import json, sys
from pianocoach.appliance.history import History
from pianocoach.scoring.result import PerformanceResult
result = PerformanceResult(**json.load(open(sys.argv[2])))
history = History(sys.argv[1])
print("ready", flush=True)
while True:
    history.add(result)
"""


@pytest.mark.slow
def test_a_power_cut_during_history_writes_leaves_a_readable_database(tmp_path, performance):
    result = score_source(open_file(performance["midi"]), BundleScorer(), SessionSettings())
    (tmp_path / "result.json").write_text(json.dumps(result.to_dict()))
    path = tmp_path / "history.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(tmp_path / "result.json")], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(1.5)  # many transactions in flight
    os.kill(writer.pid, signal.SIGKILL)  # the process dies mid-write, as in a power cut
    writer.wait()
    assert (tmp_path / "history.sqlite-wal").exists()  # WAL mode
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    history = History(path)
    rows = history.last(10**6)
    assert len(rows) > 5 and all(r["scales"] == rows[0]["scales"] and r["overall"] == result.overall for r in rows)
    history.add(result)  # and it takes the next performance
    assert history.count() == len(rows) + 1


@pytest.mark.slow
def test_the_demo_runs_the_appliance_and_leaves_frames_speech_and_history(tmp_path, performance):
    from pianocoach.appliance.demo import run_demo

    left = run_demo(tmp_path / "demo", performance["midi"], realtime=False)
    assert left["states"] == ["idle", "listening", "scoring", "result", "idle"]
    assert {p.name.split("-", 1)[1] for p in left["frames"]} == {
        "idle.png",
        "listening.png",
        "scoring.png",
        "result.png",
    }
    # one WAV per feedback sentence, spoken as each was written
    assert len(left["speech"]) == len(split_sentences(left["result"].feedback)) > 1
    assert all(wav.stat().st_size > 10_000 for wav in left["speech"])
    assert History(left["history"]).latest()["overall"] == left["result"].overall


@pytest.mark.slow
def test_the_soak_replays_sessions_in_one_process_and_writes_its_report(tmp_path, performance):
    from pianocoach.appliance.soak import main

    out = tmp_path / "soak.json"
    assert main(["--sessions", "3", "--warmup", "1", "--input", str(performance["midi"]), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["sessions"] == report["scored"] == report["history_rows"] == 3
    assert len(report["rss_mb"]) == 3 and report["window_sessions"] == 1
    # growth is computed before rounding, the listed values after: they agree to a rounding step
    assert abs(report["growth_mb"] - (report["rss_mb"][-1] - report["rss_mb"][1])) <= 0.011
    assert out.with_suffix(".png").stat().st_size > 1000


@pytest.mark.slow
def test_a_new_bundle_is_loaded_between_performances_never_during_one(tmp_path, performance, running):
    from bundle_helpers import signed_copy, trust
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach.bundle.store import BundleStore

    key = Ed25519PrivateKey.generate()
    trust(tmp_path, key)  # the device trusts the release key the next bundle is signed with
    store = BundleStore(tmp_path / "bundles")
    store.install(DEFAULT_BUNDLE, health_check=False)
    app = running(appliance_config(tmp_path, performance["wav"], **{"input.realtime": True}))
    app.wait_state("idle")
    first = app.daemon.scorer.bundle_id
    assert f"model {first}" in frames(tmp_path)[-1]["text"]  # the idle screen names the bundle
    app.press()
    app.wait_state("listening")
    store.install(signed_copy(tmp_path / "new", key, "release-2"), health_check=False)
    app.daemon.request_reload()
    time.sleep(1.0)
    assert app.daemon.scorer.bundle_id == first and app.daemon.reload_pending  # never in the middle of one
    time.sleep(3.0)  # enough playing to score
    app.press()
    app.wait_state("result")
    assert app.daemon.last_result.bundle_id == first
    app.long_press()
    app.wait_for(lambda: app.daemon.scorer.bundle_id == "release-2" and app.daemon.state == "idle", 30, "the reload")
    assert "model release-2" in frames(tmp_path)[-1]["text"] and not app.daemon.reload_pending


@pytest.mark.slow
def test_install_bundle_makes_the_running_appliance_reload(tmp_path, performance):
    """The real thing: `pianocoach run` in its own process, `pianocoach install-bundle` beside it (SIGHUP)."""
    from bundle_helpers import signed_copy, trust
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    trust(tmp_path, key)
    cli = [sys.executable, "-m", "pianocoach.cli"]
    data = ["--data-dir", str(tmp_path)]
    assert (
        subprocess.run(
            cli + ["install-bundle", str(signed_copy(tmp_path / "b1", key, "release-1"))] + data,
            capture_output=True,
            timeout=300,
        ).returncode
        == 0
    )
    log = open(tmp_path / "run.log", "w")
    daemon = subprocess.Popen(
        cli
        + [
            "run",
            "--display",
            "terminal",
            "--input",
            str(performance["midi"]),
            "--set",
            'button.pin_factory="mock"',
            "--set",
            'speech.engine="none"',
        ]
        + data,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 120
        while not (tmp_path / "pianocoach.pid").exists() or "model release-1" not in (tmp_path / "run.log").read_text():
            assert daemon.poll() is None and time.time() < deadline, (tmp_path / "run.log").read_text()[-2000:]
            time.sleep(0.3)
        done = subprocess.run(
            cli + ["install-bundle", str(signed_copy(tmp_path / "b2", key, "release-2"))] + data,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and f"told the appliance (pid {daemon.pid}) to reload" in done.stdout
        # the log line comes first, then the idle screen that names the new bundle
        deadline = time.time() + 120
        while not all(
            line in (tmp_path / "run.log").read_text()
            for line in ("model bundle release-2 loaded (was release-1)", "model release-2")
        ):
            assert daemon.poll() is None and time.time() < deadline, (tmp_path / "run.log").read_text()[-2000:]
            time.sleep(0.3)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()
    assert not (tmp_path / "pianocoach.pid").exists()
