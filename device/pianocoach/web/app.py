"""The companion page: Flask routes over the read-only history (``history_view``), behind pairing (``access``).

Pages: ``/`` today, ``/history`` (filters and paging), ``/take/<id>`` (scales, measurements, advice, bar by bar),
``/take/<id>/report`` (printable), ``/piece/<id>`` (charts over time), ``/device``; ``/export.csv`` and
``/export.json`` (``from``/``to``, or ``take``); ``/pair``. Charts are drawn by Chart.js, served from the device
(``static/vendor``), from JSON the page carries; no inline script (the Content-Security-Policy forbids it).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from flask import Flask, Response, abort, redirect, render_template, request, send_file, session, url_for
from flask.typing import ResponseReturnValue

from pianocoach import __version__
from pianocoach.appliance.history import HistoryError
from pianocoach.appliance.recordings import delete_recording, recording_of
from pianocoach.rating_scales import HIGH, LOW, SCALES
from pianocoach.web.access import Pairing, from_room, new_csrf_token, same_token, session_secret
from pianocoach.web.history_view import PAGE_SIZE, Filters, HistoryView, parse_date
from pianocoach.web.words import translate

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024  # every form the page sends is tiny
EXPORT_COLUMNS = (
    "id",
    "started_at",
    "duration_s",
    "source",
    "input",
    "piece",
    "overall",
    "accuracy_pct",
    "tempo_qpm",
    "feedback",
    "bundle_id",
)


@dataclass(frozen=True)
class WebSettings:
    data_dir: Path
    history_path: Path
    language: str = "en"
    session_days: int = 30
    bundle_path: Path | None = None  # the active bundle folder (None: the built-in one)
    codes_to_console: bool = False  # print each pairing code (a device without display: the demo)
    recordings_dir: Path | None = None  # history.keep_recordings' folder (None: <data_dir>/recordings)


def create_app(settings: WebSettings) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret(settings.data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="pianocoach_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.session_days),
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES,
    )
    view = HistoryView(settings.history_path)
    recordings_dir = settings.recordings_dir or settings.data_dir / "recordings"
    announce = (lambda code: print(f"pairing code: {code}", flush=True)) if settings.codes_to_console else None
    pairing = Pairing(settings.data_dir, announce=announce)
    app.extensions["pianocoach"] = {"settings": settings, "view": view, "pairing": pairing}

    def t(key: str, **values: object) -> str:
        return translate(key, settings.language, **values)

    @app.context_processor
    def words() -> dict[str, Any]:
        return {"t": t, "language": settings.language, "csrf": session.get("csrf", "")}

    @app.before_request
    def guard() -> ResponseReturnValue | None:
        if not from_room(request.remote_addr):
            abort(403)
        if request.endpoint in ("static", "pair", "pair_start", "pair_submit"):
            return None
        if not paired():
            return redirect(url_for("pair"))
        if request.method == "POST" and not same_token(request.form.get("csrf"), session.get("csrf")):
            log.warning("a change without a valid CSRF token was refused")
            abort(403)
        return None

    def paired() -> bool:
        since = session.get("paired_at")
        return isinstance(since, (int, float)) and time.time() - since < settings.session_days * 86400

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HistoryError)
    def no_history(exc: HistoryError) -> tuple[str, int]:
        log.warning("%s", exc)
        return render_template("message.html", title=t("history"), message=t("no_history")), 503

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    def refused(exc: Any) -> tuple[str, int]:
        key = {400: "bad_request", 403: "forbidden", 404: "not_found"}.get(exc.code, "bad_request")
        return render_template("message.html", title=t(key), message=t(key)), exc.code

    # -- pairing -----------------------------------------------------------------------------------------
    @app.get("/pair")
    def pair() -> ResponseReturnValue:
        if paired():
            return redirect(url_for("today"))
        return render_template("pair.html", locked=pairing.locked_for(), shown=pairing.current() is not None)

    @app.post("/pair/start")
    def pair_start() -> ResponseReturnValue:
        if pairing.locked_for() == 0:
            pairing.new_code()
        return redirect(url_for("pair"))

    @app.post("/pair")
    def pair_submit() -> ResponseReturnValue:
        outcome = pairing.attempt(request.form.get("code", ""))
        if outcome != "paired":
            locked = pairing.locked_for()
            message = (
                t("pair_locked", minutes=max(1, round(locked / 60)))
                if locked > 0
                else t("pair_press")
                if outcome == "unconfirmed"
                else t("pair_wrong")
            )
            return render_template("pair.html", locked=locked, shown=outcome == "unconfirmed", error=message), 403
        session.clear()
        session.permanent = True
        session["paired_at"] = time.time()
        session["csrf"] = new_csrf_token()
        return redirect(url_for("today"))

    # -- pages -------------------------------------------------------------------------------------------
    @app.get("/")
    def today() -> str:
        if not settings.history_path.is_file():  # the appliance has not stored a take yet
            return render_template("today.html", take=None, week={"takes": 0, "seconds": 0.0})
        latest = view.latest()
        week = view.practice_since(datetime.now(timezone.utc) - timedelta(days=7))
        return render_template("today.html", take=latest, week=week, layers=mark_layers(latest) if latest else None)

    @app.get("/history")
    def history() -> str:
        filters = filters_from(request.args)
        number = int_arg("page", 1)
        total = view.count(filters)
        pages = max(1, -(-total // PAGE_SIZE))
        rows = view.page(filters, min(number, pages))
        query = {k: v for k, v in (("piece", filters.piece), ("from", filters.date_from), ("to", filters.date_to)) if v}
        return render_template(
            "history.html",
            rows=rows,
            total=total,
            page=min(number, pages),
            pages=pages,
            filters=filters,
            pieces=view.pieces(),
            query=query,
        )

    @app.get("/take/<int:take_id>")
    def take(take_id: int) -> str:
        item = view.take(take_id) or abort(404)
        recording = recording_of(recordings_dir, take_id)
        return render_template(
            "take.html",
            take=item,
            scales=scale_rows(item, settings.language),
            chart=bars_chart(item, t),
            roll=roll_chart(item, t),
            layers=mark_layers(item),
            recording=recording.suffix if recording else None,
        )

    @app.get("/take/<int:take_id>/recording")
    def recording(take_id: int) -> Response:
        path = recording_of(recordings_dir, take_id) or abort(404)
        if path.suffix == ".flac":  # conditional: byte ranges, so the player can seek
            return send_file(path, mimetype="audio/flac", conditional=True, max_age=0)
        return send_file(path, mimetype="audio/midi", as_attachment=True, download_name=f"take-{take_id}.mid")

    @app.get("/take/<int:take_id>/report")
    def report(take_id: int) -> str:
        item = view.take(take_id) or abort(404)
        return render_template("report.html", take=item, scales=scale_rows(item, settings.language))

    @app.get("/take/<int:take_id>/delete")
    def delete_ask(take_id: int) -> str:
        item = view.take(take_id) or abort(404)
        return render_template("delete.html", take=item)

    @app.post("/take/<int:take_id>/delete")
    def delete(take_id: int) -> str:
        if not view.delete(take_id):
            abort(404)
        delete_recording(recordings_dir, take_id)  # after the row: a take is never left without its file by this
        log.info("take %d deleted from the page", take_id)
        return render_template("message.html", title=t("deleted"), message=t("deleted"))

    @app.get("/piece/<piece_id>")
    def piece(piece_id: str) -> str:
        piece_id = piece_id[:200]
        newest = view.page(Filters(piece=piece_id), 1, size=1)
        if not newest:
            abort(404)
        scale_names = list(newest[0]["scales"])
        chosen = request.args.get("scale", "")
        chosen = chosen if chosen in scale_names else scale_names[0] if scale_names else ""
        takes = view.series(piece_id, chosen)
        return render_template(
            "piece.html",
            takes=takes,
            total=view.count(Filters(piece=piece_id)),
            title=newest[0]["title"],
            piece_id=piece_id,
            scale_names=[(name, scale_label(name, settings.language)) for name in scale_names],
            chosen=chosen,
            chart=piece_chart(takes, chosen, scale_label(chosen, settings.language), t),
        )

    @app.get("/device")
    def device() -> str:
        return render_template("device.html", info=device_info(settings, view))

    @app.get("/export.json")
    def export_json() -> Response:
        rows = export_rows(view)  # the request's parameters are read here, before the response streams

        def body() -> Iterator[str]:  # streamed: a long history is never held whole
            yield "["
            for i, item in enumerate(rows):
                yield ("," if i else "") + "\n" + json.dumps(export_row(item), ensure_ascii=False)
            yield "\n]\n"

        return Response(body(), mimetype="application/json", headers=download("pianocoach-takes.json"))

    @app.get("/export.csv")
    def export_csv() -> Response:
        rows = export_rows(view)

        def body() -> Iterator[str]:
            out = io.StringIO()
            writer = csv.DictWriter(out, EXPORT_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for item in rows:
                writer.writerow(export_row(item))
                yield out.getvalue()
                out.seek(0)
                out.truncate()
            yield out.getvalue()

        return Response(body(), mimetype="text/csv", headers=download("pianocoach-takes.csv"))

    return app


def download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def int_arg(name: str, default: int) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        abort(400)


def filters_from(args: Any) -> Filters:
    try:
        piece = args.get("piece")
        return Filters(
            piece=None if piece in (None, "*") else piece[:200],
            date_from=parse_date(args.get("from")),
            date_to=parse_date(args.get("to")),
        )
    except ValueError:
        abort(400)


def export_rows(view: HistoryView) -> Iterator[dict]:
    """The takes an export holds: one (``take``) or a date range (``from``/``to``), checked before streaming."""
    if request.args.get("take"):
        item = view.take(int_arg("take", 1))
        return iter([item] if item else [])
    return view.export(filters_from(request.args))


def export_row(item: dict) -> dict:
    return {
        "id": item["id"],
        "started_at": item["started_at"],
        "duration_s": item["duration_s"],
        "source": item["source"],
        "input": item["input"],
        "piece": item["title"],
        "overall": item["overall"],
        "accuracy_pct": item["accuracy_pct"],
        "tempo_qpm": item["tempo_qpm"],
        "feedback": item["feedback"],
        "bundle_id": item["bundle_id"],
        "scales": item["scales"],
        "measures": item["measures"],
        "fundamentals": item["fundamentals"],
    }


def mark_layers(item: dict) -> dict | None:
    """The mark's two layers for a take followed along its score: the expression mark (the 19 scales) and the
    fundamentals' factor (notes, stops, tempo) that scales it; None in free play or for a take stored before the
    history kept the expression mark."""
    fundamentals = item.get("fundamentals") or {}
    factor, expression = fundamentals.get("factor"), fundamentals.get("expression_mark")
    if factor is None or expression is None:
        return None
    return {"factor": round(float(factor), 2), "expression": round(float(expression))}


SCALES_BY_NAME = {scale.name: scale for scale in SCALES}


def between_ends(value: float) -> float:
    """A value on the label scale (1/7 the low end, 1 the high end: rating_scales) as 0-100 between the ends."""
    return 100 * (float(value) - LOW) / (HIGH - LOW)


def scale_rows(item: dict, language: str = "en") -> list[dict]:
    """The 19 scales as (topic, low end's word, high end's word, position 0-100 between them or None: a scale the
    input could not show)."""
    rows = []
    for name, value in (item.get("scales") or {}).items():
        scale = SCALES_BY_NAME.get(name)
        if scale is not None:
            group, (left, right) = scale.topic(language), scale.ends(language)
        else:  # a name this software does not know: its own words
            group, _, ends = name.partition(": ")
            left, _, right = ends.partition(" / ")
        position = None if value is None else round(min(max(between_ends(value), 0.0), 100.0), 1)
        rows.append({"group": group, "left": left, "right": right, "position": position})
    return rows


def roll_chart(item: dict, t: Any) -> dict | None:
    """A piano roll of the notes as played (a line per note: time across, pitch up); when the piece was known, the
    score's notes as due drawn wide and faint beneath them, a mark where each bar was entered, the errors found along
    the score (wrong, extra, missed notes) and the stops. None for a take stored without its notes."""
    notes = item.get("notes") or []
    if not notes:
        return None
    written = item.get("score_notes") or []
    datasets: list[dict] = [line_layer(t("played"), note_spans(notes), "#546e7a", 4, order=2)]
    if written:
        datasets.append(line_layer(t("score_notes"), note_spans(written), "rgba(67, 160, 71, 0.35)", 10, order=3))
    lowest = min(note[2] for note in [*notes, *written])
    highest = max(note[2] for note in [*notes, *written])
    bar_rows = [bar for bar in item.get("bars") or [] if isinstance(bar, dict) and "start_s" in bar]
    if bar_rows:  # a bar line where each bar as played was entered (its first chord heard)
        entered = [((bar["start_s"], lowest - 3), (bar["start_s"], highest + 1)) for bar in bar_rows]
        datasets.append(line_layer(t("bar_starts"), entered, "#b0bec5", 1, order=4, borderDash=[4, 4]))
    kinds = (("wrong", "#e53935"), ("extra", "#8e24aa"), ("missed", "#fb8c00"))
    for kind, colour in kinds:
        points = [
            {"x": error["time_s"], "y": error.get("pitch", lowest)}
            for bar in bar_rows
            for error in (bar.get("errors") or {}).get(kind, [])
            if isinstance(error, dict) and "time_s" in error
        ]
        if points:
            datasets.append(
                {
                    "label": t(kind),
                    "data": points,
                    "backgroundColor": colour,
                    "borderColor": colour,
                    "pointRadius": 5,
                    "type": "scatter",
                    "order": 1,
                }
            )
    stops = [{"x": stop["time_s"], "y": lowest - 2} for stop in (item.get("fundamentals") or {}).get("stops") or []]
    if stops:
        datasets.append(
            {
                "label": t("stops"),
                "data": stops,
                "backgroundColor": "#263238",
                "pointStyle": "triangle",
                "pointRadius": 7,
                "type": "scatter",
                "order": 1,
            }
        )
    return {
        "type": "line",
        "data": {"datasets": datasets},
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "parsing": True,
            "scales": {
                "x": {"type": "linear", "title": {"display": True, "text": "s"}},
                "y": {"type": "linear", "title": {"display": True, "text": "MIDI"}},
            },
        },
    }


Span = tuple[tuple[float, float], tuple[float, float]]  # a straight line from (x, y) to (x, y)


def note_spans(notes: list[list[int]]) -> list[Span]:
    """A horizontal line per [onset ms, length ms, pitch, ...] row, in seconds."""
    return [((onset / 1000, pitch), ((onset + length) / 1000, pitch)) for onset, length, pitch, *_ in notes]


def line_layer(label: str, spans: list[Span], colour: str, width: int, order: int, **style: Any) -> dict:
    """A Chart.js line dataset of separate straight lines: a point without y after each ends it (spanGaps off)."""
    data: list[dict] = []
    for (x0, y0), (x1, y1) in spans:
        data += [{"x": x0, "y": y0}, {"x": x1, "y": y1}, {"x": x1, "y": None}]
    return {
        "label": label,
        "data": data,
        "borderColor": colour,
        "borderWidth": width,
        "pointRadius": 0,
        "spanGaps": False,
        "type": "line",
        "order": order,
        **style,
    }


def bars_chart(item: dict, t: Any) -> dict | None:
    """A stacked bar chart per bar: notes right, wrong, missed, extra (Chart.js config)."""
    bars = item.get("bars") or []
    if not bars:
        return None
    labels = [str(b.get("bar", "")) for b in bars]
    kinds = (("correct", "#4caf50"), ("wrong", "#e53935"), ("missed", "#fb8c00"), ("extra", "#8e24aa"))

    def count(bar: dict, kind: str) -> int:
        return int(bar.get("correct", 0)) if kind == "correct" else len((bar.get("errors") or {}).get(kind, []))

    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {"label": t(kind), "data": [count(b, kind) for b in bars], "backgroundColor": colour}
                for kind, colour in kinds
            ],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "scales": {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}},
        },
    }


def scale_label(name: str, language: str) -> str:
    """ "Timing: stable / unstable" in the page's language."""
    scale = SCALES_BY_NAME.get(name)
    if scale is None:
        return name
    low, high = scale.ends(language)
    return f"{scale.topic(language)}: {low} / {high}"


