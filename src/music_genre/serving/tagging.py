"""``music-genre tag``: propose a genre for every file of a library that has none, flag the tags the model
strongly disagrees with, and, when asked, write the proposals into the files, with a journal that undoes
every change byte for byte.

:func:`plan_library` decides, per audio file, ``write`` (no usable genre, a familiar file, a confident
answer whose verdict is confident or leaning), ``keep`` (it has a genre, or this tagger wrote it already) or ``skip`` (``reason``: an
unfamiliar or silent file, an uncertain answer, unreadable tags, an unsupported format). :func:`apply_plan` writes the
``write`` rows through :func:`music_genre.data.tag_io.write_genre` (atomic, refused when the file changed
since it was read), each after its original bytes are kept in the journal's folder and the journal line
is on disk; :func:`undo_journal` puts every file back and checks its hash. A second run of the same
command after a kill finds the files written already (``keep``: the tagger's note) and writes the rest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from music_genre.data import library, tag_io
from music_genre.data.genre_vocabulary import Vocabulary
from music_genre.serving import wording

WRITE, KEEP, SKIP = "write", "keep", "skip"
TAGGED_BEFORE = "tagged_by_music_genre"
UNFAMILIAR = "unfamiliar"
UNCERTAIN = "uncertain"
NOTE_PREFIX = "music-genre"
# An uncertain answer is a guess: never written.
WRITTEN_VERDICTS = (wording.CONFIDENT, wording.LEANING)
DEFAULTS = {"min_confidence": 0.0, "suspect_confidence": 0.6, "suspect_given_below": 0.1}


def settings(params: Mapping | None) -> dict:
    """The ``tagging`` parameters with their defaults: ``min_confidence`` (a file with no genre is
    written only when the model is at least this sure), ``suspect_confidence`` and
    ``suspect_given_below`` (a tag is suspect when the model gives another genre at least the first and
    the tag's own genre under the second)."""
    return {**DEFAULTS, **{k: v for k, v in (params or {}).items() if k in DEFAULTS}}


def default_journal(now: float | None = None) -> Path:
    """``$XDG_STATE_HOME/music-genre/journals/tag-<UTC time>.jsonl`` (``~/.local/state`` by default)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return base / "music-genre" / "journals" / f"tag-{stamp}-{os.getpid()}.jsonl"


def note_text(model: str, confidence: float) -> str:
    """What the tagger writes in the file's own custom field: the model and how sure it was."""
    return f"{NOTE_PREFIX} model={model} confidence={confidence:.3f}"


@dataclass
class Decision:
    path: str
    current: list[str]
    proposed: str | None
    confidence: float | None
    suspect: bool
    unfamiliar: bool | None
    action: str
    reason: str | None
    digest: str | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "current": self.current,
            "proposed": self.proposed,
            "confidence": None if self.confidence is None else round(float(self.confidence), 6),
            "suspect": self.suspect,
            "unfamiliar": self.unfamiliar,
            "action": self.action,
            "reason": self.reason,
        }


def decide(
    path: str,
    current: list[str],
    note: str | None,
    given: list[str],
    prediction: Mapping,
    classes: Iterable[str],
    tagging: Mapping,
    verdict: Mapping | None = None,
) -> Decision:
    """One file's action from its tags (``current`` raw values, ``given`` the model's classes they
    resolve to, the tagger's ``note``) and its prediction row (``genre``, ``confidence``,
    ``unfamiliar``, ``proba_<genre>``, or ``error_reason``/``error``). A file with no genre is written
    only when the answer's verdict (:func:`music_genre.serving.wording.row_verdict` with the
    ``inference.verdict`` settings ``verdict``) is confident or leaning: an uncertain answer is a
    guess, and a tagger never writes a guess."""
    tagging = settings(tagging)
    classes = list(classes)
    error = prediction.get("error_reason")
    if isinstance(error, str):
        return Decision(
            path, current, None, None, False, None, SKIP, f"{error}: {prediction.get('error')}"
        )
    proposed, confidence = str(prediction["genre"]), float(prediction["confidence"])
    unfamiliar = prediction.get("unfamiliar")
    unfamiliar = None if unfamiliar is None or unfamiliar != unfamiliar else bool(unfamiliar)
    not_music = bool(prediction.get("_not_music"))
    known = [g for g in given if g in set(classes)]
    suspect = bool(
        known
        and proposed not in known
        and confidence >= float(tagging["suspect_confidence"])
        and max(float(prediction.get(f"proba_{g}", 0.0)) for g in known)
        < float(tagging["suspect_given_below"])
    )
    row = Decision(path, current, proposed, confidence, suspect, unfamiliar, KEEP, None)
    if unfamiliar:
        row.action, row.reason = SKIP, f"{UNFAMILIAR}: unlike the music the model learned from"
        row.suspect = False
    elif note and note.startswith(NOTE_PREFIX) and current:
        row.reason = f"{TAGGED_BEFORE}: {note}"
    elif given:
        row.reason = "has a genre" + (": the model hears another (suspect)" if suspect else "")
    elif not_music:
        row.reason = "tagged as not music (spoken word, sound effects): left as it is"
    elif confidence < float(tagging["min_confidence"]):
        row.action, row.reason = SKIP, f"{UNCERTAIN}: confidence under {tagging['min_confidence']}"
    elif (judged := _strength(prediction, classes, verdict)) not in WRITTEN_VERDICTS:
        row.action, row.reason = SKIP, f"{UNCERTAIN}: the model is {judged}, a guess is not written"
    else:
        row.action = WRITE
    return row


