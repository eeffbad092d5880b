"""A warning when the installed stack is not the one the lock file was tested on."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)


class TestedStackHook:
    """One warning when this Python or platform is not the one ``requirements-lock.txt`` was tested on:
    pip then ignored the lock's pins and installed pyproject's lower bounds, so numbers may differ."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from music_genre.common.stack import platform_mismatch

        mismatch = platform_mismatch(context.project_path)
        if mismatch:
            log.warning("Untested stack: %s", mismatch)
