"""Pairing a browser through the device itself: the running appliance shows the companion page's code on its
display, a press on the button (gpiozero's mock pin) allows it and a hold refuses it; the page accepts the code
only once it is allowed."""

import json

import pytest
from appliance_helpers import appliance_config

from pianocoach.appliance.driven import DrivenAppliance
from pianocoach.web.access import Pairing


@pytest.fixture
def appliance(tmp_path, performance):
    app = DrivenAppliance(appliance_config(tmp_path, performance["wav"]), warm=False)
    app.wait_state("idle")
    yield app
    app.close()


def shown(tmp_path) -> list[dict]:
    index = tmp_path / "frames" / "frames.jsonl"
    return [json.loads(line) for line in index.read_text().splitlines()]


def test_a_press_allows_the_code_the_display_shows(tmp_path, appliance):
    page = Pairing(tmp_path)
    code = page.new_code()
    appliance.wait_state("pairing", timeout=10)
    assert code in shown(tmp_path)[-1]["text"]
    assert page.attempt(code) == "unconfirmed"  # typed before the press: not yet, and not counted
    assert page.locked_for() == 0 and not page.failures
    appliance.press()
    appliance.wait_state("message", timeout=10)
    assert page.attempt(code) == "paired"
    assert page.current() is None  # used once
    assert list(appliance.daemon.state_log)[-2:] == ["pairing", "message"]


def test_a_hold_refuses_it(tmp_path, appliance):
    page = Pairing(tmp_path)
    code = page.new_code()
    appliance.wait_state("pairing", timeout=10)
    appliance.long_press()
    appliance.wait_state("idle", timeout=10)
    assert page.current() is None and page.attempt(code) == "wrong"


def test_a_code_printed_at_the_device_needs_no_press(tmp_path):
    page = Pairing(tmp_path)
    code = page.new_code(confirmed=True)
    assert page.attempt(code) == "paired"