def _strength(prediction: Mapping, classes: list[str], verdict: Mapping | None) -> str:
    """The ranking's own verdict (confident | leaning | uncertain), before familiarity."""
    if not all(f"proba_{g}" in prediction for g in classes):
        return wording.UNCERTAIN
    judged = wording.row_verdict(prediction, classes, wording.verdict_settings(verdict))
    return wording.UNCERTAIN if judged is None else judged.strength


def plan_library(
    root: str | os.PathLike,
    vocabulary: Vocabulary,
    predict,
    classes: Iterable[str],
    tagging: Mapping | None = None,
    suspects: Mapping[str, Mapping] | None = None,
    verdict: Mapping | None = None,
) -> list[Decision]:
    """Every audio file under ``root``, decided. ``predict(path) -> row`` scores one file (the CLI's
    model through :func:`music_genre.serving.inference.predict_files`). ``suspects``: the training run's
    ``suspect_tags`` by resolved path (out-of-fold: the model that trained on a file's tag cannot judge
    it); such a file with a genre is ``suspect`` too. ``verdict``: the ``inference.verdict`` settings
    (:func:`decide`)."""
    suspects = {str(Path(p).resolve()): row for p, row in (suspects or {}).items()}
    classes = list(classes)
    rows = []
    for path in library.library_files(root):
        try:
            digest = tag_io.digest_of(path)
            found = tag_io.read_tags(path)
        except tag_io.TagError as err:
            rows.append(Decision(str(path), [], None, None, False, None, SKIP,
                                 f"{err.reason}: {err.message}"))  # fmt: skip
            continue
        except OSError as err:
            rows.append(Decision(str(path), [], None, None, False, None, SKIP,
                                 f"{tag_io.READ_ONLY}: {err.strerror}"))  # fmt: skip
            continue
        given = vocabulary.genres_of(found.genres)
        prediction = dict(predict(path), _not_music=vocabulary.is_not_music(found.genres))
        decision = decide(
            str(path), found.genres, found.note, given, prediction, classes, tagging or {}, verdict
        )
        decision.digest = digest
        known = suspects.get(str(Path(path).resolve()))
        if known is not None and decision.action == KEEP and given and not decision.suspect:
            decision.suspect = True
            decision.reason = (f"has a genre: suspect (out of fold, the model hears {known['heard']} "
                               f"at {float(known['sure']):.0%})")  # fmt: skip
        rows.append(decision)
    return rows


def mark_overwrites(rows: list[Decision]) -> None:
    """``--overwrite-suspects``: a suspect tag is replaced too (never by default)."""
    for row in rows:
        if row.suspect and row.action == KEEP:
            row.action, row.reason = WRITE, "suspect tag replaced (--overwrite-suspects)"


def _append(journal: Path, record: dict) -> None:
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def originals_dir(journal: Path) -> Path:
    return journal.with_name(journal.name + ".originals")


def apply_plan(rows: list[Decision], journal: str | os.PathLike, model: str) -> list[Decision]:
    """Write every ``write`` row, journalled; a row whose write is refused becomes ``skip`` with the
    reason (changed on disk, read-only, unreadable). Returns the rows, updated."""
    journal = Path(journal)
    journal.parent.mkdir(parents=True, exist_ok=True)
    keep = originals_dir(journal)
    keep.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row.action != WRITE:
            continue
        note = note_text(model, row.confidence or 0.0)
        try:
            original = Path(row.path).read_bytes()
        except OSError as err:
            row.action, row.reason = SKIP, f"{tag_io.READ_ONLY}: {err.strerror}"
            continue
        if tag_io.file_digest(original) != row.digest:
            row.action, row.reason = SKIP, f"{tag_io.CHANGED}: changed on disk since it was read"
            continue
        backup = keep / row.digest
        if not backup.exists():
            tag_io.restore_bytes(
                backup, original
            )  # atomic, fsynced: the journal never points at half
        _append(journal, {"path": str(Path(row.path).resolve()), "before": row.digest,
                          "backup": backup.name, "genre": row.proposed, "note": note})  # fmt: skip
        try:
            after = tag_io.write_genre(row.path, row.proposed, note, row.digest)
        except tag_io.TagError as err:
            row.action, row.reason = SKIP, f"{err.reason}: {err.message}"
            _append(journal, {"path": str(Path(row.path).resolve()), "failed": err.reason})
            continue
        _append(journal, {"path": str(Path(row.path).resolve()), "after": after})
    return rows


