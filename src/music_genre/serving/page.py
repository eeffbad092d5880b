"""The web page (Streamlit): a person drops songs and sees their genres; a second view shows the latest
evaluation and monitoring reports and the batch predictions.

Started by ``music-genre app`` (``streamlit run`` on this file, bound to 127.0.0.1). It uses the CLI's own
model loading (the champion, else the newest model) and ``inference.predict_files``, so a song gets the
same answer here as from ``music-genre predict``, in the same words (:mod:`music_genre.serving.wording`):
the sidebar opens with the CLI's header line and warnings, a result with its answer ("uncertain: A or B"
when weak) and, above the charts, its verdict (silent, unlike the training music). Each song shows its
genre probabilities as a bar chart, a player, and for a long song its genre window by window on a
timeline (Vega-Lite charts through Altair, which Streamlit itself depends on). Before any real-music model
exists, MSD_musicnn's own tags answer (:mod:`music_genre.serving.page_pretrained`).

Uploads are checked (size, then decoding), written to a private temporary folder only while scored, then
deleted; the page never takes a path from the user. The player gets the upload's bytes from Streamlit's
in-memory media store (served to this session at 127.0.0.1, never written to disk), and only for a file
that was under the size limit and decoded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# The player's MIME type by the upload's (checked) suffix; these are the formats the uploader accepts.
AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".au": "audio/basic",
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", required=True)
    parser.add_argument("--env", default=None)
    # the counters' port (default: prometheus.page_port; 0: off): serving/prometheus_metrics.py
    parser.add_argument("--metrics-port", type=int, default=None)
    # a model named by the user (models:/... from the tracking server, or a file); default: the catalog's
    parser.add_argument("--model", default=None)
    return parser.parse_args(sys.argv[1:])


def _plain(text: str) -> str:
    """``text`` shown as written in Markdown (no emphasis, link, HTML or formula read into it)."""
    return "".join(f"\\{c}" if c in "\\`*_{}[]<>()#+-.!|$~" else c for c in text)


def _catalog_path(project: Path, catalog: dict, name: str) -> Path:
    """The file (or folder) a catalog entry keeps, relative paths anchored at the project."""
    from music_genre.common.catalog_paths import configured_path

    path = Path(str(configured_path(catalog, name)))
    return path if path.is_absolute() else project / path


def project_files(project: Path, env: str | None) -> dict:
    """Where the catalog keeps what the page shows, from the project's own configuration: the reports
    and metrics of the task the environment serves (``serving.task``; each task keeps its own files, as
    a run of ``modeling.task`` writes them), whatever task a run trained last."""
    from music_genre.modeling import store as model_store

    parameters = model_store.project_config(project, env)["parameters"]
    served = (parameters.get("serving") or {}).get("task")
    loader = model_store.project_config(
        project, env, {"modeling": {"task": served}} if served else None
    )
    catalog = loader["catalog"]
    evaluation = _catalog_path(project, catalog, "per_class_report").parent
    return {
        "dataset": loader["globals"]["dataset_name"],
        "inference": parameters.get("inference") or {},
        "serving": parameters.get("serving") or {},
        "prometheus": parameters.get("prometheus") or {},
        "model_metrics": _catalog_path(project, catalog, "model_metrics"),
        "champion_info": _catalog_path(project, catalog, "served_champion_info"),
        # "{name}_figure" is a dataset factory: its file for name=confusion_matrix
        "confusion_matrix": evaluation / "confusion_matrix.png",
        "per_class_report": _catalog_path(project, catalog, "per_class_report"),
        "suspect_tags": _catalog_path(project, catalog, "suspect_tags"),
        "monitoring": _catalog_path(project, catalog, "monitoring_report"),
        "decision": _catalog_path(project, catalog, "monitoring_decision"),
        "predictions": _catalog_path(project, catalog, "predictions"),
    }


def environments(project: Path) -> list[str]:
    """The project's environments (the folders of ``conf/`` but ``base``), ``local`` (Kedro's default)
    first."""
    conf = project / "conf"
    names = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")
    return sorted(names, key=lambda name: name != "local")


def environments_with_champion(project: Path, current: str | None = None) -> list[str]:
    """The environments whose champion the page can switch to: those with a champion (their catalog's
    ``served_champion_info`` file), and the one being served whatever it holds."""
    found = []
    for env in environments(project):
        if env == (current or "local") or project_files(project, env)["champion_info"].is_file():
            found.append(env)
    return found


def genre_chart(ranked: list[tuple[str, float]]):
    """Every genre's probability as horizontal bars, most probable on top, each labelled with its
    percentage: an Altair chart for ``st.altair_chart``."""
    import altair as alt
    import pandas as pd

    data = pd.DataFrame(ranked, columns=["genre", "probability"])
    base = alt.Chart(data).encode(
        y=alt.Y("genre:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X(
            "probability:Q",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%"),
            title="probability",
        ),
        tooltip=["genre", alt.Tooltip("probability:Q", format=".0%")],
    )
    # the CLI's and the answer's format: whole percents
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".0%"))
    return (base.mark_bar() + labels).properties(height=90 + 26 * len(data))


def chart_text(ranked: list[tuple[str, float]], what: str = "Genre") -> str:
    """The bar chart in words (its alternative text, for screen readers): every genre's (or tag's)
    percentage."""
    return f"{what} probabilities: " + ", ".join(f"{g} {100 * p:.0f}%" for g, p in ranked)


def timeline_text(timeline) -> str:
    """The timeline in words (its alternative text): each window's seconds, genre and probability."""
    return "Genre along the song: " + "; ".join(
        f"{row.start:.0f}-{row.end:.0f} s {row.genre} {100 * row.probability:.1f}%"
        for row in timeline.itertuples()
    )


