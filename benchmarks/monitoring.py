"""Does monitoring tell new music of the training kind from music it was not trained on?

    kedro run                          # first: the built-in sample, trained (new releases held out)
    python benchmarks/monitoring.py    # then this, from the project root

For the project's serving model (the champion, else the newest), with the monitoring pipeline's own
functions (Evidently inside), it prints for every held-out new-release batch, for the real GTZAN clips of
``../shared/data/gtzan_subset`` and for the sample's test clips degraded (300 Hz low-pass, loud noise): the
share of drifted columns under both ``monitoring.drift.columns`` choices (principal components, the model's
top features), the decision, and the seconds one monitoring report takes. A batch's features are computed
with ``inference.predict_files_with_features``, as the batch pipeline does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def batch_frames(paths, classifier):
    from music_genre.data import audio
    from music_genre.serving import inference

    predictions, features = inference.predict_files_with_features(paths, classifier)
    rows = predictions[predictions["error_reason"].isna()].copy()
    rows["fingerprint"] = [audio.fingerprint(p) for p in rows["path"]]
    features.insert(1, "fingerprint", [audio.fingerprint(p) for p in features["path"]])
    features.insert(2, "feature_digest", classifier.feature_digest)
    return rows.reset_index(drop=True), features


def degraded_copies(paths, folder: Path) -> list[str]:
    import soundfile as sf
    from scipy.signal import butter, sosfilt

    from music_genre.data import audio

    out = []
    for i, path in enumerate(paths):
        signal, rate = audio.load_with_rate(path, None)
        low = sosfilt(butter(8, 300, fs=rate, output="sos"), signal)
        noise = np.random.default_rng(i).normal(0, 0.3, len(low))
        target = folder / f"degraded{i:02d}.wav"
        sf.write(target, (0.5 * low + noise).astype("float32"), rate)
        out.append(str(target))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--gtzan", default=str(REPO_ROOT.parent / "shared/data/gtzan_subset"))
    args = parser.parse_args()

    from music_genre.data import audio
    from music_genre.modeling import store as model_store
    from music_genre.monitoring import batches, drift

    data = REPO_ROOT / "data"
    params = yaml.safe_load((REPO_ROOT / "conf/base/parameters_monitoring.yml").read_text())[
        "monitoring"
    ]
    classifier = model_store.load_from_catalog(REPO_ROOT, None).classifier
    table = pd.read_parquet(data / "05_model_input" / args.dataset / "model_input_table.parquet")
    new_releases = pd.read_parquet(data / "03_primary" / args.dataset / "new_releases.parquet")
    manifest = pd.read_parquet(data / "03_primary" / args.dataset / "manifest.parquet")
    reference = drift.reference_frame(table, classifier, params["reference_splits"])
    print(
        f"model {classifier.version} ({classifier.model_type}, {classifier.feature_digest}); "
        f"reference: {len(reference)} tracks of {params['reference_splits']}"
    )

    cases = [
        (f"held-out {b}", new_releases.loc[new_releases["batch"] == b, "path"].tolist())
        for b in sorted(new_releases["batch"].unique())
    ]
    gtzan = Path(args.gtzan)
    if gtzan.is_dir():
        cases.append(("GTZAN (real clips)", [str(p) for p in audio.find_audio_files(gtzan)]))
    tmp = tempfile.TemporaryDirectory()
    test_paths = manifest.loc[manifest["split"] == "test", "path"].head(12).tolist()
    cases.append(("degraded sample clips", degraded_copies(test_paths, Path(tmp.name))))

    print(
        f"{'batch':<28} {'tracks':>6} {'drift (pca)':>12} {'drift (importance)':>19} "
        f"{'decision (pca)':>15} {'report s':>9}"
    )
    for name, paths in cases:
        rows, features = batch_frames(paths, classifier)
        labels = batches.batch_labels(rows, new_releases, manifest, None)
        current = drift.current_frame(rows, features, classifier, labels)
        shares, seconds, decision = {}, 0.0, None
        for how in ("pca", "importance"):
            settings = {**params["drift"], "columns": how}
            ref, cur, columns, _ = drift.drift_columns(classifier, reference, current, settings)
            started = time.perf_counter()
            labels_known = drift.quality_section_possible(cur, classifier.classes)
            _, entries = drift.evidently_report(ref, cur, columns, labels_known, settings, name)
            metrics = drift.summarize_metrics(
                entries, ref, cur, columns, classifier.classes, settings
            )
            if how == "pca":
                seconds = time.perf_counter() - started
                decision = drift.decide(metrics, params)
            shares[how] = metrics["drift_share"]
        flag = "DRIFT" if decision["drift"] else "no drift"
        print(
            f"{name:<28} {len(current):>6} {shares['pca']:>12.2f} {shares['importance']:>19.2f} "
            f"{flag:>15} {seconds:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
