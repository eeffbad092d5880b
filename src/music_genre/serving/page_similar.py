"""The page's similarity parts: "songs like this" under each upload's answer (with players), and a map of
the collection (a 2D projection of its index, coloured by genre; picking a point plays its track). The
answers are :mod:`music_genre.serving.similar`'s, the CLI's and the served routes' too."""

from __future__ import annotations

from pathlib import Path

SONGS_LIKE_THIS = 5


def load_index_or_none(project: Path, env: str | None):
    """The environment's index, or None (the page then says how to build it)."""
    from music_genre.common.errors import ExpectedError
    from music_genre.serving import similar

    try:
        return similar.load_index(project, env)
    except ExpectedError:
        return None


def songs_like(index, path: Path, name: str, windowing) -> dict | None:
    """The neighbours of an uploaded file (None when it cannot be extracted)."""
    from music_genre.serving import similar

    try:
        query = similar.Query(name, similar.file_vector(index, path, windowing), None)
    except similar.QueryError:
        return None
    return similar.similar(index, query, SONGS_LIKE_THIS)


def _playable(index, track: dict) -> Path | None:
    if not track.get("path"):
        return None
    path = Path(getattr(index, "project", None) or Path.cwd()) / track["path"]
    return path if path.is_file() else None


def render_songs_like(st, index, answer: dict | None) -> None:  # pragma: no cover - streamlit
    if index is None:
        st.caption("Songs like this: no similarity index yet (`kedro run` builds it).")
        return
    if answer is None:
        return
    st.markdown(f"**Songs like this** in the collection ({index.description})")
    for duplicate in answer["duplicates"]:
        st.caption(f"the same features as {duplicate['path']} (a duplicate)")
    for n in answer["neighbours"]:
        label = " - ".join(str(n[k]) for k in ("artist", "title") if n.get(k)) or n["path"]
        st.markdown(f"{n['rank']}. {label} [{n['genre'] or 'genre unknown'}], "
                    f"similarity {n['similarity']:.2f}")  # fmt: skip
        playable = _playable(index, n)
        if playable is not None:
            st.audio(str(playable))


def render_map(st, index) -> None:  # pragma: no cover - streamlit
    import altair as alt

    from music_genre.serving import similar

    if index is None:
        st.info("No similarity index yet: `kedro run` builds it.")
        return
    table = similar.collection_map(index)
    table["genre"] = table["genre"].fillna("unknown")
    st.caption(f"{len(table):,} tracks, first two principal components of {index.description}")
    pick = alt.selection_point(fields=["track_id"], name="pick")
    chart = (
        alt.Chart(table)
        .mark_circle(size=40, opacity=0.7)
        .encode(
            x=alt.X("x", title=None),
            y=alt.Y("y", title=None),
            color="genre:N",
            tooltip=["path", "title", "artist", "genre"],
        )  # fmt: skip
        .add_params(pick)
    )
    event = st.altair_chart(chart, width="stretch", on_select="rerun", selection_mode="pick")
    picked = (getattr(event, "selection", None) or {}).get("pick") or []
    if picked:
        row = index.position(str(picked[0].get("track_id")))
        if row is not None:
            from music_genre.similarity.neighbours import track_record

            track = track_record(index, row)
            st.markdown(f"**{track['path']}** [{track['genre'] or 'genre unknown'}]")
            playable = _playable(index, track)
            if playable is not None:
                st.audio(str(playable))
