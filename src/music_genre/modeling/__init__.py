"""Modeling: estimators, training, model choice, tuning, metrics, the saved artifact, the registry and promotion."""
