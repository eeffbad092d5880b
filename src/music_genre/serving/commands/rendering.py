"""How ``music-genre predict`` shows an answer: a Rich line with genre bars and the verdict under them,
or one JSON object per file on stdout; a file's error as one ``error:`` line on stderr (and its JSON
object with ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path


def report_error(out, err, as_json: bool, path: str, reason: str, message: str) -> None:
    if as_json:
        print_json_error(path, reason, message)
    err.print(f"error: {path}: {message} ({reason})", soft_wrap=True, markup=False)


def print_json_error(path: str, reason: str, message: str) -> None:
    print(json.dumps({"path": path, "error": {"reason": reason, "message": message}}), flush=True)


def json_row(row, classes, ranked, loaded, facts) -> dict:
    """One file's JSON object: the row's answer with its ``verdict`` and ``runner_up`` (the words the
    text says), ``familiarity_distance``/``unfamiliar`` where the prediction rows carry them."""
    return (
        {
            "path": row["path"],
            "track_id": row["track_id"],
            "genre": row["genre"],
            "confidence": round(float(row["confidence"]), 6),
            "verdict": row.get("verdict"),
            "runner_up": row.get("runner_up"),
            "top": [{"genre": genre, "probability": round(p, 6)} for genre, p in ranked],
            "probabilities": {genre: round(float(row[f"proba_{genre}"]), 6) for genre in classes},
            "windows": int(row["windows"]),
            "duration": round(float(row["duration"]), 3),
            "model": {
                "source": loaded.source,
                "version": loaded.version,
                "dataset": facts.dataset,
                "task": facts.task,
                "familiarity_check": facts.familiarity,
            },
        }
        | _json_familiarity(row)
        | _json_tags(row, loaded.classifier)
    )


def _json_familiarity(row) -> dict:
    """``familiarity_distance`` (how far the song is from the training music, over the threshold: lower
    is more familiar, above 1 ``unfamiliar``; null where the model has no check) and ``unfamiliar``."""
    if "unfamiliar" not in row.index:
        return {}
    value = row.get("familiarity_distance")
    score = None if value is None or value != value else round(float(value), 6)
    from music_genre.serving.wording import is_unfamiliar

    return {"familiarity_distance": score, "unfamiliar": is_unfamiliar(row)}


def _json_tags(row, classifier) -> dict:
    """The task's own keys (a multi-label model's ``tags``: genres over their thresholds, with
    probability and threshold)."""
    from music_genre.serving.tasks import wording_of_model

    return wording_of_model(classifier).json_outputs(row, classifier)


def print_prediction(out, row, ranked, classifier, verdict: dict, width: int = 30) -> None:
    """The file's answer line (its :func:`wording.row_verdict` in words), its genre bars, and the
    verdict line (unfamiliar music) under them."""
    from rich.markup import escape

    from music_genre.serving import wording
    from music_genre.serving.inference import row_tags

    answer = wording.row_verdict(row, classifier.classes, verdict, row_tags(row, classifier)).text()
    out.print(
        f"[bold]{escape(Path(row['path']).name)}[/bold]  [green]{escape(answer)}[/green]  "
        f"[dim]({int(row['windows'])} window{'s' if row['windows'] != 1 else ''}, "
        f"{row['duration']:.0f} s)[/dim]",
        soft_wrap=True,
    )
    for genre, probability in ranked:
        filled = int(round(probability * width))
        bar = "█" * filled + "░" * (width - filled)
        out.print(f"  {escape(genre):<20} [cyan]{bar}[/cyan] {100 * probability:5.1f}%")
    verdict = wording.verdict_text(row)
    if verdict:
        out.print(f"  [yellow]{escape(verdict)}[/yellow]", soft_wrap=True)
