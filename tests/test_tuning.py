"""Hyperparameter tuning on a real local Ray, with a real MLflow (SQLite) store.

The model input table is synthetic but learnable: 8 genres whose 30 features are gaussians shifted per
genre, so the validation logloss keeps falling over the boosting rounds and slow learners look poor at
ASHA's early rungs. One tuning run (8 trials, up to 60 rounds, a report every 5) serves most tests.

The trials run one at a time: ASHA compares each trial at a rung with the trials that reached it before,
so with two at once which trial stops depends on which result Ray happens to receive first. One at a time,
the order is the searcher's (seeded), each trial one LightGBM thread: the run is the same every time.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.training import chance_level
from music_genre.modeling.tuning import (
    TuningResult,
    log_trials_to_mlflow,
    search_space,
    tune_lightgbm,
)

from .stats import assert_beats_chance

pytestmark = pytest.mark.timeout(300)

GENRES = 8
TRACKS_PER_GENRE = 40  # 24 training, 8 validation, 8 test
FEATURES = 30
NUM_BOOST_ROUND = 60
REPORT_EVERY = 5
NUM_SAMPLES = 8
SPACE_SPEC = {
    "learning_rate": {"type": "loguniform", "low": 0.01, "high": 0.3},
    "num_leaves": {"type": "randint", "low": 4, "high": 31},
    "feature_fraction": {"type": "uniform", "low": 0.5, "high": 1.0},
    "min_child_samples": {"type": "randint", "low": 5, "high": 30},
    "lambda_l2": {"type": "loguniform", "low": 0.001, "high": 10.0},
    "bagging_fraction": {"type": "choice", "values": [0.7, 0.9, 1.0]},
}
TUNING = {
    "num_samples": NUM_SAMPLES,
    "max_concurrent_trials": 1,  # the order ASHA sees results in is the searcher's, not Ray's timing
    "num_boost_round": NUM_BOOST_ROUND,
    "report_every": REPORT_EVERY,
    "scheduler": {"grace_period": 1, "reduction_factor": 3},
    "search_alg": "optuna",
    "search_space": SPACE_SPEC,
    "trial_cpus": 1,
    "verbose": 0,
}
BASE_HYPERPARAMETERS = {
    "num_boost_round": 1000,
    "early_stopping_rounds": 20,
    "learning_rate": 0.05,
    "max_depth": -1,
}


def class_shifted_table(seed: int = 0) -> pd.DataFrame:
    """track_id, genre, split, f00..f29: each genre's features are gaussians around its own centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.6, size=(GENRES, FEATURES))
    splits = ["training"] * 24 + ["validation"] * 8 + ["test"] * 8
    frames = []
    for genre in range(GENRES):
        values = centres[genre] + rng.normal(0.0, 1.0, size=(TRACKS_PER_GENRE, FEATURES))
        frame = pd.DataFrame(values, columns=[f"f{j:02d}" for j in range(FEATURES)])
        frame.insert(0, "split", splits)
        frame.insert(0, "genre", f"genre_{genre}")
        frame.insert(0, "track_id", genre * 1000 + np.arange(TRACKS_PER_GENRE))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def ray_session():
    from music_genre.common.ray_runtime import start_ray, stop_ray

    started = start_ray({"num_cpus": 2})
    yield
    if started:
        stop_ray()


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return class_shifted_table()


@pytest.fixture(scope="module")
def tuning_storage(tmp_path_factory):
    return tmp_path_factory.mktemp("tune_storage")


@pytest.fixture(scope="module")
def tuned(ray_session, table, tuning_storage) -> TuningResult:
    return tune_lightgbm(
        table, TUNING, BASE_HYPERPARAMETERS, seed=7, storage_path=str(tuning_storage)
    )


