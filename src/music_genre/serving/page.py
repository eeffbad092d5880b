"""The web page (Streamlit): a person drops songs and sees their genres; a second view shows the latest
evaluation and monitoring reports and the batch predictions.

Started by ``music-genre app`` (``streamlit run`` on this file, bound to 127.0.0.1). It uses the CLI's own
model loading (the champion, else the newest model) and ``inference.predict_files``, so a song gets the
same answer here as from ``music-genre predict``. Uploads are checked (size, then decoding), written to a
private temporary folder only while scored, then deleted; the page never takes a path from the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GENRE_BAR_WIDTH = 30


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", required=True)
    parser.add_argument("--env", default=None)
    return parser.parse_args(sys.argv[1:])


def bar(probability: float, width: int = GENRE_BAR_WIDTH) -> str:
    filled = int(round(probability * width))
    return "█" * filled + "░" * (width - filled)


def _catalog_path(project: Path, catalog: dict, name: str) -> Path:
    """The file (or folder) a catalog entry keeps, relative paths anchored at the project."""
    entry = catalog[name]
    inner = entry.get("dataset") if isinstance(entry.get("dataset"), dict) else {}
    where = entry.get("filepath") or entry.get("path") or inner.get("filepath")
    path = Path(str(where))
    return path if path.is_absolute() else project / path


def project_files(project: Path, env: str | None) -> dict:
    """Where the catalog keeps what the page shows, from the project's own configuration."""
    from music_genre.modeling import store as model_store  # noqa: PLC0415

    loader = model_store.project_config(project, env)
    catalog = loader["catalog"]
    parameters = loader["parameters"]
    evaluation = _catalog_path(project, catalog, "per_class_report").parent
    return {
        "dataset": loader["globals"]["dataset_name"],
        "inference": parameters.get("inference") or {},
        "serving": parameters.get("serving") or {},
        "model_metrics": _catalog_path(project, catalog, "model_metrics"),
        "champion_info": _catalog_path(project, catalog, "served_champion_info"),
        # "{name}_figure" is a dataset factory: its file for name=confusion_matrix
        "confusion_matrix": evaluation / "confusion_matrix.png",
        "per_class_report": _catalog_path(project, catalog, "per_class_report"),
        "monitoring": _catalog_path(project, catalog, "monitoring_report"),
        "decision": _catalog_path(project, catalog, "monitoring_decision"),
        "predictions": _catalog_path(project, catalog, "predictions"),
    }


def model_card(classifier, files: dict) -> list[tuple[str, str]]:
    """What model is answering: registry name, version and alias, dataset, features, its task, test
    scores."""
    from music_genre.modeling.tasks import task_of  # noqa: PLC0415

    task = task_of(classifier)
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
    rows += task.model_card(classifier)
    champion = files["champion_info"]
    if role == "champion" and champion.is_file():
        info = json.loads(champion.read_text())
        if info.get("version") == registry.get("version") and info.get("score") is not None:
            rows.append(("Promoted on", f"{info.get('metric')} {float(info['score']):.2f}"))
    path = files["model_metrics"]
    if path.is_file():
        metrics = json.loads(path.read_text())
        if metrics.get("training_fingerprint") == classifier.info.get("training_fingerprint"):
            test = (metrics.get("splits") or {}).get("test") or {}
            if test:
                rows.append(("Test", f"{task.headline(test)} on {int(test['n_tracks'])} tracks"))
    return rows


