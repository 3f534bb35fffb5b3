"""Picking the feedback writer the configuration asks for (``[feedback]`` in config.toml).

A local model is only ever the ``feedback_llm`` GGUF of a verified bundle: the path and the sha256 come
from the verified manifest, and :class:`LocalBackend` hashes the file again before llama.cpp loads it.
"""

from __future__ import annotations

import logging

from pianocoach.bundle import Verification
from pianocoach.feedback.backends import FeedbackUnavailable, LocalBackend, RemoteBackend
from pianocoach.feedback.writer import FeedbackWriter

log = logging.getLogger(__name__)

FEEDBACK_ROLE = "feedback_llm"  # the bundle's GGUF model entry


def bundled_feedback_model(bundle: Verification | None, threads: int = 2, context: int = 1024) -> LocalBackend | None:
    """The verified bundle folder's GGUF as a local backend (not loaded yet), or None when it has none."""
    if bundle is None or bundle.manifest is None or bundle.folder is None or not bundle.ok:
        return None
    entry = bundle.manifest.model(FEEDBACK_ROLE)
    if entry is None:
        return None
    listed = bundle.manifest.files[entry.file]
    return LocalBackend(
        bundle.folder / entry.file, threads, context, expected_sha256=listed.sha256, expected_size=listed.size
    )


def open_writer(settings, bundle: Verification | None = None, preload: bool = False) -> FeedbackWriter:
    """``settings``: the ``[feedback]`` section (:class:`pianocoach.appliance.config.FeedbackConfig`);
    ``bundle``: the loaded bundle's verification (a scorer's ``verification``). A local model the bundle does not
    carry, or one that cannot be loaded, is reported now and the templates are used."""
    common = dict(max_tokens=settings.max_tokens, temperature=settings.temperature, time_limit_s=settings.time_limit_s)
    if settings.backend == "remote":
        try:
            remote = RemoteBackend(
                settings.url,
                settings.remote_model,
                settings.api_key_env,
                settings.api_key_file,
                timeout_s=settings.time_limit_s,
            )
        except FeedbackUnavailable as exc:
            log.error("feedback: %s; the templates will be used", exc)
            return FeedbackWriter(None, **common)
        log.info("feedback: %r", remote)
        return FeedbackWriter(remote, **common)
    if settings.backend == "local":
        backend = bundled_feedback_model(bundle, settings.threads, settings.context)
        if backend is None:
            where = (
                f"the bundle {bundle.manifest.bundle_id}" if bundle and bundle.manifest else "no verified bundle loaded"
            )
            log.error(
                "feedback.backend = local but no GGUF model (%s has no %s model); the templates will be used",
                where,
                FEEDBACK_ROLE,
            )
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
