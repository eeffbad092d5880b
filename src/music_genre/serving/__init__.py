"""Serving: inference, the command line, the page, the served model's input rules, the run summary."""
