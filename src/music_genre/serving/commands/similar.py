"""``music-genre similar`` and ``music-genre playlist``: songs like this one, and playlists, from the
environment's similarity index (``kedro run`` builds it). The work is :mod:`music_genre.serving.similar`'s.

    music-genre similar song.mp3 000123 --top 5          # a file, and a track of the collection
    music-genre playlist 000123 --length 20 --m3u mix.m3u8
    music-genre playlist 000123 --to 004567 --length 12  # a gradual transition
    music-genre playlist --clusters 8 --m3u playlists/   # the collection grouped by sound

Exit status: 0 when every query was answered, 1 when any could not be, 2 for a usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from music_genre.serving.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EnvOption,
    ProjectOption,
    quiet_libraries,
)


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def _open(project: Path | None, env: str | None):
    """The index and the parameters, or a one-line error."""
    from music_genre.common.errors import ExpectedError, unknown_environment
    from music_genre.modeling import store as model_store
    from music_genre.serving import similar

    project_dir = model_store.find_project(project)
    if project_dir is None:
        _fail("not inside the music-genre project: pass --project DIR", EXIT_USAGE)
    problem = unknown_environment(env, project_dir)
    if problem:
        _fail(problem, EXIT_USAGE)
    try:
        return similar.load_index(project_dir, env), similar.similarity_params(project_dir, env)
    except ExpectedError as error:
        _fail(str(error))


def _name(track: dict) -> str:
    label = " - ".join(str(track[k]) for k in ("artist", "title") if track.get(k))
    return f"{track['path'] or track['track_id']}" + (f"  ({label})" if label else "")


def _print_answer(answer: dict) -> None:
    print(f"{answer['query']}")
    if answer["self"]:
        print(f"  itself: track {answer['self']['track_id']} of the collection (not counted)")
    for duplicate in answer["duplicates"]:
        print(f"  duplicate: {_name(duplicate)} (the same features, not counted)")
    for n in answer["neighbours"]:
        print(
            f"  {n['rank']:>3}. {_name(n)}  [{n['genre'] or 'genre unknown'}]  {n['distance']:.4f}"
        )
    if not answer["neighbours"]:
        print("  no other track in the collection")


def similar_command(
    queries: Annotated[
        list[str],
        typer.Argument(
            help="Audio files, or tracks of the collection (id or path).", metavar="QUERY"
        ),
    ],
    top: Annotated[
        int | None, typer.Option("--top", min=1, metavar="N", help="Neighbours per query.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per query.")] = False,
    env: EnvOption = None,
    project: ProjectOption = None,
) -> None:
    """Songs like this one: each query's nearest tracks in the collection (cosine distance, 0 = the same
    sound); the query itself and exact duplicates are named, not counted."""
    from music_genre.serving import similar

    quiet_libraries()
    index, params = _open(project, env)
    top = int(top or params["similarity"].get("top", 10))
    if not as_json:
        print(
            f"Similar tracks over {index.description}; {len(index):,} tracks, {index.kind} search"
        )
    failed = False
    for query in queries:
        try:
            answer = similar.similar(index, similar.resolve(index, query, params["windowing"]), top)
        except similar.QueryError as error:
            failed = True
            if as_json:
                print(json.dumps({"query": query, "error": {"reason": error.reason,
                                  "message": error.message}}), flush=True)  # fmt: skip
            print(f"error: {error}", file=sys.stderr, flush=True)
            continue
        if as_json:
            print(json.dumps(answer), flush=True)
        else:
            _print_answer(answer)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def playlist_command(
    seeds: Annotated[
        list[str] | None,
        typer.Argument(
            help="Seed tracks (id or path in the collection, or audio files).", metavar="SEED"
        ),
    ] = None,
    length: Annotated[
        int | None, typer.Option("--length", min=1, metavar="N", help="Tracks in the playlist.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="TARGET", help="End on this track: a gradual transition to it."
        ),
    ] = None,
    m3u: Annotated[
        Path | None,
        typer.Option(
            "--m3u", metavar="FILE", help="Write an M3U8 playlist (with --clusters: a folder)."
        ),
    ] = None,
    clusters: Annotated[
        int | None,
        typer.Option(
            "--clusters", min=1, metavar="K", help="Group the collection into K playlists."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The playlist as one JSON object.")
    ] = False,
    env: EnvOption = None,
    project: ProjectOption = None,
) -> None:
    """A playlist through neighbours from the seeds (no track twice, no artist or album repeated within a
    few tracks), a gradual transition with --to, or the whole collection grouped by sound with --clusters."""
    from music_genre.serving import similar
    from music_genre.similarity.index import SimilarityError
    from music_genre.similarity.playlist import m3u8, path_playlist

    quiet_libraries()
    if clusters is None and not seeds:
        _fail("give at least one SEED track, or --clusters K", EXIT_USAGE)
    if clusters is not None and (seeds or to):
        _fail("--clusters groups the whole collection: give no SEED and no --to", EXIT_USAGE)
    index, params = _open(project, env)
    rules = params["similarity"].get("playlist") or {}
    if clusters is not None:
        return _clusters(index, clusters, m3u, as_json)
    try:
        rows = [_seed_row(index, seed, params) for seed in seeds]
        target = _seed_row(index, to, params) if to else None
        tracks = path_playlist(index, rows, length=length, target=target, params=rules)
    except (similar.QueryError, SimilarityError) as error:
        _fail(str(error))
    playlist = {"seeds": list(seeds), "to": to, "index": index.description, "tracks": tracks}
    if m3u is not None:
        _write(m3u, m3u8(tracks_with_paths(index, tracks), title=f"like {', '.join(seeds)}"))
    if as_json:
        print(json.dumps(playlist), flush=True)
    else:
        for track in tracks:
            print(f"{track['position']:>3}. {_name(track)}  [{track['genre'] or 'genre unknown'}]")
        if m3u is not None:
            print(f"wrote {m3u} ({len(tracks)} tracks)")
    raise typer.Exit(EXIT_OK)


def _seed_row(index, seed: str, params: dict) -> int:
    """A seed's row: a track of the collection, or the nearest track to an audio file (said on stderr)."""
    from music_genre.serving import similar

    query = similar.resolve(index, seed, params["windowing"])
    if query.row is not None:
        return query.row
    rows, _ = index.search(query.vector, 1)
    track = index.tracks.iloc[int(rows[0])]
    print(f"note: {seed} is not in the collection: starting from its nearest track, {track['path']}",
          file=sys.stderr)  # fmt: skip
    return int(rows[0])


