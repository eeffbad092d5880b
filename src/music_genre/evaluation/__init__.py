"""Evaluation: the report a researcher reads."""
