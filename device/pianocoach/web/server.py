"""``pianocoach web``: the companion page served by waitress (a pure-Python production WSGI server: no build step
on a Pi, a fixed pool of threads, bounded request sizes)."""

from __future__ import annotations

import argparse
import logging

from pianocoach.appliance.config import add_config_flags, config_from_args
from pianocoach.web.access import CODE_TTL_S, Pairing

log = logging.getLogger(__name__)

THREADS = 4  # waitress worker threads: a few browsers in one room


def settings_from_args(args: argparse.Namespace):
    from pianocoach.web.app import WebSettings

    config = config_from_args(args)
    return config, WebSettings(
        data_dir=config.data_dir,
        history_path=config.history_path(),
        language=config.device.language,
        session_days=config.web.session_days,
        bundle_path=config.bundle_path(),
        codes_to_console=getattr(args, "codes_to_console", False),
        recordings_dir=config.recordings_dir(),
    )


def web_command(args: argparse.Namespace) -> int:
    config, settings = settings_from_args(args)
    if args.print_pairing_code:
        code = Pairing(settings.data_dir).new_code(confirmed=True)  # whoever runs this is at the device
        print(f"pairing code: {code} (valid {CODE_TTL_S / 60:.0f} minutes, once)")
        return 0
    from waitress import serve  # type: ignore[import-untyped]

    from pianocoach.web.app import create_app

    host = args.host or config.web.host
    port = args.port or config.web.port
    app = create_app(settings)
    log.info("companion page on http://%s:%d/ (history %s)", host, port, settings.history_path)
    print(f"pianocoach web: serving http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    serve(
        app,
        host=host,
        port=port,
        threads=THREADS,
        ident="pianocoach",
        max_request_body_size=64 * 1024,
        clear_untrusted_proxy_headers=True,
    )
    return 0


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser)
    parser.add_argument("--host", help="listen address (default web.host)")
    parser.add_argument("--port", type=int, help="port (default web.port)")
    parser.add_argument("--language", choices=("en", "zh"), help="override device.language")
    parser.add_argument(
        "--print-pairing-code", action="store_true", help="make a pairing code and print it (a device without display)"
    )
    parser.add_argument(
        "--codes-to-console", action="store_true", help="print each pairing code asked for here (no display: the demo)"
    )
    parser.set_defaults(run=web_command)


def add_web_command(commands) -> None:
    web = commands.add_parser("web", help="the companion page for the player and the teacher, on the local network")
    add_web_arguments(web)


def main(argv: list[str] | None = None) -> int:
    """``python -m pianocoach.web`` (the service's command): the page's own entry, which loads neither numpy nor the
    scorer (``pianocoach web`` is the same page, started through the full command line)."""
    from pianocoach.console import add_verbose_flag, run_command

    parser = argparse.ArgumentParser(prog="python -m pianocoach.web", description="the PianoCoach companion page")
    add_verbose_flag(parser)
    add_web_arguments(parser)
    return run_command(parser.parse_args(argv), "pianocoach-web")
