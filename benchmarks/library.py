"""Your own library, end to end, on a test library made from the 40 real GTZAN clips (docs/benchmarks.md).

    python benchmarks/library.py                       # builds the library under /tmp, handcrafted features
    python benchmarks/library.py --out /tmp/lib --feature-set auto

The library (``music_genre.sample.library``): each clip cut into two 21 s tracks of one album, in MP3,
FLAC, Ogg Vorbis and M4A, tagged with mutagen in varied spellings, a fifth of the albums untagged, four
tags planted wrong; plus 32 files that are not music (espeak-ng speech in four languages, white and brown
noise, tones, hums, sweeps, clicks, near-silence), two of them tagged "Podcast". Then:

1. ``kedro run --env=library`` on it, and ``kedro run --env=gtzan`` (the folder path) on the same tagged
   music files in ``<genre>/`` folders with their true genres;
2. accuracy on the untagged music files: ``music-genre tag`` (library model) vs ``music-genre predict``
   (folder model);
3. the share of planted wrong tags among the suspects (``suspect_tags`` and the tag command's flags);
4. ``--write``: non-music files written, decoded audio of every written file unchanged; the same command
   again writes nothing more; ``--undo``: every file byte-identical;
5. real music flagged unfamiliar (files the model did not train on: untagged, validation and test), and
   odd inputs flagged leave-one-family-out: for each family, the familiarity check refitted with outlier
   exposure on every other family, judging that family's files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
GTZAN = REPO_ROOT.parent / "shared" / "data" / "gtzan_subset"
sys.path.insert(0, str(REPO_ROOT / "src"))
CLI = [sys.executable, "-m", "music_genre"]  # this checkout's command line, whatever is installed


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, **kwargs)
    if done.returncode not in (0, 1):
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(command)}")
    return done


def json_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="Work folder (default: a temporary one)."
    )
    parser.add_argument("--feature-set", default="handcrafted")
    parser.add_argument("--min-files", type=int, default=3, help="dataset.min_files_per_genre")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse --out's library and this checkout's trained models (no build, no run).")  # fmt: skip
    args = parser.parse_args()
    if not GTZAN.is_dir():
        raise SystemExit(f"needs {GTZAN} (the ../shared folder beside the project)")
    from music_genre.data import audio, tag_io
    from music_genre.data.genre_vocabulary import build_vocabulary
    from music_genre.sample.library import SPELLINGS, build_test_library

    work = args.out or Path(tempfile.mkdtemp(prefix="library-bench-"))
    lib, folder = work / "library", work / "folder"
    if args.reuse:
        truth = pd.read_csv(work / "truth.csv")
        truth["tag"] = truth["tag"].where(truth["tag"].notna(), None)
    else:
        for old in (lib, folder):
            shutil.rmtree(old, ignore_errors=True)
        truth = build_test_library(GTZAN, lib)
        truth.to_csv(work / "truth.csv", index=False)
    music = truth[truth["kind"] == "music"]
    class_of = {g: build_vocabulary([[s[0]]], 1).genres_of([s[0]])[0] for g, s in SPELLINGS.items()}
    truth["expected"] = truth["genre"].map(class_of)
    tagged = music[music["tag"].notna()]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    common = f"feature_engineering.feature_set={args.feature_set}"
    if not args.reuse:
        for row in tagged.itertuples():  # the folder path: the same files, true genre as folder
            target = folder / row.genre / Path(row.path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(row.path, target)
        library_params = f"dataset.root={lib},dataset.min_files_per_genre={args.min_files},{common}"
        run(["kedro", "run", "--env=library", f"--params={library_params}"], env=env)
        run(["kedro", "run", "--env=gtzan", f"--params=dataset.root={folder},{common}"], env=env)

    # 2. the untagged music: the library's proposals vs the folder model's answers
    dry = json_rows(run([*CLI, "tag", str(lib), "--env", "library", "--json"], env=env).stdout)
    plan = pd.DataFrame([r for r in dry if "path" in r]).merge(truth, on="path")
    untagged = plan[(plan["kind"] == "music") & plan["tag"].isna()]
    library_accuracy = float((untagged["proposed"] == untagged["expected"]).mean())
    folder_model = sorted((REPO_ROOT / "data/06_models/gtzan/genre_classifier.pkl").glob("*"))[-1]
    answers = json_rows(run([*CLI, "predict", *untagged["path"], "--model",
                             str(folder_model / "genre_classifier.pkl"), "--json"], env=env).stdout)  # fmt: skip
    folder_answer = {a["path"]: class_of.get(a.get("genre")) for a in answers if "genre" in a}
    folder_accuracy = float(np.mean([folder_answer.get(p) == e
                                     for p, e in zip(untagged["path"], untagged["expected"], strict=True)]))  # fmt: skip

    # 3. suspects: the run's out-of-fold suspect_tags and the tag command's flags
    suspects_csv = REPO_ROOT / "data/08_reporting/library/evaluation/suspect_tags.csv"
    table = pd.read_csv(suspects_csv) if suspects_csv.is_file() else pd.DataFrame(columns=["path"])
    flagged = set(table["path"]) | set(plan.loc[plan["suspect"], "path"])
    planted = set(truth.loc[truth["planted_wrong"], "path"])
    found = len(planted & flagged) / len(planted)
    precision = len(planted & flagged) / max(1, len(flagged))

    # 4. write, rerun, undo
    before = {p: Path(p).read_bytes() for p in truth["path"]}
    decoded = {
        p: audio.load_with_rate(p, None)[0] for p in plan.loc[plan["action"] == "write", "path"]
    }
    journal = work / "journal.jsonl"
    wrote = json_rows(run([*CLI, "tag", str(lib), "--env", "library", "--json", "--write",
                           "--journal", str(journal)], env=env).stdout)  # fmt: skip
    written = pd.DataFrame([r for r in wrote if "path" in r]).merge(truth, on="path")
    written = written[written["action"] == "write"]
    non_music_written = int((written["kind"] != "music").sum())
    audio_same = all(
        np.array_equal(audio.load_with_rate(p, None)[0], decoded[p]) for p in written["path"]
    )
    genres_there = all(tag_io.read_tags(p).genres == [g] for p, g in zip(written["path"], written["proposed"], strict=True))  # fmt: skip
    again = json_rows(run([*CLI, "tag", str(lib), "--env", "library", "--json", "--write",
                           "--journal", str(journal)], env=env).stdout)  # fmt: skip
    rewritten = sum(r.get("action") == "write" for r in again)
    run([*CLI, "tag", "--undo", str(journal)], env=env)
    identical = sum(Path(p).read_bytes() == data for p, data in before.items())

    # 5. familiarity: real music unseen by the model, odd families leave-one-family-out
    real, lofo = familiarity_figures(plan, truth, lib)

    print()
    print(f"library: {len(truth)} files ({len(music)} music, {len(truth) - len(music)} not music), "
          f"{len(untagged)} untagged music files, {len(planted)} planted wrong tags")  # fmt: skip
    print(f"accuracy on the untagged files: library path {library_accuracy:.3f}, folder path "
          f"{folder_accuracy:.3f} (difference {100 * (library_accuracy - folder_accuracy):+.1f} points; "
          f"target within 3)")  # fmt: skip
    print(f"planted wrong tags among the suspects: {len(planted & flagged)}/{len(planted)} = {found:.2f} "
          f"(target >= 0.5); suspects {len(flagged)}, of them planted {precision:.2f}")  # fmt: skip
    print(f"non-music files written: {non_music_written} (target 0); files written {len(written)}; "
          f"decoded audio unchanged: {audio_same}; genre read back: {genres_there}; "
          f"written again by the same command: {rewritten}")  # fmt: skip
    print(f"undo: {identical}/{len(before)} files byte-identical")
    print(f"real music flagged unfamiliar: {real['flagged']}/{real['files']} = {real['share']:.3f} "
          f"(target <= 0.05); by the check refitted here with every family: "
          f"{real['refit_flagged']}/{real['files']}")  # fmt: skip
    print(f"families shown: {', '.join(outlier_families())}")
    for family, share in lofo.items():
        print(f"  leave-one-family-out {family:13s} flagged {share:.2f}")
    overall = float(np.mean(list(lofo.values())))
    print(f"odd inputs flagged leave-one-family-out: {overall:.3f} (target >= 0.90)")


def outlier_families() -> tuple[str, ...]:
    from music_genre.modeling import outlier_exposure

    return outlier_exposure.FAMILIES


def familiarity_figures(plan: pd.DataFrame, truth: pd.DataFrame, lib: Path):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from music_genre.features import FeatureSettings
    from music_genre.modeling import familiarity
    from music_genre.serving import inference

    bootstrap_project(REPO_ROOT)
    with KedroSession.create(project_path=REPO_ROOT, env="library",
                             runtime_params={"dataset": {"root": str(lib)}}) as session:  # fmt: skip
        context = session.load_context()
        table = context.catalog.load("model_input_table")
        classifier = context.catalog.load("genre_classifier")
        params = context.params
    trained = set(table.loc[table["split"] == "training", "track_id"].astype(str))
    music = plan[plan["kind"] == "music"]
    track_ids = [Path(p).relative_to(lib).with_suffix("").as_posix() for p in music["path"]]
    real = music[[t not in trained for t in track_ids]]  # untagged, validation and test files
    real_flagged = int(real["unfamiliar"].fillna(False).astype(bool).sum())
    modeling = params["modeling"]
    settings = familiarity.settings(modeling.get("familiarity"))
    exposure = {
        **familiarity.DEFAULTS["outlier_exposure"],
        **(settings.get("outlier_exposure") or {}),
    }
    negatives = familiarity.synthesized_negatives(classifier.feature_settings, exposure, seed=42)
    feature_settings = FeatureSettings.from_dict(classifier.feature_settings)
    windowing = inference.windowing_settings(params.get("inference") or {})
    train = table[table["split"] == "training"]
    valid = table[table["split"] == "validation"]

    def refit(held_out):
        return familiarity.fit_familiarity(
            train, valid, classifier.feature_columns, float(settings["flag_share"]), 42,
            neighbours=int(settings["neighbours"]), components=int(settings["components"]),
            negatives=negatives[negatives["family"] != held_out],
            min_probability=float(exposure["min_probability"]),
        )  # fmt: skip

    def flags_of(stats, paths):
        flags = []
        for path in paths:
            try:
                rows, _ = inference.window_features(path, feature_settings, windowing)
            except Exception:  # silent: refused before the model, never tagged
                flags.append(True)
                continue
            mean = rows[classifier.feature_columns].astype("float64").mean(axis=0)
            score = familiarity.familiarity_scores(stats, pd.DataFrame([mean]))[0]
            flags.append(bool(familiarity.is_unfamiliar(score)))
        return flags

    lofo = {}
    for family in sorted(set(truth["kind"]) - {"music"}):
        lofo[family] = float(
            np.mean(flags_of(refit(family), truth.loc[truth["kind"] == family, "path"]))
        )
    # the check refitted here with every family (this checkout's families) on the same real music
    refit_flagged = int(np.sum(flags_of(refit(None), real["path"])))
    share = real_flagged / max(1, len(real))
    return {"flagged": real_flagged, "files": len(real), "share": share,
            "refit_flagged": refit_flagged}, lofo  # fmt: skip


if __name__ == "__main__":
    main()
