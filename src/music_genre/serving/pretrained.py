"""``music-genre predict --model pretrained``: an answer for any song before anything is trained.

MSD_musicnn's own tag layer (:mod:`music_genre.features.embeddings.tagger`): the top Last.fm tags of the
Million Song Dataset's 50, plainly labelled as a general-purpose tagger with its vocabulary, never as this
project's genre model. Needs only the converted weights (``kedro run --pipelines=embedding_weights``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HEADER = "Model: pretrained MSD_musicnn tagger ({description})"


def weights_dir(project: Path | None, env: str | None) -> Path | None:
    """The project's ``feature_engineering.embedding.weights_dir`` (None outside a project: the usual
    search path, ``$MUSIC_GENRE_WEIGHTS_DIR`` and the user's cache)."""
    if project is None:
        return None
    from music_genre.modeling.store import project_config

    parameters = project_config(project, env)["parameters"]
    embedding = (parameters.get("feature_engineering") or {}).get("embedding") or {}
    folder = Path(embedding.get("weights_dir") or "data/06_models/pretrained")
    return folder if folder.is_absolute() else project / folder


def answer_file(tagger, path: str | os.PathLike, top: int) -> dict:
    """One file's answer: its top tags, and the most probable tag that names a genre."""
    from music_genre.features.embeddings.tagger import GENRE_TAGS

    probabilities = tagger.tag_file(path)
    ranked = tagger.top(probabilities, len(tagger.tags))
    genre = next(((t, p) for t, p in ranked if t in GENRE_TAGS), (None, None))
    return {
        "path": str(path),
        "tags": [{"tag": t, "probability": round(p, 6)} for t, p in ranked[:top]],
        "genre_tag": genre[0],
        "model": {
            "source": "pretrained",
            "name": "MSD_musicnn",
            "description": tagger_description(),
            "vocabulary": tagger.tags,
        },  # fmt: skip
    }


def answer_or_error(
    tagger, path: str | os.PathLike, top: int
) -> tuple[dict | None, str | None, str | None]:
    """``(answer, None, None)``, or ``(None, reason, message)`` for a file the tagger cannot hear: the
    decoder's reason, or ``too_short`` (under one 3 s patch). The CLI's and the page's one mapping."""
    from music_genre.common.errors import ExpectedError
    from music_genre.data import audio

    try:
        return answer_file(tagger, path, top), None, None
    except audio.AudioError as error:
        return None, error.reason, error.message
    except ExpectedError as error:
        return None, "too_short", str(error)


def tags_text(answer: dict) -> str:
    """An answer's tags in words: ``rock 62%, metal 40%, ...`` (whole percents, as the CLI prints
    genres)."""
    return ", ".join(f"{t['tag']} {100 * t['probability']:.0f}%" for t in answer["tags"])


def tagger_description() -> str:
    from music_genre.features.embeddings.tagger import DESCRIPTION

    return DESCRIPTION


def run(paths: list[str], top: int, as_json: bool, project: Path | None, env: str | None) -> int:
    """Tag every file; prints the answers; returns the exit status (1 when any file failed)."""
    import sys

    from music_genre.common.errors import ExpectedError
    from music_genre.data.inputs import InputError, expand_inputs
    from music_genre.features.embeddings.tagger import PretrainedTagger
    from music_genre.features.embeddings.weights import find_weights

    weights = find_weights(weights_dir(project, env))
    if weights is None:
        print("error: the pretrained tagger needs musicnn's converted weights: run "
              "`kedro run --pipelines=embedding_weights` once", file=sys.stderr)  # fmt: skip
        return 1
    try:
        tagger = PretrainedTagger(weights)
    except ExpectedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not as_json:
        print(HEADER.format(description=tagger_description()))
    failed = False
    for item in expand_inputs(paths):
        if isinstance(item, InputError):
            failed = True
            _error(as_json, item.path, item.reason, item.message)
            continue
        answer, reason, message = answer_or_error(tagger, item, top)
        if answer is None:
            failed = True
            _error(as_json, str(item), reason, message)
            continue
        if as_json:
            print(json.dumps(answer), flush=True)
        else:
            print(f"{Path(answer['path']).name}  {tags_text(answer)}")
    return 1 if failed else 0


def _error(as_json: bool, path: str, reason: str, message: str) -> None:
    import sys

    if as_json:
        print(
            json.dumps({"path": path, "error": {"reason": reason, "message": message}}), flush=True
        )
    print(f"error: {path}: {message} ({reason})", file=sys.stderr, flush=True)
