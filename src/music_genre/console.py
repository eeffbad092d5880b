"""Command line (placeholder)."""


def main():  # pragma: no cover
    raise SystemExit("not implemented yet")
