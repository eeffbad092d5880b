"""Find a trained model: the environment's latest one from the Kedro catalog, a pickle file, or a version in
the MLflow Model Registry. Used by the CLI; cheap to import.

The catalog path reads the project's configuration with the project's own config loader and builds only the
data catalog (no Kedro session, no hooks, no MLflow import), so a prediction starts in about a second.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

from music_genre.common.errors import ExpectedError

MODEL_DATASET = "inference_model"  # the served task's champion, else its newest model
DEFAULT_TASK = "single_label"  # a model saved without a task attribute (music_genre.modeling.tasks)


class ModelNotFoundError(ExpectedError, LookupError):
    """No model where the user pointed: the message says how to get one."""


@dataclass
class LoadedModel:
    classifier: object
    source: str  # where it came from, for people
    version: (
        str  # the model's own version (GenreClassifier.version), the same the batch job records
    )


def find_project(start: str | os.PathLike | None = None) -> Path | None:
    from kedro.utils import find_kedro_project

    return find_kedro_project(Path(start or Path.cwd()).resolve())


def project_config(project: Path, env: str | None, runtime_params: dict | None = None):
    """The project's config loader, built as a Kedro session would (same settings, same environments;
    ``runtime_params`` as ``--params`` gives them, nested: ``{"modeling": {"task": "multi_label"}}``)."""
    from kedro.framework.project import configure_project, settings

    configure_project("music_genre")
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / settings.CONF_SOURCE),
        env=env,
        runtime_params=runtime_params,
        **settings.CONFIG_LOADER_ARGS,
    )


def _absolute(config: dict, project: Path) -> dict:
    """Catalog file paths (``filepath`` at any depth) relative to the project root, as Kedro's context
    makes them."""
    resolved = {}
    for name, entry in config.items():
        entry = dict(entry)
        filepath = entry.get("filepath")
        if isinstance(filepath, str) and "://" not in filepath and not Path(filepath).is_absolute():
            entry["filepath"] = str(project / filepath)
        entry.update(_absolute({k: v for k, v in entry.items() if isinstance(v, dict)}, project))
        resolved[name] = entry
    return resolved


def load_from_catalog(project: Path, env: str | None) -> LoadedModel:
    """The environment's serving model: the local copy of the champion of the task it serves
    (``serving.task``), else that task's newest trained model."""
    from kedro.io import DataCatalog
    from kedro.io.core import DatasetError

    from music_genre.modeling.tasks import task_of_params

    loader = project_config(project, env)
    try:
        task = task_of_params(loader["parameters"].get("serving"), "serving")
    except ExpectedError as err:
        raise ModelNotFoundError(str(err)) from err
    catalog = DataCatalog.from_config(
        _absolute({MODEL_DATASET: loader["catalog"][MODEL_DATASET]}, project)
    )
    env_name = env or "local"
    _import_lightgbm_without_sklearn()
    try:
        classifier = catalog.load(MODEL_DATASET)
    except (DatasetError, ModelNotFoundError) as err:
        flags = [*([f"--env={env}"] if env is not None else []), *filter(None, [task.run_params])]
        raise ModelNotFoundError(
            f"no trained {'' if task.name == DEFAULT_TASK else task.name + ' '}model for environment "
            f"'{env_name}' in {project}: train one with `{' '.join(['kedro run', *flags])}` "
            "(or pass --model FILE)"
        ) from err
    registry = classifier.info.get("registry") or {}
    if classifier.info.get("serving_role") == "champion":
        where = f"champion ({registry.get('name')} version {registry.get('version')})"
    else:
        where = "newest (no champion registered yet)"
    return LoadedModel(classifier, f"environment {env_name}, {where}", _version(classifier))


def load_from_file(path: str | os.PathLike) -> LoadedModel:
    """A pickle, or Kedro's versioned folder of one (``genre_classifier.pkl/<version>/genre_classifier.pkl``:
    the newest version)."""
    path = Path(path).expanduser()
    if path.is_dir():
        versions = sorted(path.glob(f"*/{path.name}"))
        if not versions:
            raise ModelNotFoundError(f"{path} is a folder without saved versions of {path.name}")
        path = versions[-1]
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} not found")
    classifier = _unpickle(path)
    return LoadedModel(classifier, str(path), _version(classifier))


def load_newest_of_task(path: str | os.PathLike, task: str) -> LoadedModel:
    """The newest version in Kedro's versioned folder (``genre_classifier.pkl/<version>/...``) whose model
    does ``task`` (its ``task`` attribute): the newest model of another task is skipped, so an experiment
    with another task never becomes what an environment serves."""
    path = Path(path).expanduser()
    versions = sorted(path.glob(f"*/{path.name}"), reverse=True) if path.is_dir() else [path]
    for candidate in versions:
        if not candidate.is_file():
            continue
        classifier = _unpickle(candidate)
        if (getattr(classifier, "task", None) or DEFAULT_TASK) == task:
            return LoadedModel(classifier, str(candidate), _version(classifier))
    raise ModelNotFoundError(f"no {task} model in {path}")


