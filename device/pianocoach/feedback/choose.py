"""Picking the feedback writer the configuration asks for (``[feedback]`` in config.toml).

A local model is only ever the ``feedback_llm`` GGUF of a verified bundle: the path and the sha256 come
from the verified manifest, and :class:`LocalBackend` hashes the file again before llama.cpp loads it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pianocoach.feedback.backends import FeedbackUnavailable, LocalBackend, RemoteBackend
from pianocoach.feedback.writer import FeedbackWriter

if TYPE_CHECKING:
    from pianocoach.scoring.bundle_scorer import BundleScorer

log = logging.getLogger(__name__)

FEEDBACK_ROLE = "feedback_llm"  # the bundle's GGUF model entry


def bundled_feedback_model(scorer: BundleScorer | None, threads: int = 2, context: int = 1024) -> LocalBackend | None:
    """The verified bundle's GGUF as a local backend (not loaded yet), or None when it has none."""
    if scorer is None:
        return None
    entry = scorer.manifest.model(FEEDBACK_ROLE)
    if entry is None:
        return None
    listed = scorer.manifest.files[entry.file]
    return LocalBackend(scorer.folder / entry.file, threads, context, expected_sha256=listed.sha256,
                        expected_size=listed.size)


def open_writer(settings, scorer: BundleScorer | None = None, preload: bool = False) -> FeedbackWriter:
    """``settings``: the ``[feedback]`` section (:class:`pianocoach.appliance.config.FeedbackConfig`);
    ``scorer``: the loaded (so verified) bundle. A local model the bundle does not carry, or one that
    cannot be loaded, is reported now and the templates are used."""
    common = dict(max_tokens=settings.max_tokens, temperature=settings.temperature, time_limit_s=settings.time_limit_s)
    if settings.backend == "remote":
        try:
            backend = RemoteBackend(settings.url, settings.remote_model, settings.api_key_env, settings.api_key_file,
                                    timeout_s=settings.time_limit_s)
        except FeedbackUnavailable as exc:
            log.error("feedback: %s; the templates will be used", exc)
            return FeedbackWriter(None, **common)
        log.info("feedback: %r", backend)
        return FeedbackWriter(backend, **common)
    if settings.backend == "local":
        backend = bundled_feedback_model(scorer, settings.threads, settings.context)
        if backend is None:
            where = f"the bundle {scorer.bundle_id}" if scorer is not None else "no verified bundle loaded"
            log.error("feedback.backend = local but no GGUF model (%s has no %s model); the templates will be used",
                      where, FEEDBACK_ROLE)
            return FeedbackWriter(None, **common)
        if preload:
            try:
                backend.load()
            except FeedbackUnavailable as exc:
                log.error("feedback: %s; the templates will be used", exc)
                return FeedbackWriter(None, **common)
        log.info("feedback: llama.cpp on %s (%d threads)", backend.model_path, settings.threads)
        return FeedbackWriter(backend, **common)
    return FeedbackWriter(None, **common)
