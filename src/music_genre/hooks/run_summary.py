"""What a run says first and last: its first console line and its summary block."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

from music_genre.common.run_logging import DETAIL

log = logging.getLogger(__name__)


def start_line(run_params: dict, pipeline, dataset: dict) -> str:
    """The run's first console line: what runs, on which data, in which environment.

    The stages are the registered pipelines whose nodes all run (``__default__`` names
    data_ingestion, feature_engineering, modeling and evaluation); a run cut with ``--from-nodes`` or
    ``--nodes`` counts its nodes instead."""
    from kedro.framework.project import pipelines

    order = {node: i for i, node in enumerate(pipeline.nodes)}  # Kedro's run order
    stages = []
    try:
        for name, registered in pipelines.items():
            nodes = set(registered.nodes)
            if name != "__default__" and nodes and nodes <= order.keys():
                stages.append((min(order[n] for n in nodes), name, nodes))
    except Exception:  # the registry could not be read: the node count alone
        stages = []
    # in the order they start; a registered pipeline that only repeats part of a bigger one listed
    # (sample_data within data_ingestion) is not named twice
    names = [n for _, n, nodes in sorted(stages) if not any(nodes < o for _, _, o in stages)]
    what = ", ".join(names) if names else "selected nodes"
    where = dataset.get("root")
    return (
        f"Run: {dataset.get('name', '?')} dataset{f' at {where}' if where else ''}, environment "
        f"{run_params.get('env') or 'local'}: {what} ({len(order)} nodes)"
    )


class RunSummaryHook:
    """Prints the run's summary block last (after MLflow and the registry): dataset, tracks used and
    excluded with reasons, the feature set and model, test scores, registered or not and why, where the
    report is and the next commands; for a batch inference run, what was scored. The words are
    :mod:`music_genre.serving.run_summary`'s; the paths the catalog's."""

    def __init__(self) -> None:
        self._env: str | None = None
        self._project: str | None = None
        self._catalog: dict = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = str(context.project_path)
        try:  # the catalog's configuration, resolved as the run's catalog is (its --params too)
            self._catalog = dict(context.config_loader["catalog"] or {})
        except Exception:  # no catalog: the summary names no file
            self._catalog = {}

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._env = run_params.get("env")
        from music_genre.common.run_logging import in_subrun

        try:
            dataset = dict(catalog.load("params:dataset") or {})
        except Exception:  # a pipeline without the dataset parameters
            dataset = {}
        log.info(
            start_line(run_params, pipeline, dataset),
            extra=DETAIL if in_subrun() else None,  # inside `music-genre daily`: the day says it
        )

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        from music_genre.common.catalog_paths import (
            configured_path,
            partition_path,
            shown_path,
        )

        outputs = pipeline.all_outputs()
        try:
            config = self._catalog
            if "model_metrics" in outputs:
                report = shown_path(configured_path(config, "evaluation_summary"), self._project)
                text = self._training(catalog, report)
            elif "monitoring_decision" in outputs:
                from music_genre.serving.run_summary import monitoring_summary, render

                metrics = catalog.load("monitoring_metrics")
                dataset = str((catalog.load("params:dataset") or {}).get("name", "?"))
                page = shown_path(
                    partition_path(config, "monitoring_report", f"report_{metrics['batch']}"),
                    self._project,
                )
                text = render(
                    f"music-genre monitoring: {dataset}",
                    monitoring_summary(metrics, catalog.load("monitoring_decision"), page),
                )
            elif "inference_report" in outputs:
                from music_genre.serving.run_summary import inference_summary, render

                report = dict(catalog.load("inference_report"))
                dataset = str((catalog.load("params:dataset") or {}).get("name", "?"))
                report["output"] = shown_path(configured_path(config, "predictions"), self._project)
                text = render(f"music-genre batch inference: {dataset}", inference_summary(report))
            else:
                return
        except Exception as err:  # a summary must never turn a good run into a failed one
            log.warning("Could not write the run summary: %s", err)
            return
        from music_genre.common.run_logging import console_print

        console_print("\n" + text)

    def _training(self, catalog, report_path: str | None) -> str:
        from music_genre.serving.run_summary import render, training_summary

        def optional(name):
            try:
                return catalog.load(name)
            except Exception:  # not produced by this run's pipelines, or never written
                return None

        dataset = str((optional("params:dataset") or {}).get("name", "?"))
        rows = training_summary(
            dataset=dataset,
            env=self._env,
            manifest=optional("manifest"),
            new_releases=optional("new_releases"),
            exclusions=optional("exclusions"),
            extraction_failures=optional("extraction_failures"),
            feature_settings=optional("feature_settings"),
            model_metrics=catalog.load("model_metrics"),
            registration=optional("model_registration"),
            report_path=report_path or "the evaluation report",
            serving_task=(optional("params:serving") or {}).get("task"),
            label_issue_summary=optional("label_issue_summary"),
        )
        return render(f"music-genre run: {dataset}", rows)
