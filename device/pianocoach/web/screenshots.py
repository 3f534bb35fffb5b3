"""``make web-screenshots``: every page of the companion page at phone and laptop width, in Debian's Chromium
(headless, Selenium; a host tool: neither is on the device), over a history of a scored practice take of the
Minuet stored as the daemon stores it and copied to two months of daily takes (``bench.fill_history``).

    python -m pianocoach.web.screenshots [--out reports/web] [--language en|zh]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pianocoach.web.bench import fill_history, free_port, paired_opener, start_server
from pianocoach.web.browser import headless_chromium

WIDTHS = {"phone": (390, 844), "laptop": (1280, 900)}
PAGES = {
    "today": "/",
    "history": "/history",
    "take": "/take/{last}",
    "piece": "/piece/minuet-in-g",
    "device": "/device",
}


def full_page(driver, path: Path, width: int) -> None:
    """The whole page, not only the window: the window is made as tall as the page first."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height + 20, 400), 4000))
    driver.save_screenshot(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pianocoach.web.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/web"))
    parser.add_argument("--language", choices=("en", "zh"), default="en")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pianocoach-web-shots-") as tmp:
        folder = Path(tmp)
        last = fill_history(folder, 60, spacing_s=86400.0, language=args.language)
        port = free_port()
        server = start_server(folder, port, ["--set", f"device.language={args.language!r}".replace("'", '"')])
        base = f"http://127.0.0.1:{port}"
        try:
            _, jar = paired_opener(base, folder)
            for kind, (width, height) in WIDTHS.items():
                driver = headless_chromium(width, height)
                try:
                    driver.get(base + "/pair")
                    for cookie in jar:
                        driver.add_cookie({"name": cookie.name, "value": cookie.value, "path": "/"})
                    for name, page in PAGES.items():
                        driver.set_window_size(width, height)
                        driver.get(base + page.format(last=last))
                        suffix = "" if args.language == "en" else f"-{args.language}"
                        target = args.out / f"{name}-{kind}{suffix}.png"
                        full_page(driver, target, width)
                        print(target)
                finally:
                    driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