def timeline_chart(timeline):
    """A long song's windows along time (``inference.window_timeline``: start, end, genre, probability):
    one bar per window on its genre's row, paler when the window's genre was less probable."""
    import altair as alt

    genres = list(dict.fromkeys(timeline["genre"]))
    return (
        alt.Chart(timeline)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", title="seconds", axis=alt.Axis(tickCount=10)),
            x2="end:Q",
            y=alt.Y("genre:N", sort=genres, title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("genre:N", legend=None),
            opacity=alt.Opacity("probability:Q", scale=alt.Scale(domain=[0, 1]), legend=None),
            tooltip=[
                alt.Tooltip("start:Q", title="from (s)", format=".0f"),
                alt.Tooltip("end:Q", title="to (s)", format=".0f"),
                "genre",
                alt.Tooltip("probability:Q", format=".1%"),
            ],
        )
        .properties(height=90 + 40 * len(genres))  # Streamlit's height: the axes' 90 px too
    )


def model_card(classifier, files: dict) -> list[tuple[str, str]]:
    """What model is answering: registry name, version and alias, dataset, features, its task, test
    scores."""
    from music_genre.serving.tasks import wording_of_model

    wording = wording_of_model(classifier)
    registry = classifier.info.get("registry") or {}
    role = classifier.info.get("serving_role", "newest")
    if registry:
        name = f"{registry.get('name')} version {registry.get('version')} ({role})"
    else:
        name = f"not registered ({role} trained model)"
    rows = [
        ("Model", name),
        ("Version", classifier.version),
        ("Dataset", files["dataset"]),
        ("Features", classifier.feature_settings.get("feature_set", "handcrafted")),
        ("Type", classifier.model_type),
    ]
    rows += wording.model_card(classifier)
    champion = files["champion_info"]
    if role == "champion" and champion.is_file():
        info = json.loads(champion.read_text())
        if info.get("version") == registry.get("version"):
            rows += champion_rows(info)
    path = files["model_metrics"]
    if path.is_file():
        metrics = json.loads(path.read_text())
        if metrics.get("training_fingerprint") == classifier.info.get("training_fingerprint"):
            test = (metrics.get("splits") or {}).get("test") or {}
            if test:
                rows.append(("Test", f"{wording.headline(test)} on {int(test['n_tracks'])} tracks"))
    return rows


