"""``similarity``: the collection's similarity index (songs like this one, playlists, duplicates)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
