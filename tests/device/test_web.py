"""The companion page in a real browser: Debian's Chromium, headless, driven by Selenium against a real waitress
server on 127.0.0.1, over a history filled through the daemon's own History with a scored take."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fundamentals_takes import ode_take, score_take

from pianocoach.appliance.history import History
from pianocoach.appliance.pairing_file import confirm
from pianocoach.web.access import MAX_FAILURES, PAIRING_FILE
from pianocoach.web.app import WebSettings, create_app
from pianocoach.web.browser import headless_chromium
from pianocoach.web.history_view import Filters, HistoryView

TAKES = 60
DAY = 86400.0
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, scorer):
    """A history of TAKES takes over two months: two thirds of a piece followed along its score, the rest free play."""
    folder = tmp_path_factory.mktemp("web")
    take = score_take(ode_take(folder / "take.mid"), scorer)
    history = History(folder / "history.sqlite")
    start = time.time() - (TAKES - 0.5) * DAY  # the newest half a day ago
    for i in range(TAKES):
        played = take if i % 3 else dataclasses.replace(take, piece=None, bars=None, score_notes=None)
        history.add(dataclasses.replace(played, overall=40 + i * 0.5), started_at=start + i * DAY)
    history.close()
    recordings = folder / "recordings"  # kept recordings (history.keep_recordings) of the newest take and take 2
    recordings.mkdir()
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(44100 * 2) / 44100)).astype(np.float32)
    for take_id in (TAKES, 2):
        sf.write(recordings / f"take-{take_id}.flac", tone, 44100, subtype="PCM_16")
    return folder


def serve(folder: Path):
    from waitress.server import create_server

    app = create_app(WebSettings(folder, folder / "history.sqlite"))
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


@pytest.fixture(scope="module")
def site(data_dir):
    server, url = serve(data_dir)
    yield url
    server.close()


def chromium(width: int = 1280, height: int = 900):
    return headless_chromium(width, height, console_log=True)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def click(driver, element) -> None:
    """Click what loads a new page, and wait until the new page has replaced the old one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(old))


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def pair(driver, url: str, folder: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/pair")
    click(driver, driver.find_element(By.ID, "pair-start"))
    code = shown_code(folder)
    driver.find_element(By.ID, "pair-code").send_keys(code)
    click(driver, driver.find_element(By.ID, "pair-submit"))


def shown_code(folder: Path, wait_s: float = 10.0) -> str:
    """The code the device shows (the pairing file the display reads), once the click has made it, allowed as a
    press on the button allows it (tests/device/test_web_pairing.py drives the daemon for that)."""
    path = folder / PAIRING_FILE
    deadline = time.monotonic() + wait_s
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    code = json.loads(path.read_text())["code"]
    assert confirm(folder, code)
    return code


@pytest.fixture(scope="module")
def paired(browser, site, data_dir):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    assert browser.current_url.endswith("/pair")  # an unpaired browser sees only the pairing page
    browser.get(site + "/export.csv")
    assert browser.current_url.endswith("/pair") and "started_at" not in browser.page_source
    pair(browser, site, data_dir)
    assert browser.current_url == site + "/"
    assert browser.find_element(By.ID, "week-takes").text == "7"  # one take a day
    return browser


def test_every_page_renders_without_console_errors_and_the_charts_draw(paired, site, data_dir):
    from selenium.webdriver.common.by import By

    for path in ("/", "/history", f"/take/{TAKES}", f"/take/{TAKES}/report", "/piece/ode-to-joy", "/device"):
        paired.get(site + path)
        assert paired.find_element(By.TAG_NAME, "h1").text, path
        assert console_errors(paired) == [], path
    paired.get(site + f"/take/{TAKES}")
    drawn = paired.execute_script(
        "const c = document.getElementById('bars-chart'); return c.dataset.drawn && c.chart.data.datasets.length"
    )
    assert drawn == 4
    assert len(paired.find_elements(By.CSS_SELECTOR, "#scales .scale .dot")) >= 17
    roll = paired.execute_script(
        "const c = document.getElementById('roll-chart'); return c.dataset.drawn &&"
        " c.chart.data.datasets.map((d, i) => [d.label, d.data.length, c.chart.isDatasetVisible(i)])"
    )
    stored = HistoryView(data_dir / "history.sqlite").take(TAKES)
    layers = {label: n for label, n, visible in roll if visible}
    # a line per note as played and per note of the score as due (and a gap after each), a bar line per bar as
    # played, the wrong notes of bar 3 and the stop before bar 9
    assert layers["notes played"] == 3 * len(stored["notes"]) and len(stored["notes"]) > 20
    assert layers["the score"] == 3 * len(stored["score_notes"]) and len(stored["score_notes"]) > 20
    assert layers["bars"] == 3 * len(stored["bars"]) and layers["wrong"] == 2 and layers["stops"] == 1
    paired.get(site + f"/take/{TAKES - 2}")  # free play: no score to draw
    labels = paired.execute_script("return document.getElementById('roll-chart').chart.data.datasets.map(d => d.label)")
    assert labels[0] == "notes played" and not {"the score", "bars"} & set(labels) and console_errors(paired) == []
    paired.get(site + f"/take/{TAKES}")
    duration = paired.execute_script(
        "const a = document.getElementById('recording'); return new Promise(done => {"
        " if (a.readyState >= 1) done(a.duration); else a.addEventListener('loadedmetadata', () => done(a.duration));"
        " setTimeout(() => done(-1), 5000); });"
    )
    assert abs(duration - 2.0) < 0.05  # the kept recording plays in the page (Chromium decodes the FLAC)
    paired.get(site + "/piece/ode-to-joy")
    points = paired.execute_script("return document.getElementById('piece-chart').chart.data.datasets[0].data.length")
    assert points == TAKES - TAKES // 3  # the takes of the piece, oldest first
    first_select = paired.find_element(By.ID, "scale-select")
    options = first_select.find_elements(By.TAG_NAME, "option")
    chosen = options[3].text  # the scale in the page's words
    click(paired, options[3])  # choosing a scale reloads the page with it in the chart
    label = paired.execute_script("return document.getElementById('piece-chart').chart.data.datasets[3].label")
    assert label == chosen and console_errors(paired) == []


def test_paging_and_filters(paired, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    paired.get(site + "/history")
    rows = paired.find_elements(By.CSS_SELECTOR, "#takes tbody tr")
    assert len(rows) == 25 and rows[0].get_attribute("data-id") == str(TAKES)  # newest first
    click(paired, paired.find_element(By.ID, "older"))
    assert paired.find_elements(By.CSS_SELECTOR, "#takes tbody tr")[0].get_attribute("data-id") == str(TAKES - 25)
    Select(paired.find_element(By.ID, "filter-piece")).select_by_value("")
    click(paired, paired.find_element(By.ID, "filter-submit"))
    assert paired.find_element(By.ID, "total").text.startswith(str(TAKES // 3))  # free play only
    paired.get(site + "/history")
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * DAY))
    paired.find_element(By.ID, "filter-from").send_keys(day_keys(day))
    click(paired, paired.find_element(By.ID, "filter-submit"))
    assert int(paired.find_element(By.ID, "total").text.split()[0]) in (5, 6)


def day_keys(day: str) -> str:
    """What to type into a date input (Chromium's field takes month, day, year in the en-US locale)."""
    year, month, date = day.split("-")
    return month + date + year


def test_delete_asks_then_deletes_and_a_forged_token_is_refused(paired, site, data_dir):
    from selenium.webdriver.common.by import By

    paired.get(site + "/take/2")
    click(paired, paired.find_element(By.ID, "delete"))
    assert "/take/2/delete" in paired.current_url  # it asks first
    paired.execute_script("document.querySelector('input[name=csrf]').value = 'forged'")
    click(paired, paired.find_element(By.ID, "confirm-delete"))
    assert "Refused" in paired.page_source
    history = History(data_dir / "history.sqlite")
    assert any(row["id"] == 2 for row in history.last(TAKES))
    assert (data_dir / "recordings" / "take-2.flac").exists()
    paired.get(site + "/take/2/delete")
    click(paired, paired.find_element(By.ID, "confirm-delete"))
    assert paired.find_element(By.ID, "message").text == "The take was deleted."
    assert not any(row["id"] == 2 for row in history.last(TAKES))
    history.close()
    assert not (data_dir / "recordings" / "take-2.flac").exists()  # its recording went with it
    paired.get(site + "/take/2")
    assert "No such take" in paired.page_source


def test_the_pairing_rate_limit_holds(tmp_path, data_dir):
    from selenium.webdriver.common.by import By

    (tmp_path / "history.sqlite").write_bytes((data_dir / "history.sqlite").read_bytes())
    server, url = serve(tmp_path)
    driver = chromium(390, 844)  # a phone
    try:
        driver.get(url + "/pair")
        click(driver, driver.find_element(By.ID, "pair-start"))
        code = shown_code(tmp_path)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        for _ in range(MAX_FAILURES):
            driver.get(url + "/pair")
            driver.find_element(By.ID, "pair-code").send_keys(wrong)
            click(driver, driver.find_element(By.ID, "pair-submit"))
        assert "Too many wrong codes" in driver.page_source and not driver.find_elements(By.ID, "pair-code")
        driver.get(url + "/pair")  # the right code is refused too while locked
        assert not driver.find_elements(By.ID, "pair-code")
        driver.get(url + "/")
        assert driver.current_url.endswith("/pair")
    finally:
        driver.quit()
        server.close()


def test_the_chart_library_is_the_vendored_release():
    import pianocoach.web

    path = Path(pianocoach.web.__file__).parent / "static" / "vendor" / "chart.umd.min.js"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CHART_JS_SHA256


def test_scales_sit_between_their_end_words_in_the_page_s_language():
    from pianocoach.rating_scales import HIGH, LOW, SCALES
    from pianocoach.web.app import scale_rows

    timing, pedal = SCALES[0], next(s for s in SCALES if s.name.startswith("Pedal"))
    item = {"scales": {timing.name: LOW, pedal.name: None, SCALES[1].name: HIGH, SCALES[2].name: (LOW + HIGH) / 2}}
    low, unknown, high, middle = scale_rows(item, "en")
    assert (low["position"], unknown["position"], high["position"], middle["position"]) == (0.0, None, 100.0, 50.0)
    assert (low["left"], low["right"]) == timing.ends("en")
    assert scale_rows(item, "zh")[0]["left"] == timing.ends("zh")[0] != timing.ends("en")[0]


def test_the_notes_as_played_are_stored_for_the_piano_roll(data_dir):
    """The history keeps the take's notes as played ([onset ms, length ms, pitch, velocity]), read for one take only."""
    from pianocoach.appliance.history import History

    view = HistoryView(data_dir / "history.sqlite")
    notes = view.take(TAKES)["notes"]
    assert all(len(row) == 4 and 21 <= row[2] <= 108 and 0 < row[3] <= 127 and row[1] > 0 for row in notes)
    assert [row[0] for row in notes] == sorted(row[0] for row in notes)
    assert "notes" not in view.page(Filters(), 1)[0]  # lists never carry them
    history = History(data_dir / "history.sqlite")
    assert "notes" not in history.latest()
    history.close()


def test_the_mark_s_two_layers_are_shown(paired, site, data_dir):
    from selenium.webdriver.common.by import By

    take = HistoryView(data_dir / "history.sqlite").take(TAKES)
    factor, expression = take["fundamentals"]["factor"], take["fundamentals"]["expression_mark"]
    paired.get(site + f"/take/{TAKES}")
    assert f"expression {round(expression)}/100, times {round(factor, 2)}" in paired.find_element(By.ID, "layers").text


def test_the_device_page_lists_the_installed_bundles_with_their_dates(tmp_path):
    """A bundle installed through the real store shows on the Device page with the day it was installed."""
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach.bundle.store import BundleStore
    from pianocoach.web.app import device_info

    result = BundleStore(tmp_path / "bundles").install(DEFAULT_BUNDLE, health_check=False)
    settings = WebSettings(tmp_path, tmp_path / "history.sqlite", bundle_path=tmp_path / "bundles" / "current")
    info = device_info(settings, HistoryView(settings.history_path))
    assert info["installs"]["current"] in info["installs"]["installed"]
    installed_on = info["installs"]["dates"][info["installs"]["current"]]
    assert installed_on.startswith(time.strftime("%Y-%m-%d", time.gmtime()))  # installed just now (UTC)
    assert info["bundle"]["id"] == result.bundle_id and info["history"]["takes"] == 0
