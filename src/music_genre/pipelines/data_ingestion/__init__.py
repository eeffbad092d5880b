"""Read FMA metadata or a folder-per-genre tree, check every audio file, write the manifest."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
