"""Picking the feedback writer the configuration asks for (``[feedback]`` in config.toml)."""

from __future__ import annotations

import logging
from pathlib import Path

from pianocoach.bundle.manifest import Manifest
from pianocoach.errors import BundleError
from pianocoach.feedback.backends import FeedbackUnavailable, LocalBackend, RemoteBackend
from pianocoach.feedback.writer import FeedbackWriter

log = logging.getLogger(__name__)

FEEDBACK_ROLE = "feedback_llm"  # the bundle's GGUF model entry


def bundled_feedback_model(bundle_dir: str | Path | None) -> Path | None:
    """The GGUF a bundle carries for feedback, or None."""
    if bundle_dir is None:
        return None
    try:
        entry = Manifest.read(bundle_dir).model(FEEDBACK_ROLE)
    except BundleError:
        return None
    return Path(bundle_dir) / entry.file if entry is not None else None


def open_writer(settings, bundle_dir: str | Path | None = None, preload: bool = False) -> FeedbackWriter:
    """``settings``: the ``[feedback]`` section (:class:`pianocoach.appliance.config.FeedbackConfig`).
    A local model that is not there is reported now and the templates are used."""
    common = dict(max_tokens=settings.max_tokens, temperature=settings.temperature, time_limit_s=settings.time_limit_s)
    if settings.backend == "remote":
        backend = RemoteBackend(settings.url, settings.remote_model, settings.api_key_env, settings.api_key_file,
                                timeout_s=settings.time_limit_s)
        log.info("feedback: %r", backend)
        return FeedbackWriter(backend, **common)
    if settings.backend == "local":
        model = Path(settings.model).expanduser() if settings.model else bundled_feedback_model(bundle_dir)
        if model is None or not model.is_file():
            where = model or f"the bundle {bundle_dir or '(built-in)'} (it has no {FEEDBACK_ROLE} model)"
            log.error("feedback.backend = local but no GGUF model at %s; the templates will be used", where)
            return FeedbackWriter(None, **common)
        backend = LocalBackend(model, settings.threads, settings.context)
        if preload:
            try:
                backend.load()
            except FeedbackUnavailable as exc:
                log.error("feedback: %s; the templates will be used", exc)
                return FeedbackWriter(None, **common)
        log.info("feedback: llama.cpp on %s (%d threads)", model, settings.threads)
        return FeedbackWriter(backend, **common)
    return FeedbackWriter(None, **common)
