"""Watching the model in service: new-release batches, drift and quality reports, champion and challenger.

Plain pandas (Evidently and MLflow imported inside functions); the inference, monitoring and retraining
pipelines' nodes call these modules.
"""
