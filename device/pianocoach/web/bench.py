"""``make bench-web``: the companion page on a history of 10,000 takes.

1. A practice take of the Minuet is scored as the device scores it (``pianocoach score``'s pipeline) and stored
   with the daemon's ``History``; the history is then filled to ``--takes`` rows by copying those rows in SQL
   (other days, other marks, a third free play).
2. ``pianocoach web`` runs as its own process on 127.0.0.1 and this bench pairs with it as a browser would.
3. Per page: the server's time to answer (20 requests, median and 95th percentile), and where Selenium and
   Debian's Chromium are installed (the host), the browser's page load (navigation start to the load event, 5 loads).
4. The web process's resident memory (now and peak) after all that.
5. The daemon's per-block scoring time on the same take (``python -m pianocoach.bench --case``, one thread),
   alone and while a browsing loop requests a page every 0.1 s (the audio path, rendered with FluidSynth).

Writes ``reports/web/bench.json``. Goals (issue 22): a page in at most 300 ms, the web process at most 80 MB.

    python -m pianocoach.web.bench [--takes 10000] [--out reports/web/bench.json]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

GOALS = {"page_ms": 300.0, "rss_mb": 80.0}
MAX_WRITTEN_ONE_BY_ONE = 500  # smaller histories are written take by take; larger ones copied in SQL
PAGES = (
    "/",
    "/history",
    "/history?page=200",
    "/history?piece=minuet-in-g",
    "/take/{last}",
    "/piece/minuet-in-g",
    "/device",
    "/export.json?from={month}",
)


def fill_history(folder: Path, takes: int, spacing_s: float = 3600.0, language: str = "en") -> int:
    """A scored take stored by the daemon's History (and as free play), copied to ``takes`` rows ``spacing_s`` apart
    (marks, notes right and tempo rising), the scored take itself the newest, its advice in ``language`` (the
    device's, as the daemon writes it); returns its id."""

    from pianocoach.appliance.history import History
    from pianocoach.inputs import open_file
    from pianocoach.repertoire.practice_take import write_practice_take
    from pianocoach.repertoire.store import Repertoire, load_index
    from pianocoach.scoring import BundleScorer, ScoringSession, SessionSettings, write_feedback

    # a wrong note in bar 5 and a stop before bar 9: the take's page has errors to mark along the score
    midi = write_practice_take(folder / "minuet.mid", "minuet-in-g", seconds=30, wrong_bar="5", stop_before="9")
    source = open_file(midi)
    repertoire = load_index(Repertoire(folder / "repertoire"))
    session = ScoringSession(
        BundleScorer(inputs=(source.kind,)),
        source.kind,
        source.name,
        SessionSettings(language=language),
        repertoire=repertoire,
    )
    for block in source.blocks():
        session.add(block)
    result = session.finish()
    write_feedback(result)  # the template advice, as the daemon's writer without a language model
    history = History(folder / "history.sqlite")
    start = time.time() - takes * spacing_s
    if takes <= MAX_WRITTEN_ONE_BY_ONE:  # every take through History.add, with its own mark and advice
        for i in range(takes):
            last = history.add(progressed(result, i, takes), started_at=start + i * spacing_s)
        history.close()
        return last
    history.add(result, started_at=start)
    history.add(free_play(result), started_at=start + spacing_s)
    db = sqlite3.connect(folder / "history.sqlite")
    with db:  # the rest as copies of those two rows
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO performances (started_at, duration_s, source, input, overall, scales, measures, feedback, "
            "language, bundle_id, warnings, piece, fundamentals, bars) "
            "SELECT strftime('%Y-%m-%dT%H:%M:%S+00:00', ? + i * ?, 'unixepoch'), p.duration_s, p.source, p.input, "
            # a learner getting better: the mark, the notes right and the tempo rise, with day-to-day noise
            "round(35 + 45.0 * i / ? + (i * 37 % 11) - 5, 1), p.scales, p.measures, p.feedback, p.language, "
            "p.bundle_id, p.warnings, p.piece, "
            "json_set(json_set(p.fundamentals, '$.notes.accuracy_pct', "
            "round(min(100, 70 + 28.0 * i / ? + (i * 53 % 7) - 3), 1)), "
            "'$.tempo.played_qpm', round(80 + 32.0 * i / ? + (i * 29 % 9) - 4, 1)), "
            "p.bars FROM n JOIN performances p ON p.id = 1 + (i % 3 = 0)",
            (takes - 2, start, spacing_s, takes, takes, takes),
        )
    db.close()
    last = history.add(result, started_at=start + (takes - 1) * spacing_s)
    history.close()
    return last


def progressed(result, i: int, takes: int):
    """Take ``i`` of a learner getting better: a third free play, the rest the piece with the mark, the notes right
    and the tempo rising (day-to-day noise), the advice written for that take as the daemon writes it."""
    import copy
    import dataclasses

    from pianocoach.scoring import write_feedback

    if i == takes - 1:
        return result  # the newest: the take as scored
    share = i / max(takes - 1, 1)
    mark = round(35 + 45 * share + (i * 37 % 11) - 5, 1)
    if i % 3 == 1:
        made = dataclasses.replace(free_play(result), overall=mark, expression_mark=mark)
    else:
        fundamentals = copy.deepcopy(result.fundamentals)
        if fundamentals and fundamentals.get("notes"):
            fundamentals["notes"]["accuracy_pct"] = round(min(100.0, 70 + 28 * share + (i * 53 % 7) - 3), 1)
        if fundamentals and fundamentals.get("tempo"):
            fundamentals["tempo"]["played_qpm"] = round(80 + 32 * share + (i * 29 % 9) - 4, 1)
        factor = float((fundamentals or {}).get("factor") or 1.0)  # the mark's two layers agree with the mark
        made = dataclasses.replace(
            result, overall=mark, fundamentals=fundamentals, expression_mark=round(min(100.0, mark / factor), 1)
        )
    write_feedback(made)
    return made


def free_play(result):
    """The take as stored without a repertoire: no piece, no fundamentals, no bars, no score to draw."""
    import dataclasses

    return dataclasses.replace(result, piece=None, fundamentals=None, bars=None, score_notes=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, port: int, extra: list[str] | None = None) -> subprocess.Popen:
    """``python -m pianocoach.web`` on 127.0.0.1:``port``, as the service runs it (its unit's malloc setting too)."""
    command = [sys.executable, "-m", "pianocoach.web", "--data-dir", str(folder), "--host", "127.0.0.1"]
    command += ["--port", str(port), *(extra or [])]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # firmware_config/pianocoach-web.service
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"pianocoach web did not start: {server.communicate()[0][-2000:]}")


