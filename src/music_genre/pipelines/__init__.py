"""Kedro's pipelines: one folder per pipeline, thin nodes over the stage folders (and ``served_model``, the
MLflow model logged with every training run). The frame may import every layer below it."""
