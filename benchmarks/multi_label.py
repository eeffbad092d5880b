"""How much does the multi-label task add over one genre per track, and do the tuned thresholds help?

    kedro run --params=modeling.task=multi_label   # first: features for every track, multi-genre included
    python benchmarks/multi_label.py               # then this, from the project root

On the run's ``model_input_table`` (training, validation and test tracks pooled; the new releases stay
out), repeated k-fold cross-validation stratified by each track's main genre. In every fold 15% of the
training part is set aside as the validation part (LightGBM's early stopping, the thresholds), exactly as
``music_genre.modeling.tasks.multi_label.training.train_tag_classifier`` uses the validation split. For each model type it
prints, mean +- std over folds, Jaccard (samples), Hamming loss, micro F1, macro average precision and
the predicted genres per track, for:

- ``tags, tuned``: the project's multi-label model (thresholds F1-tuned, pulled towards 0.5);
- ``tags, tuned raw``: the same probabilities, thresholds F1-tuned with no pull (``prior_tracks: 0``);
- ``tags, 0.5``: the same probabilities cut at 0.5 (at least one genre per track);
- ``one genre``: the single-label model of the same type, its top genre as the tag set;
- ``label frequency``: the baseline the registration gate compares with.

and the Jaccard on the multi-genre tracks alone, where one genre per track cannot be fully right.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--models", default="lightgbm,logistic_regression,svm,random_forest", help="comma-separated"
    )
    args = parser.parse_args()

    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

    from music_genre.modeling import training
    from music_genre.modeling.artifact import TagClassifier
    from music_genre.modeling.tasks.multi_label.labels import choose_labels, tag_matrix
    from music_genre.modeling.tasks.multi_label.metrics import frequency_baseline, tag_metrics
    from music_genre.modeling.tasks.multi_label.training import fit_label_models, tune_thresholds

    table_path = REPO_ROOT / f"data/05_model_input/{args.dataset}/model_input_table.parquet"
    table = pd.read_parquet(table_path)
    if "genres_all" not in table:
        print(f"{table_path} has no genres_all: run `kedro run --params=modeling.task=multi_label`")
        return 1
    modeling = yaml.safe_load((REPO_ROOT / "conf/base/parameters_modeling.yml").read_text())[
        "modeling"
    ]
    settings = modeling["multi_label"]["thresholds"]
    table = table.reset_index(drop=True)
    labels = choose_labels(table, modeling["multi_label"])
    true_all = tag_matrix(table, labels)
    multi = true_all.sum(axis=1) >= 2
    print(
        f"{args.dataset}: {len(table)} tracks, {len(labels)} genres, {int(multi.sum())} with 2+ "
        f"genres; {args.folds}-fold x {args.repeats}, stratified by main genre"
    )
    splitter = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=42)
    results: list[dict] = []
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(table, table["genre"])):
        fit_rows, valid_rows = train_test_split(
            fit_rows, test_size=0.15, random_state=fold, stratify=table["genre"].iloc[fit_rows]
        )
        fold_table = table.copy()
        fold_table["split"] = "test"
        fold_table.loc[fit_rows, "split"] = "training"
        fold_table.loc[valid_rows, "split"] = "validation"
        held = fold_table.iloc[held_rows]
        valid = fold_table.iloc[valid_rows]
        true = true_all[held_rows]
        base_proba, base_tags = frequency_baseline(true_all[fit_rows], len(held_rows))
        results.append(
            _row(
                "-",
                "label frequency",
                fold,
                tag_metrics(true, base_proba, base_tags),
                true,
                base_tags,
                0.0,
            )  # fmt: skip
        )
        for model_type in args.models.split(","):
            params = modeling["hyperparameters"][model_type]
            started = time.perf_counter()
            models = fit_label_models(fold_table, labels, model_type, params, seed=42)
            seconds = time.perf_counter() - started
            model = TagClassifier(model_type, list(labels), models, {g: 0.5 for g in labels},
                                  training.feature_columns(fold_table))  # fmt: skip
            valid_proba = model.predict_proba(valid)
            proba = model.predict_proba(held)
            for name, prior in (("tags, tuned", settings.get("prior_tracks", 10)),
                                ("tags, tuned raw", 0), ("tags, 0.5", None)):  # fmt: skip
                if prior is None:
                    model.thresholds = {g: 0.5 for g in labels}
                else:
                    model.thresholds, _ = tune_thresholds(
                        tag_matrix(valid, labels), valid_proba, labels,
                        {**settings, "prior_tracks": prior},
                    )  # fmt: skip
                tags = model.tags_from_proba(proba)
                results.append(
                    _row(
                        model_type, name, fold, tag_metrics(true, proba, tags), true, tags, seconds
                    )
                )
            started = time.perf_counter()
            single = training.train_classifier(fold_table, model_type, params, seed=42)
            seconds = time.perf_counter() - started
            single_proba = single.predict_proba(held)
            one = np.zeros_like(true)
            columns = [labels.index(g) if g in labels else -1 for g in single.classes]
            for i, j in enumerate(np.argmax(single_proba, axis=1)):
                if columns[j] >= 0:
                    one[i, columns[j]] = True
            score = np.zeros_like(proba)  # the single-label probabilities, as tag scores
            for j, column in enumerate(columns):
                if column >= 0:
                    score[:, column] = single_proba[:, j]
            results.append(
                _row(
                    model_type, "one genre", fold, tag_metrics(true, score, one), true, one, seconds
                )  # fmt: skip
            )
        print(f"fold {fold + 1}/{args.folds * args.repeats} done", file=sys.stderr)

    frame = pd.DataFrame(results)
    columns = ["jaccard", "hamming_loss", "f1_micro", "average_precision_macro",
               "cardinality_predicted", "jaccard_multi", "fit_seconds"]  # fmt: skip
    summary = frame.groupby(["model", "variant"], sort=False)[columns].agg(["mean", "std"])
    print()
    header = f"{'model':<20} {'variant':<16} " + " ".join(f"{c:>17}" for c in columns)
    print(header)
    for (model, variant), row in summary.iterrows():
        cells = " ".join(f"{row[(c, 'mean')]:>9.3f} +- {row[(c, 'std')]:.3f}" for c in columns)
        print(f"{model:<20} {variant:<16} {cells}")
    print(f"\ntrue genres per track: {true_all.sum(axis=1).mean():.2f}")
    return 0


def _row(model, variant, fold, metrics, true, predicted, seconds) -> dict:
    multi = true.sum(axis=1) >= 2
    inter = (true & predicted).sum(axis=1)
    union = (true | predicted).sum(axis=1)
    return {
        "model": model,
        "variant": variant,
        "fold": fold,
        **metrics,
        "jaccard_multi": float(np.mean(inter[multi] / union[multi])) if multi.any() else np.nan,
        "fit_seconds": seconds,
    }


if __name__ == "__main__":
    sys.exit(main())