def tracks_with_paths(index, tracks: list[dict]) -> list[dict]:
    """Tracks whose relative paths are made absolute against the project (what a player can open)."""
    base = Path(getattr(index, "project", None) or Path.cwd())
    return [{**t, "path": str((base / str(t["path"])).resolve()) if t.get("path") else t["track_id"]}
            for t in tracks]  # fmt: skip


def _write(path: Path, text: str) -> None:
    import os

    path = Path(path)
    if path.is_dir():
        _fail(
            f"--m3u {path} is a folder: give a file name (a folder only with --clusters)",
            EXIT_USAGE,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _clusters(index, k: int, folder: Path | None, as_json: bool) -> None:
    from music_genre.similarity.index import SimilarityError
    from music_genre.similarity.playlist import cluster_playlists, m3u8, playlist_file_name

    try:
        groups = cluster_playlists(index, k)
    except SimilarityError as error:
        _fail(str(error))
    for number, group in enumerate(groups, start=1):
        group["file"] = None
        if folder is not None:
            if folder.exists() and not folder.is_dir():
                _fail(
                    f"--m3u {folder} is a file: --clusters writes one playlist per cluster into a folder"
                )
            group["file"] = str(folder / playlist_file_name(number, group["name"]))
            _write(
                Path(group["file"]), m3u8(tracks_with_paths(index, group["tracks"]), group["name"])
            )
    if as_json:
        print(json.dumps({"index": index.description, "clusters": groups}), flush=True)
    else:
        for number, group in enumerate(groups, start=1):
            where = f" -> {group['file']}" if group["file"] else ""
            print(f"{number:>2}. {group['name']}: {len(group['tracks'])} tracks{where}")
    raise typer.Exit(EXIT_OK)
