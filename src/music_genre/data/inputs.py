"""What the user points at: files and folders, expanded to the audio files to score, with a reason for each
input that yields nothing. Shared by the CLI, the batch job and the served model (through
``music_genre.serving.inference``) and by monitoring's batch listing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from music_genre.data import audio

NOT_FOUND = audio.MISSING_FILE  # one vocabulary of reasons: the CLI, the pipelines and serving
NO_AUDIO = "no_audio_files"
_FMA_NAME = re.compile(r"^\d{6}$")


@dataclass
class InputError:
    """A command-line input that is not a file to score (a missing path, a folder without audio)."""

    path: str
    reason: str
    message: str


def collect_audio_paths(inputs: Iterable[str | os.PathLike]) -> tuple[list[Path], list[InputError]]:
    """Files as given (any extension: a non-audio file fails later with its own reason), folders expanded
    to the audio files under them. Missing paths and folders without audio are errors, not exceptions."""
    files: list[Path] = []
    errors: list[InputError] = []
    for item in expand_inputs(inputs):
        (errors if isinstance(item, InputError) else files).append(item)
    return files, errors


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path | InputError]:
    """Each input in the order given: a file as it is, a folder as its audio files (sorted), or the
    InputError that says why it yields nothing."""
    out: list[Path | InputError] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = audio.find_audio_files(path)
            out.extend(found)
            if not found:
                looked = ", ".join(audio.AUDIO_EXTENSIONS)
                message = f"no audio files in this folder (looked for {looked})"
                out.append(InputError(str(path), NO_AUDIO, message))
        elif path.exists():
            out.append(path)
        else:
            out.append(InputError(str(path), NOT_FOUND, "no such file or folder"))
    return out


def track_id_for(path: str | os.PathLike) -> str | None:
    """FMA's track id when the file is named like FMA's (``000002.mp3`` -> ``"2"``), else None."""
    stem = Path(path).stem
    return str(int(stem)) if _FMA_NAME.match(stem) else None