def _meter(args: argparse.Namespace, files: dict, classifier, source: str):
    """The page's counters (serving/prometheus_metrics.py), served on their own port once per process;
    ``classifier`` None: the pretrained tagger answers."""
    from music_genre.serving import page_pretrained
    from music_genre.serving import prometheus_metrics as metrics

    settings = files["prometheus"]
    port = args.metrics_port if args.metrics_port is not None else settings.get("page_port")
    metrics.start_page_exporter(port, settings.get("page_address") or "127.0.0.1")
    if classifier is None:
        labels = metrics.ModelLabels(page_pretrained.MODEL_NAME, "MSD_musicnn", source)
    else:
        labels = metrics.ModelLabels.of_classifier(classifier, source)
    return metrics.ServingMetrics(labels)


def _env_flag(env: str | None, equals: bool = False) -> str:
    """`` --env gtzan`` (``--env=gtzan`` for kedro) for a command about ``env``; nothing for local."""
    if not env or env == "local":
        return ""
    return f" --env={env}" if equals else f" --env {env}"


def champion_rows(info: dict) -> list[tuple[str, str]]:
    """How the champion (``champion.json``) came to serve: the score it beat the previous champion with,
    or, for the first champion, which had no model to beat, what the registration gate measured."""
    if info.get("replaced") is None:
        registered = info.get("registered_on")
        if registered:
            return [("Registered on", f"{registered} (the first champion: no model to beat)")]
        return [("Champion", "the first registered version: no model to beat")]
    if info.get("score") is None:
        return []
    return [
        (
            "Promoted on",
            f"{info.get('metric')} {float(info['score']):.2f}, replacing version {info['replaced']}",
        )
    ]


