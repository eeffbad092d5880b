"""The page's answer before any real-music model exists: MSD_musicnn's own tags, with no training.

When the environment has no trained model, or only the one the built-in sample of synthesized clips
trained (whose genres for real songs mean nothing), and musicnn's converted weights are there (``kedro run
--pipelines=embedding_weights``), the page answers each upload with the pretrained tagger's top tags
(:mod:`music_genre.serving.pretrained`, the answer of ``music-genre predict --model pretrained``), plainly
labelled as a general-purpose tagger with its vocabulary. A model trained on real music always wins.
"""

from __future__ import annotations

from pathlib import Path

TOP_TAGS = 5
MODEL_NAME = "msd_musicnn_pretrained"  # the counters' model_name label for the tagger's answers


def wanted(classifier_facts) -> bool:
    """Whether the page answers with the tagger: no model at all (``None``), or the sample's model."""
    return classifier_facts is None or bool(classifier_facts.is_sample)


def load_tagger(project: Path, env: str | None):
    """The pretrained tagger of the project's weights, or None when they are not converted yet (or
    cannot be read: the page then goes on as before and the log says why)."""
    import logging

    from music_genre.common.errors import ExpectedError
    from music_genre.features.embeddings.tagger import PretrainedTagger
    from music_genre.features.embeddings.weights import find_weights
    from music_genre.serving.pretrained import weights_dir

    weights = find_weights(weights_dir(project, env))
    if weights is None:
        return None
    try:
        return PretrainedTagger(weights)
    except ExpectedError as error:
        logging.getLogger(__name__).warning("The pretrained tagger is off: %s", error)
        return None


def sidebar_lines(has_sample_model: bool, env_flag: str) -> list[str]:
    """Why the page answers with the tagger, and how to get a genre model of one's own music."""
    lines = [
        "No model trained on real music in this environment yet: the answers are the top tags of "
        "MSD_musicnn's general-purpose tagger (no training on your music).",
        f"Train one on your music: `kedro run --env=library` (a tagged library) or `kedro run{env_flag}` "
        "(README: On real music).",
    ]
    if has_sample_model:
        lines.append(
            "The model trained on the built-in sample of synthesized clips is not used: its genres for "
            "real songs mean nothing."
        )
    return lines
