"""``python -m music_genre``: the same command line as ``music-genre``."""

from music_genre.serving.commands import main

if __name__ == "__main__":
    main()
