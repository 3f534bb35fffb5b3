"""Debian's Chromium, headless, through Selenium: the browser the page's tests, benchmark and screenshots use (a
host tool: neither is installed on the device). The driver's path is given, so Selenium Manager never looks for,
or downloads, a browser or a driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def installed() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


def headless_chromium(width: int = 1280, height: int = 900, console_log: bool = False) -> Any:
    """A headless Chromium window of ``width`` x ``height``; ``console_log``: keep the page's console messages
    (``driver.get_log("browser")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not installed():
        raise RuntimeError("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