def piece_chart(takes: list[dict], scale: str, label: str, t: Any) -> dict:
    """Mark, notes right and tempo over the takes, and one chosen scale (0 its low end, 100 its high end), as
    lines."""
    labels = [item["started_at"][:10] for item in takes]

    def line(label: str, values: list[Any], colour: str, axis: str = "y") -> dict:
        return {
            "label": label,
            "data": values,
            "borderColor": colour,
            "backgroundColor": colour,
            "yAxisID": axis,
            "spanGaps": True,
            "tension": 0.2,
        }

    datasets = [
        line(t("mark"), [item["overall"] for item in takes], "#1e88e5"),
        line(t("accuracy") + " %", [item["accuracy_pct"] for item in takes], "#43a047"),
        line(t("tempo"), [item["tempo_qpm"] for item in takes], "#fb8c00", "tempo"),
    ]
    if scale:
        values = [None if item["scale"] is None else round(between_ends(item["scale"]), 1) for item in takes]
        datasets.append(line(label, values, "#8e24aa"))
    return {
        "type": "line",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "scales": {
                "x": {"ticks": {"maxTicksLimit": 6, "maxRotation": 0}},
                "y": {"min": 0, "max": 100},
                "tempo": {"position": "right", "beginAtZero": False, "grid": {"drawOnChartArea": False}},
            },
        },
    }