def paired_opener(base: str, folder: Path) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    from pianocoach.appliance.pairing_file import confirm
    from pianocoach.web.access import PAIRING_FILE

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/pair/start", data=b"").read()
    code = json.loads((folder / PAIRING_FILE).read_text())["code"]
    confirm(folder, code)  # as a press on the device's button does
    opener.open(base + "/pair", data=urllib.parse.urlencode({"code": code}).encode()).read()
    return opener, jar


def server_times(opener, base: str, pages: list[str], n: int = 20) -> dict:
    found = {}
    for page in pages:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            with opener.open(base + page) as response:
                response.read()
                assert response.status == 200 and not response.url.endswith("/pair"), page
            times.append(1000 * (time.perf_counter() - started))
        found[page] = {
            "median_ms": round(float(np.median(times)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
        }
    return found


def browser_times(base: str, jar: http.cookiejar.CookieJar, pages: list[str], n: int = 5) -> dict | None:
    """Navigation start to the load event in Debian's Chromium (None where Selenium or Chromium is missing)."""
    from pianocoach.web.browser import headless_chromium, installed

    try:
        import selenium  # noqa: F401 - a host tool: the device has neither it nor Chromium
    except ImportError:
        return None
    if not installed():
        return None
    driver = headless_chromium()
    try:
        driver.get(base + "/pair")
        for cookie in jar:
            driver.add_cookie({"name": cookie.name, "value": cookie.value, "path": "/"})
        found = {}
        for page in pages:
            times = []
            for _ in range(n):
                driver.get(base + page)
                times.append(
                    driver.execute_script(
                        "const e = performance.getEntriesByType('navigation')[0]; return e.loadEventEnd - e.startTime;"
                    )
                )
            found[page] = {"median_ms": round(float(np.median(times)), 1), "max_ms": round(float(np.max(times)), 1)}
        return found
    finally:
        driver.quit()


def rss_mb(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def block_timing(take: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pianocoach.bench", "--case", str(take)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    row = json.loads(run.stdout.strip().splitlines()[-1])
    return {k: row[k] for k in ("input", "blocks", "block_ms_median", "block_ms_max", "real_time_factor")}


def audio_take(midi: Path) -> Path:
    """The take rendered with FluidSynth (the heavier audio path), where FluidSynth is installed; else the MIDI."""
    from pianocoach.render import render_midi

    try:
        return render_midi(midi, midi.with_suffix(".wav"))
    except Exception as exc:  # noqa: BLE001 - no FluidSynth on this machine: the MIDI path is timed instead
        print(f"(no audio rendering here: {exc}; timing the MIDI path)", flush=True)
        return midi


def browsing(opener, base: str, pages: list[str], stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        for page in pages:
            if stop.is_set():
                return
            with opener.open(base + page) as response:
                response.read()
            counter[0] += 1
            stop.wait(0.1)


def main(argv: list[str] | None = None) -> int:
    from pianocoach.jsonio import write_json_atomic

    parser = argparse.ArgumentParser(prog="python -m pianocoach.web.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("reports/web/bench.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pianocoach-web-bench-") as tmp:
        folder = Path(tmp)
        print(f"filling a history of {args.takes} takes", flush=True)
        last = fill_history(folder, args.takes)
        month = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
        pages = [p.format(last=last, month=month) for p in PAGES]
        port = free_port()
        server = start_server(folder, port)
        base = f"http://127.0.0.1:{port}"
        try:
            opener, jar = paired_opener(base, folder)
            print("timing the pages (server)", flush=True)
            served = server_times(opener, base, pages)
            print("timing the pages (Chromium)", flush=True)
            loaded = browser_times(base, jar, pages)
            memory = rss_mb(server.pid)
            take = audio_take(folder / "minuet.mid")
            print("the daemon's block timing, alone and while the page is browsed", flush=True)
            alone = block_timing(take)
            stop, counter = threading.Event(), [0]
            thread = threading.Thread(target=browsing, args=(opener, base, pages, stop, counter), daemon=True)
            thread.start()
            browsed = block_timing(take)
            stop.set()
            thread.join(timeout=10)
            memory_after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    slowest = max(v["median_ms"] for v in (loaded or served).values())
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "takes": args.takes,
        "goals": GOALS,
        "server_ms": served,
        "browser_load_ms": loaded,
        "web_memory": {"after_pages": memory, "after_browsing": memory_after},
        "block_timing": {"alone": alone, "while_browsed": browsed, "requests_during": counter[0]},
        "verdict": {
            "page_ms": slowest,
            "page_ok": slowest <= GOALS["page_ms"],
            "rss_ok": memory_after["peak_rss_mb"] <= GOALS["rss_mb"],
        },
    }
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
