"""music-genre: a Kedro project that turns a music collection into a genre classifier."""

__version__ = "0.1.0"
