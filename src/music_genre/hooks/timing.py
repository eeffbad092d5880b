"""Each node's wall time, for the benchmarks."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

from music_genre.common.run_logging import DETAIL

timing_log = logging.getLogger("music_genre.timing")


class NodeTimesHook:
    """Each node's wall time, as one INFO record per node on the ``music_genre.timing`` logger:
    ``node_time {"node": "<name>", "seconds": 12.3}`` (JSON after the word ``node_time``), kept in the
    project's info.log; ``benchmarks/scale.py`` reads them back to print where a run spends its time."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        import time

        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        import json
        import time

        started = self._started.pop(node.name, None)
        if started is None:
            return
        seconds = round(time.perf_counter() - started, 3)
        timing_log.info(
            "node_time %s", json.dumps({"node": node.name, "seconds": seconds}), extra=DETAIL
        )

    @hook_impl
    def on_node_error(self, error, node) -> None:
        self._started.pop(node.name, None)