def main() -> None:  # pragma: no cover - run by streamlit, tested in a browser
    import pandas as pd  # noqa: PLC0415
    import streamlit as st  # noqa: PLC0415

    from music_genre.modeling import store as model_store  # noqa: PLC0415
    from music_genre.modeling.tasks import task_of  # noqa: PLC0415
    from music_genre.serving import inference  # noqa: PLC0415
    from music_genre.serving import served_inputs as guard  # noqa: PLC0415

    args = _arguments()
    project = Path(args.project)
    st.set_page_config(page_title="music-genre", layout="wide")

    @st.cache_resource
    def load(project_dir: str, env: str | None):
        """Once per server process, not per request."""
        return model_store.load_model(None, env, Path(project_dir)).classifier

    files = project_files(project, args.env)
    try:
        classifier = load(str(project), args.env)
    except model_store.ModelNotFoundError as error:
        st.error(str(error))
        return
    windowing = inference.windowing_settings(files["inference"])
    limit = guard.max_bytes(files["serving"])

    st.title("music-genre")
    with st.sidebar:
        st.subheader("The model answering")
        for label, text in model_card(classifier, files):
            st.markdown(f"**{label}**: {text}")

    tag, reports = st.tabs(["Tag a song", "Reports"])
    with tag:
        uploads = st.file_uploader(
            "Drop audio files (mp3, wav, ogg, flac, au)",
            type=["mp3", "wav", "ogg", "flac", "au"],
            accept_multiple_files=True,
        )
        for upload in uploads or []:
            data = upload.getvalue()
            if len(data) > limit:
                st.error(f"{upload.name}: over the {limit / 1024 / 1024:.0f} MB limit (too_large)")
                continue
            with guard.PrivateUploads() as private:
                path = private.write(data, guard.suffix_for(data, upload.name))
                row = inference.predict_files([path], classifier, windowing).iloc[0]
                timeline = None
                if isinstance(row["error_reason"], str):
                    st.error(f"{upload.name}: {row['error']} ({row['error_reason']})")
                    continue
                if int(row["windows"]) > 1:
                    timeline = inference.window_timeline(path, classifier, windowing)
            tags = inference.row_tags(row, classifier)
            answer = (
                "tags " + ", ".join(f"{g} {100 * p:.2f}%" for g, p in tags)
                if tags
                else f"{row['genre']} {100 * row['confidence']:.2f}%"
            )
            st.markdown(
                f"### {upload.name}: {answer}  \n"
                f"{int(row['windows'])} window{'s' if row['windows'] != 1 else ''}, "
                f"{row['duration']:.0f} s"
            )
            lines = [
                f"{genre:<16} {bar(p)} {100 * p:6.2f}%"
                for genre, p in inference.top_genres(
                    row, classifier.classes, len(classifier.classes)
                )
            ]
            st.code("\n".join(lines), language=None)
            if timeline is not None:
                st.caption("Genre along the song, window by window")
                st.table(
                    timeline.assign(
                        window=lambda t: [
                            f"{a:.0f}-{b:.0f} s" for a, b in zip(t.start, t.end, strict=True)
                        ],
                        probability=lambda t: [f"{100 * p:.1f}%" for p in t.probability],
                    )[["window", "genre", "probability"]]
                )
    with reports:
        st.subheader("Evaluation")
        if files["confusion_matrix"].is_file():
            st.image(
                str(files["confusion_matrix"]),
                caption=task_of(classifier).figure_caption,
            )
        if files["per_class_report"].is_file():
            st.table(pd.read_csv(files["per_class_report"]).round(3))
        if not files["confusion_matrix"].is_file():
            st.info("No evaluation report yet: run `kedro run`.")
        st.subheader("Monitoring")
        pages = sorted(files["monitoring"].glob("report_*.html"), key=lambda p: p.stat().st_mtime)
        decision = files["decision"]
        if pages:
            if decision.is_file():
                st.json(json.loads(decision.read_text()))
            st.caption(f"Latest report: {pages[-1].name}")
            st.components.v1.html(pages[-1].read_text(encoding="utf-8"), height=900, scrolling=True)
        else:
            st.info(
                "No monitoring report yet: `kedro run --pipelines=inference`, then `monitoring`."
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
                for c in ("batch", "path", "genre", "tags", "confidence", "model_version")
                if c in shown
            ]
            st.dataframe(shown[columns], hide_index=True)
        else:
            st.info("No batch predictions yet: `kedro run --pipelines=inference`.")


if __name__ == "__main__":  # pragma: no cover
    main()