@dataclass
class UndoResult:
    path: str
    action: str  # restored | unchanged | skip
    reason: str | None = None


def undo_journal(journal: str | os.PathLike) -> list[UndoResult]:
    """Put every file the journal changed back to its original bytes (atomically), checking the hash.

    A file already back as it was is ``unchanged``; one changed since the tagger wrote it (by someone
    else) is ``skip``ped, never overwritten; a write killed before its ``after`` line counts as written
    when the file carries the journal's note (only then: a finished write whose file was edited since,
    note and all, is the user's now).
    """
    journal = Path(journal)
    if not journal.is_file():
        raise FileNotFoundError(f"no such journal: {journal}")
    entries: dict[str, dict] = {}
    for line in journal.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        entry = entries.setdefault(record["path"], {"afters": [], "notes": []})
        if "before" in record and "before" not in entry:  # the first: the file as the user had it
            entry["before"], entry["backup"] = record["before"], record["backup"]
        if "note" in record:
            entry["notes"].append(record["note"])
        if "after" in record:
            entry["afters"].append(record["after"])
    results = []
    keep = originals_dir(journal)
    for path, entry in entries.items():
        if "before" not in entry:
            continue
        try:
            now = tag_io.digest_of(path)
        except OSError as err:
            results.append(UndoResult(path, SKIP, f"cannot read: {err.strerror}"))
            continue
        if now == entry["before"]:
            results.append(UndoResult(path, "unchanged"))
            continue
        ours = now in entry["afters"]
        if not ours and len(entry["afters"]) < len(entry["notes"]):  # the last write was killed
            try:
                ours = tag_io.read_tags(path).note in entry["notes"]
            except tag_io.TagError:
                ours = False
        if not ours:
            results.append(UndoResult(path, SKIP, "changed since it was tagged: left alone"))
            continue
        original = (keep / entry["backup"]).read_bytes()
        if tag_io.file_digest(original) != entry["before"]:
            results.append(UndoResult(path, SKIP, "the journal's copy of the original is damaged"))
            continue
        tag_io.restore_bytes(path, original)
        restored = tag_io.digest_of(path) == entry["before"]
        results.append(UndoResult(path, "restored" if restored else SKIP,
                                  None if restored else "hash differs after restore"))  # fmt: skip
    return results


def summary(rows: list[Decision], written: bool) -> dict:
    """Counts by action, suspects, unfamiliar files, and whether anything was written."""
    counts = {action: sum(r.action == action for r in rows) for action in (WRITE, KEEP, SKIP)}
    return {
        "files": len(rows),
        **counts,
        "suspect": sum(r.suspect for r in rows),
        "unfamiliar": sum(bool(r.unfamiliar) for r in rows),
        "written": written,
    }


def summary_text(counts: Mapping) -> str:
    """The text-mode summary line of :func:`summary`'s counts."""
    verb = "written" if counts["written"] else "to write (dry run: --write writes them)"
    return (f"{counts['files']} files: {counts['write']} {verb}, {counts['keep']} kept, "
            f"{counts['skip']} skipped, {counts['suspect']} suspect tags, "
            f"{counts['unfamiliar']} unfamiliar")  # fmt: skip


def vocabulary_for_library(root: str | os.PathLike, dataset: Mapping | None) -> Vocabulary:
    """The library's genres as ingestion would make them, with the environment's settings."""
    files = library.read_library(root)
    return library.vocabulary_for(files, dataset or {})


def text_line(row: Decision) -> str:
    """One human line per file."""
    current = ", ".join(row.current) or "no genre"
    if row.action == SKIP:
        return f"{row.path}: skip ({row.reason})"
    sure = f" ({row.confidence:.0%})" if row.confidence is not None else ""
    if row.action == WRITE:
        return f"{row.path}: {current} -> {row.proposed}{sure}"
    flag = f"; suspect: the model hears {row.proposed}{sure}" if row.suspect else ""
    return f"{row.path}: keep {current}{flag}"