def main() -> None:  # pragma: no cover - run by streamlit, tested in a browser
    import pandas as pd
    import streamlit as st

    from music_genre.modeling import store as model_store
    from music_genre.serving import inference, page_pretrained, page_similar, pretrained, wording
    from music_genre.serving import served_inputs as guard
    from music_genre.serving.prometheus_metrics import OK, SERVER_ERROR
    from music_genre.serving.tasks import wording_of_model

    args = _arguments()
    project = Path(args.project)
    st.set_page_config(page_title="music-genre", layout="wide")

    @st.cache_resource
    def load(project_dir: str, env: str | None, model: str | None):
        """Once per server process and environment, not per request."""
        return model_store.load_model(model, env, Path(project_dir))

    @st.cache_resource
    def load_tagger(project_dir: str, env: str | None):
        return page_pretrained.load_tagger(Path(project_dir), env)

    @st.cache_data(ttl=60)
    def choices(project_dir: str, env: str | None) -> list[str]:
        return environments_with_champion(Path(project_dir), env)

    served = args.env or "local"
    options = choices(str(project), args.env)
    with st.sidebar:
        # the environment started with first; the others only where a champion was trained
        env = st.selectbox(
            "Environment",
            options,
            index=options.index(served) if served in options else 0,
            help="Environments of this project that have a champion model (music-genre app --env).",
        )
    env = None if env == "local" else env
    files = project_files(project, env)
    loaded = missing = facts = None
    started_with = None if args.env in (None, "local") else args.env
    try:
        # the named model only in the environment it was started with; the others serve their champion
        loaded = load(str(project), env, args.model if env == started_with else None)
        facts = wording.model_facts(loaded.classifier, loaded.source, files["dataset"])
    except model_store.ModelNotFoundError as error:
        missing = error
    # no real-music model yet: MSD_musicnn's own tags answer, when its weights are converted
    # (never instead of a model the user named with --model)
    wanted = page_pretrained.wanted(facts) and not (args.model and env == started_with)
    tagger = load_tagger(str(project), env) if wanted else None
    if loaded is None and tagger is None:
        st.error(str(missing))
        return
    classifier = None if tagger is not None else loaded.classifier
    windowing = inference.windowing_settings(files["inference"])
    verdict_settings = wording.verdict_settings(files["inference"])
    limit = guard.max_bytes(files["serving"])
    meter = _meter(args, files, classifier, "pretrained" if classifier is None else loaded.source)
    metered = st.session_state.setdefault("metered_uploads", set())

    st.title("music-genre")
    with st.sidebar:
        st.subheader("The model answering")
        st.text(wording.environment_text(env, files["dataset"]))
        if tagger is not None:
            st.text(pretrained.HEADER.format(description=pretrained.tagger_description()))
            for line in page_pretrained.sidebar_lines(loaded is not None, _env_flag(env, True)):
                st.info(line)
            st.markdown(f"**Vocabulary**: {', '.join(tagger.tags)}")
        else:
            st.text(wording.header_text(facts))
            if wording.sample_warning(facts):
                st.warning(wording.sample_warning(facts))
            for note in (
                wording.familiarity_note(facts),
                wording.weak_model_note(facts, verdict_settings),
            ):
                if note:
                    st.info(note)
            for label, text in model_card(classifier, files):
                st.markdown(f"**{label}**: {text}")

    @st.cache_resource
    def load_index(project_dir: str, env: str | None):
        return page_similar.load_index_or_none(Path(project_dir), env)

    index = load_index(str(project), args.env)
    tag, collection_map, reports = st.tabs(["Tag a song", "Map of the collection", "Reports"])
    with tag:
        uploads = st.file_uploader(
            "Drop audio files (mp3, wav, ogg, flac, au)",
            type=["mp3", "wav", "ogg", "flac", "au"],
            accept_multiple_files=True,
        )
        for upload in uploads or []:
            started = time.perf_counter()
            # counted once per upload: Streamlit scores every upload again on each rerun
            first = upload.file_id not in metered
            metered.add(upload.file_id)
            data = upload.getvalue()
            if len(data) > limit:
                if first:
                    meter.failed("too_large")
                    meter.request(OK, time.perf_counter() - started)
                st.error(f"{upload.name}: over the {limit / 1024 / 1024:.0f} MB limit (too_large)")
                continue
            suffix = guard.suffix_for(data, upload.name)
            with guard.PrivateUploads() as private:
                path = private.write(data, suffix)
                if tagger is not None:
                    found, reason, message = pretrained.answer_or_error(
                        tagger, path, page_pretrained.TOP_TAGS
                    )
                    if first:
                        meter.answered([reason])
                        meter.request(OK, time.perf_counter() - started)
                    if found is None:
                        st.error(f"{upload.name}: {message} ({reason})")
                        continue
                    st.markdown(f"### {upload.name}: {pretrained.tags_text(found)}")
                    st.audio(data, format=AUDIO_TYPES.get(suffix, "audio/mpeg"))
                    ranked = [(t["tag"], t["probability"]) for t in found["tags"]]
                    chart = genre_chart(ranked)
                    st.altair_chart(
                        chart, width="stretch", height=chart.height, alt=chart_text(ranked, "Tag")
                    )
                    like = index and page_similar.songs_like(index, path, upload.name, windowing)
                    page_similar.render_songs_like(st, index, like)
                    continue
                try:
                    row = inference.predict_files(
                        [path], classifier, windowing, verdict_settings
                    ).iloc[0]
                except Exception:
                    if first:
                        meter.request(SERVER_ERROR, time.perf_counter() - started)
                    raise
                if first:
                    meter.answered([row["error_reason"]])
                    meter.request(OK, time.perf_counter() - started)
                timeline = None
                if wording.is_silent(row):
                    st.info(f"{upload.name}: {wording.SILENT_TEXT}")
                    st.audio(data, format=AUDIO_TYPES.get(suffix, "audio/mpeg"))
                    continue
                if isinstance(row["error_reason"], str):
                    st.error(f"{upload.name}: {row['error']} ({row['error_reason']})")
                    continue
                if int(row["windows"]) > 1:
                    timeline = inference.window_timeline(path, classifier, windowing)
                like = index and page_similar.songs_like(index, path, upload.name, windowing)
            ranked = inference.top_genres(row, classifier.classes, len(classifier.classes))
            judged = wording.row_verdict(
                row, classifier.classes, verdict_settings, inference.row_tags(row, classifier)
            )
            answer = judged.text()
            st.markdown(
                f"### {upload.name}: {answer}  \n"
                f"{int(row['windows'])} window{'s' if row['windows'] != 1 else ''}, "
                f"{row['duration']:.0f} s"
            )
            verdict = wording.verdict_text(row)
            if verdict:
                st.warning(f"{upload.name}: {verdict}")
            st.audio(data, format=AUDIO_TYPES.get(suffix, "audio/mpeg"))
            chart = genre_chart(ranked)
            st.altair_chart(chart, width="stretch", height=chart.height, alt=chart_text(ranked))
            if timeline is not None:
                st.caption("Genre along the song, window by window")
                chart = timeline_chart(timeline)
                st.altair_chart(
                    chart, width="stretch", height=chart.height, alt=timeline_text(timeline)
                )
            page_similar.render_songs_like(st, index, like)
    with collection_map:
        page_similar.render_map(st, index)
    with reports:
        suspects = files.get("suspect_tags")
        if suspects is not None and suspects.is_file():  # a library's own tags the model disputes
            table = pd.read_csv(suspects)
            if len(table):
                st.subheader("Suspect tags")
                st.caption(f"{len(table)} files whose genre tag the model strongly disagrees with")
                st.dataframe(table, hide_index=True)
        st.subheader("Evaluation")
        if files["confusion_matrix"].is_file():
            st.image(
                str(files["confusion_matrix"]),
                caption=wording_of_model(classifier).figure_caption if classifier else None,
            )
        if files["per_class_report"].is_file():
            st.table(pd.read_csv(files["per_class_report"]).round(3))
        if not files["confusion_matrix"].is_file():
            st.info(f"No evaluation report yet: run `kedro run{_env_flag(env, True)}`.")
        st.subheader("Monitoring")
        pages = sorted(files["monitoring"].glob("report_*.html"), key=lambda p: p.stat().st_mtime)
        decision = files["decision"]
        if pages:
            if decision.is_file():
                from music_genre.monitoring.verdict import verdict_lines

                content = json.loads(decision.read_text())
                # the verdicts in the words of the log, the run's summary and the report page
                st.markdown("  \n".join(f"**{_plain(line)}**" for line in verdict_lines(content)))
                with st.expander("decision.json"):
                    st.json(content)
            st.caption(f"Latest report: {pages[-1].name}")
            st.components.v1.html(pages[-1].read_text(encoding="utf-8"), height=900, scrolling=True)
        else:
            st.info(
                f"No monitoring report yet: `music-genre daily{_env_flag(env)}` scores the next "
                "batch and monitors it."
            )
        st.subheader("Batch predictions")
        if files["predictions"].is_file():
            table = pd.read_parquet(files["predictions"])
            scored = table[table["genre"].notna()]
            genres = st.multiselect("Genres", sorted(scored["genre"].unique()))
            floor = st.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05)
            shown = scored[scored["confidence"] >= floor]
            if genres:
                shown = shown[shown["genre"].isin(genres)]
            columns = [
                c
                for c in ("batch", "path", "genre", "verdict", "runner_up", "tags", "confidence",
                          "model_version")
                if c in shown
            ]  # fmt: skip
            st.dataframe(shown[columns], hide_index=True)
        else:
            st.info(
                f"No batch predictions yet: `music-genre daily{_env_flag(env)}` scores the next batch."
            )


if __name__ == "__main__":  # pragma: no cover
    main()