@pytest.fixture
def mlflow_sqlite(tmp_path):
    """A throw-away SQLite tracking store; the previous tracking URI comes back afterwards."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous_uri = tracking_utils._tracking_uri
    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    # an earlier Kedro session in this process left its experiment active: it is not in this store
    mlflow.set_experiment("tuning-tests")
    try:
        yield uri
    finally:
        while mlflow.active_run():
            mlflow.end_run("FAILED")
        mlflow.set_tracking_uri(previous_uri)
        if previous_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


# --- search_space -----------------------------------------------------------------------------------


def test_search_space_builds_ray_domains_with_inclusive_integer_bounds():
    from ray.tune.search.sample import Categorical, Float, Integer

    space = search_space(SPACE_SPEC | {"max_bin": {"type": "lograndint", "low": 16, "high": 255}})

    assert isinstance(space["learning_rate"], Float)
    assert (space["learning_rate"].lower, space["learning_rate"].upper) == (0.01, 0.3)
    assert isinstance(space["feature_fraction"], Float)
    assert isinstance(space["num_leaves"], Integer)
    assert (space["num_leaves"].lower, space["num_leaves"].upper) == (4, 32)  # Ray excludes upper
    assert isinstance(space["bagging_fraction"], Categorical)
    assert space["bagging_fraction"].categories == [0.7, 0.9, 1.0]

    def draw(name):
        return np.asarray(space[name].sample(size=2000, random_state=np.random.default_rng(0)))

    leaves, rates, fractions, bins = (
        draw(name) for name in ("num_leaves", "learning_rate", "feature_fraction", "max_bin")
    )
    assert leaves.min() == 4 and leaves.max() == 31  # both ends reachable, nothing beyond
    assert 0.01 <= rates.min() and rates.max() <= 0.3
    # Log scales put half the draws below the geometric mean; uniform ones below the midpoint.
    assert np.median(rates) == pytest.approx(math.sqrt(0.01 * 0.3), rel=0.15)
    assert np.median(fractions) == pytest.approx(0.75, rel=0.05)
    assert np.median(bins) == pytest.approx(math.sqrt(16 * 256), rel=0.15)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"learning_rate": {"type": "gaussian", "low": 0, "high": 1}}, "unknown type 'gaussian'"),
        ({"learning_rate": 0.1}, "fixed values belong in the base hyperparameters"),
        ({"num_leaves": {"type": "randint", "low": 10}}, "needs 'low' and 'high'"),
        ({"num_leaves": {"type": "randint", "low": 10, "high": 5}}, "low 10 > high 5"),
        ({"lambda_l2": {"type": "loguniform", "low": 0.0, "high": 1.0}}, "needs low > 0"),
        ({"bagging_fraction": {"type": "choice", "values": []}}, "non-empty 'values'"),
    ],
)
def test_search_space_rejects_bad_entries(spec, message):
    with pytest.raises(ValueError, match=message):
        search_space(spec)


def test_bad_tuning_settings_fail_before_any_trial(ray_session, table):
    with pytest.raises(ValueError, match="unknown tuning settings"):
        tune_lightgbm(table, TUNING | {"num_trials": 3}, BASE_HYPERPARAMETERS)
    with pytest.raises(ValueError, match="is not reported"):
        tune_lightgbm(table, TUNING | {"metric": "validation_f1"}, BASE_HYPERPARAMETERS)
    with pytest.raises(ValueError, match="grace_period 20"):
        tune_lightgbm(table, TUNING | {"scheduler": {"grace_period": 20}}, BASE_HYPERPARAMETERS)


# --- tune_lightgbm ----------------------------------------------------------------------------------


def test_asha_stops_poor_trials_early_and_lets_the_best_run_to_the_end(tuned, table):
    """What ASHA guarantees whatever the configurations drawn: a trial is only stopped at a rung, and only
    when another trial did better there; the best trial at each rung passes it (nothing recorded beats it),
    so at least one trial (the best at the last rung) runs to the end. That some trial is stopped is not a
    guarantee but this run's fixed outcome (trials one at a time, seeded): that each of eight random
    configurations lands in the best third of those before it, at the first rung alone, has a chance of
    about 1 in 600."""
    trials = tuned.trials
    max_reports = NUM_BOOST_ROUND // REPORT_EVERY
    rungs = [1, 3, 9]  # grace_period (1) * reduction_factor (3) ** k, below max_reports

    assert len(trials) == NUM_SAMPLES
    assert (trials["status"] == "TERMINATED").all()
    # Each report is REPORT_EVERY rounds: the reports and the rounds trained agree.
    assert (trials["rounds_trained"] == trials["iterations_reported"] * REPORT_EVERY).all()
    assert [len(tuned.history[t]) for t in trials["trial_id"]] == list(
        trials["iterations_reported"]
    )

    stopped = trials[trials["stopped_early"]]
    finished = trials[~trials["stopped_early"]]
    assert len(stopped) >= 1, trials
    assert len(finished) >= 1, trials
    assert (stopped["rounds_trained"] < NUM_BOOST_ROUND).all()
    assert (stopped["iterations_reported"] < max_reports).all()
    assert (finished["rounds_trained"] == NUM_BOOST_ROUND).all()
    assert (finished["iterations_reported"] == max_reports).all()
    # ASHA only stops at a rung: after grace_period (1) * reduction_factor (3) ** k reports...
    assert set(stopped["iterations_reported"]) <= set(rungs)

    def loss_at(trial_id, reports):
        return tuned.history[trial_id][reports - 1][1]

    for rung in rungs:
        reached = trials[trials["iterations_reported"] >= rung]
        losses = {t: loss_at(t, rung) for t in reached["trial_id"]}
        # ...only a trial another one beat at that rung...
        for trial_id in reached.loc[reached["iterations_reported"] == rung, "trial_id"]:
            assert min(losses.values()) < losses[trial_id], (rung, trial_id, losses)
        # ...and never the best one there.
        best_here = min(losses, key=losses.get)
        reports = reached.set_index("trial_id")["iterations_reported"]
        assert reports[best_here] > rung, (rung, best_here, losses)

    # The data is learnable: every trial run to the end beats the majority answer on the validation split.
    valid = table.loc[table["split"] == "validation", "genre"]
    for trial_id in finished["trial_id"]:
        curve = tuned.history[trial_id]
        assert [r for r, *_ in curve] == list(
            range(REPORT_EVERY, NUM_BOOST_ROUND + 1, REPORT_EVERY)
        )
        hits = round(curve[-1][2] * len(valid))
        assert_beats_chance(
            hits, len(valid), chance_level(valid), f"trial {trial_id} on validation"
        )


def test_best_params_hold_the_best_trial_within_the_searched_ranges(tuned):
    trials = tuned.trials.set_index("trial_id")
    assert tuned.search_alg == "optuna"  # OptunaSearch works with the installed Optuna
    assert tuned.scheduler.startswith("asha(")
    assert tuned.metric == "validation_multi_logloss" and tuned.mode == "min"

    assert tuned.best_metric == pytest.approx(trials["best_validation_multi_logloss"].min())
    assert tuned.best_trial_id == trials["best_validation_multi_logloss"].idxmin()
    best = trials.loc[tuned.best_trial_id]
    # Its own reports hold the best value (whether ASHA let it finish is the run's luck: a trial stopped
    # at a late rung may have peaked before a finished one).
    assert tuned.best_metric == pytest.approx(min(loss for _, loss, _ in tuned.history[best.name]))
    assert best["best_round"] <= best["rounds_trained"]

    params = tuned.best_params
    assert sorted(tuned.searched_params) == sorted(SPACE_SPEC)
    for name in SPACE_SPEC:
        assert params[name] == best[name]
    assert 0.01 <= params["learning_rate"] <= 0.3
    assert isinstance(params["num_leaves"], int) and 4 <= params["num_leaves"] <= 31
    assert 0.5 <= params["feature_fraction"] <= 1.0
    assert isinstance(params["min_child_samples"], int) and 5 <= params["min_child_samples"] <= 30
    assert 0.001 <= params["lambda_l2"] <= 10.0
    assert params["bagging_fraction"] in (0.7, 0.9, 1.0)
    if params["bagging_fraction"] < 1.0:
        assert params["bagging_freq"] == 1  # or the searched fraction would change nothing
    # Base values not searched stay; rounds come from the best trial, on a report boundary.
    assert params["early_stopping_rounds"] == 20 and params["max_depth"] == -1
    assert params["num_boost_round"] % REPORT_EVERY == 0
    assert params["num_boost_round"] == int(best["best_round"])
    assert REPORT_EVERY <= params["num_boost_round"] <= NUM_BOOST_ROUND


def test_best_params_train_a_classifier_that_beats_chance(tuned, table):
    from music_genre.modeling.training import evaluate_classifier, train_classifier

    classifier = train_classifier(table, "lightgbm", tuned.best_params, seed=7)
    test = evaluate_classifier(classifier, table)["test"]

    assert test["n_tracks"] == GENRES * 8
    hits = round(test["accuracy"] * test["n_tracks"])
    chance = chance_level(table.loc[table["split"] == "test", "genre"])  # 1/8
    assert_beats_chance(hits, test["n_tracks"], chance, "tuned LightGBM on the test split")
    assert test["log_loss"] < math.log(GENRES)


def test_experiment_files_go_to_the_storage_path(tuned, tuning_storage):
    assert tuned.experiment_path is not None
    experiment = os.path.realpath(tuned.experiment_path)
    assert experiment.startswith(os.path.realpath(tuning_storage))
    assert os.path.isdir(experiment)
    trial_folders = [entry for entry in os.listdir(experiment) if entry.startswith("_train_trial")]
    assert len(trial_folders) == NUM_SAMPLES


def test_random_search_with_default_storage_leaves_nothing_behind(
    ray_session, table, tmp_path, monkeypatch
):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    small = TUNING | {
        "search_alg": "random",
        "num_samples": 2,
        "max_concurrent_trials": 1,  # one worker, reused
        "num_boost_round": 10,
        "metric": "validation_accuracy",
        "scheduler": {"grace_period": 2, "reduction_factor": 2},
    }
    result = tune_lightgbm(table, small, {}, seed=3)

    assert result.search_alg == "random"
    assert result.mode == "max"
    assert result.best_metric == pytest.approx(result.trials["best_validation_accuracy"].max())
    assert len(result.trials) == 2 and (result.trials["status"] == "TERMINATED").all()
    assert "early_stopping_rounds" not in result.best_params  # nothing invented beyond the base
    assert result.experiment_path is None
    assert list(tmp_path.iterdir()) == []


def test_trials_that_all_fail_raise_with_the_lightgbm_error(ray_session, table, monkeypatch):
    """The message is the project's, carrying the trial's own error (whose wording is LightGBM's: not
    checked); every trial is recorded as failed, with that error."""
    from music_genre.modeling import tuning

    real_row, rows = tuning._trial_row, []

    def recording_row(*args, **kwargs):
        rows.append(real_row(*args, **kwargs))
        return rows[-1]

    monkeypatch.setattr(tuning, "_trial_row", recording_row)
    broken = TUNING | {
        "search_alg": "random",
        "num_samples": 2,
        "num_boost_round": 5,
        "search_space": {"num_leaves": {"type": "choice", "values": [1]}},  # LightGBM needs > 1
    }
    own_message = r"^no tuning trial reported a result; first error: \S"
    with pytest.raises(RuntimeError, match=own_message) as raised:
        tune_lightgbm(table, broken, {})
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "ERROR" and row["iterations_reported"] == 0 and row["error"]
        assert not row["stopped_early"]
    assert str(raised.value).endswith(rows[0]["error"])


# --- MLflow -----------------------------------------------------------------------------------------


def test_trials_become_mlflow_child_runs_of_the_active_run(tuned, mlflow_sqlite):
    import mlflow
    from mlflow.tracking import MlflowClient

    with mlflow.start_run(run_name="kedro-run") as parent:
        child_ids = log_trials_to_mlflow(tuned)
    assert mlflow.active_run() is None

    client = MlflowClient()
    parent_id = parent.info.run_id
    assert len(child_ids) == NUM_SAMPLES
    found = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert sorted(run.info.run_id for run in found) == sorted(child_ids)

    for run_id, trial in zip(child_ids, tuned.trials.to_dict("records"), strict=True):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"trial-{trial['trial_id']}"
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["stopped_early"] == str(trial["stopped_early"]).lower()
        assert run.data.params == {name: str(trial[name]) for name in SPACE_SPEC}

        history = client.get_metric_history(run_id, "validation_multi_logloss")
        expected = tuned.history[trial["trial_id"]]
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
            (step, pytest.approx(loss)) for step, loss, _ in expected
        ]
        accuracy_steps = client.get_metric_history(run_id, "validation_accuracy")
        assert len(accuracy_steps) == len(expected)
        assert run.data.metrics["rounds_trained"] == trial["rounds_trained"]
        assert run.data.metrics["final_validation_multi_logloss"] == pytest.approx(expected[-1][1])
        if not trial["stopped_early"]:
            assert len(history) == NUM_BOOST_ROUND // REPORT_EVERY  # several steps

    best_run = client.get_run(child_ids[list(tuned.trials["trial_id"]).index(tuned.best_trial_id)])
    assert best_run.data.tags["tuning.is_best"] == "true"

    summary = client.get_run(parent_id).data
    assert summary.metrics["tuning.best_validation_multi_logloss"] == pytest.approx(
        tuned.best_metric
    )
    assert summary.metrics["tuning.trials"] == NUM_SAMPLES
    assert summary.metrics["tuning.stopped_early_trials"] == int(
        tuned.trials["stopped_early"].sum()
    )
    assert summary.metrics["tuning.best_num_boost_round"] == tuned.best_params["num_boost_round"]
    assert summary.tags["tuning.best_trial_id"] == tuned.best_trial_id


def test_explicit_parent_run_and_no_parent(tuned, mlflow_sqlite):
    import mlflow
    from mlflow.tracking import MlflowClient

    assert log_trials_to_mlflow(tuned) == []  # no active run: nothing logged, nothing opened
    assert mlflow.active_run() is None

    client = MlflowClient()
    experiment_id = client.create_experiment("tuning-elsewhere")
    parent = client.create_run(experiment_id, run_name="parent")
    child_ids = log_trials_to_mlflow(tuned, parent_run_id=parent.info.run_id)
    client.set_terminated(parent.info.run_id)

    assert len(child_ids) == NUM_SAMPLES
    for run_id in child_ids:
        run = client.get_run(run_id)
        assert run.info.experiment_id == experiment_id  # the parent's experiment by default
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    unfinished = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    assert unfinished == []


def test_failed_trials_become_failed_child_runs(tuned, mlflow_sqlite):
    import dataclasses

    import mlflow
    from mlflow.tracking import MlflowClient

    trials = tuned.trials.copy()
    trials.loc[0, ["status", "error"]] = ["ERROR", "LightGBMError: out of memory"]
    with_failure = dataclasses.replace(tuned, trials=trials)
    with mlflow.start_run() as parent:
        child_ids = log_trials_to_mlflow(with_failure)

    client = MlflowClient()
    failed = client.get_run(child_ids[0])
    assert failed.info.status == "FAILED"
    assert failed.data.tags["tuning.error"] == "LightGBMError: out of memory"
    assert {client.get_run(run_id).info.status for run_id in child_ids[1:]} == {"FINISHED"}
    assert client.get_run(parent.info.run_id).data.metrics["tuning.failed_trials"] == 1
