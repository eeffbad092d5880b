"""music-genre: a Kedro project that turns a music collection into a genre classifier.

The package root holds Kedro's frame (settings, hooks, the pipeline registry, ``pipelines/``, the ``kedro``
command's overrides) and one folder per stage: ``common``, ``data``, ``sample``, ``features``, ``modeling``,
``evaluation``, ``monitoring``, ``serving``. docs/architecture.md draws the layers and the rule that
imports only run downward.
"""

from music_genre.common.module_paths import install as _install_moved_module_paths

__version__ = "0.1.0"

# Model files pickled before the stage folders name their classes by old paths (music_genre.model...).
_install_moved_module_paths()