def device_info(settings: WebSettings, view: HistoryView) -> dict:
    from pianocoach.bundle import DEFAULT_BUNDLE
    from pianocoach.bundle.manifest import Manifest
    from pianocoach.bundle.store import BundleStore, InstallError
    from pianocoach.errors import BundleError

    folder = settings.bundle_path or DEFAULT_BUNDLE
    bundle: dict[str, Any]
    try:
        manifest = Manifest.read(folder)
        bundle = {
            "id": manifest.bundle_id,
            "created": manifest.created,
            "models": [f"{m.role}: {m.architecture}, {m.precision}" for m in manifest.models],
        }
    except BundleError as exc:
        bundle = {"id": None, "error": str(exc), "models": []}
    installs: dict[str, Any]
    store_root = settings.data_dir / "bundles"
    try:
        installs = BundleStore(store_root).status()
        # when each was installed: its folder's time (the store unpacks a bundle into a new folder, never changes it)
        installs["dates"] = {
            name: datetime.fromtimestamp((store_root / name).stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M")
            for name in installs["installed"]
        }
    except (InstallError, OSError) as exc:
        installs = {"installed": [], "current": None, "dates": {}, "error": str(exc)}
    usage = shutil.disk_usage(settings.data_dir if settings.data_dir.exists() else "/")
    history_bytes = settings.history_path.stat().st_size if settings.history_path.is_file() else 0
    try:
        takes = view.count()
    except HistoryError:
        takes = 0
    return {
        "bundle": bundle,
        "builtin": settings.bundle_path is None,
        "installs": installs,
        "disk": {"total": usage.total, "free": usage.free},
        "history": {"bytes": history_bytes, "takes": takes},
        "version": __version__,
    }