def load_from_registry(uri: str, project: Path | None) -> LoadedModel:
    """``models:/music-genre-sample/3`` or ``models:/music-genre-sample@champion``: the bundle inside the registered MLflow model."""
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri and project is None:
        # MLflow would otherwise open (and create) ./mlflow.db wherever the command runs.
        raise ModelNotFoundError(
            f"cannot look up {uri}: not inside the project and MLFLOW_TRACKING_URI is not set; pass "
            "--project /path/to/music-genre or set MLFLOW_TRACKING_URI to its tracking store"
        )
    if not tracking_uri:
        # the project's config loader anchors a relative sqlite:/// store at the project root
        tracking_uri = project_config(project, None)["mlflow"]["server"]["mlflow_tracking_uri"]
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as err:  # MLflow raises several types for an unknown name or version
        raise ModelNotFoundError(
            f"cannot fetch {uri} from the MLflow store {tracking_uri} (the project's, or "
            f"$MLFLOW_TRACKING_URI): {' '.join(str(err).split())}"
        ) from err
    for candidate in sorted(local.rglob("*.pkl")):
        try:
            classifier = _unpickle(candidate)
        except Exception:  # parameters and other artifacts are pickles too
            continue
        if hasattr(classifier, "predict_proba") and hasattr(classifier, "feature_settings"):
            _mark_registered(classifier, uri)
            return LoadedModel(classifier, uri, _version(classifier))
    raise ModelNotFoundError(f"{uri} holds no music-genre classifier")


def _mark_registered(classifier, uri: str) -> None:
    """Record in the loaded model which registered version it is (``models:/name/3``, or the version an
    alias points to, the alias being its role), so that its header names it: the pickle inside a registered
    MLflow model was saved before it was registered."""
    name, at, alias = uri.removeprefix("models:/").partition("@")
    if at:
        from mlflow import MlflowClient

        try:
            version = MlflowClient().get_model_version_by_alias(name, alias).version
        except Exception:  # the artifacts were found: only the header loses the version
            return
        classifier.info["serving_role"] = alias
    else:
        name, _, version = name.partition("/")  # a number, or a word MLflow resolves (latest)
    number = int(version) if str(version).isdigit() else version
    classifier.info["registry"] = {"name": name, "version": number}


def load_model(model: str | None, env: str | None, project: Path | None) -> LoadedModel:
    if model and model.startswith("models:/"):
        return load_from_registry(model, project)
    if model:
        return load_from_file(model)
    if project is None:
        raise ModelNotFoundError(
            "not inside the music-genre project, so there is no catalog to take the model from: run this "
            "from the project folder or pass --project /path/to/music-genre; or name the model: --model "
            "FILE, or --model models:/music-genre-<dataset>@champion with --project (or $MLFLOW_TRACKING_URI)"
        )
    return load_from_catalog(project, env)


def _import_lightgbm_without_sklearn() -> None:
    """Import LightGBM without the scikit-learn it pulls in for its sklearn-style wrappers (over a second
    of a cold start, mostly scipy.stats): a pickled Booster needs none of it. A model that is itself a
    scikit-learn estimator still imports scikit-learn normally when it is unpickled."""
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment] - makes `import sklearn` fail fast
    try:
        import lightgbm  # noqa: F401
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        pass
    finally:
        del sys.modules["sklearn"]


def _unpickle(path: Path):
    """The model in ``path``; a file this version cannot read (a class it does not have, a newer format)
    is one ModelNotFoundError line naming the file."""
    from music_genre.modeling.artifact import ARTIFACT_FORMAT, artifact_format

    _import_lightgbm_without_sklearn()
    try:
        with open(path, "rb") as handle:
            model = pickle.load(handle)  # the user's own trained model
    except (AttributeError, ImportError, pickle.UnpicklingError, EOFError, TypeError) as err:
        raise ModelNotFoundError(
            f"{path} is not a model this music-genre can read ({type(err).__name__}: "
            f"{' '.join(str(err).split())}); a newer music-genre may have written it"
        ) from err
    if hasattr(model, "predict_proba") and artifact_format(model) > ARTIFACT_FORMAT:
        raise ModelNotFoundError(
            f"{path} is a model of format {artifact_format(model)}, written by a newer music-genre; this "
            f"one reads formats up to {ARTIFACT_FORMAT}: upgrade music-genre"
        )
    return model


def _version(classifier) -> str:
    return str(getattr(classifier, "version", "") or "unknown")
