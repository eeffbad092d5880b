"""``--params KEY=VALUE,...``: the text a person types, read as ``kedro run --params`` reads it."""

from __future__ import annotations


def parse_params(text: str | None) -> dict:
    """``a.b=1,c=x`` -> ``{"a.b": 1, "c": "x"}`` (values read as YAML, as Kedro does)."""
    import yaml

    from music_genre.common.errors import ExpectedError

    parsed = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExpectedError(f"--params {item!r}: write KEY=VALUE (several separated by commas)")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return parsed


def nested_params(params: dict | None) -> dict:
    """``{"inference.batch": x}`` -> ``{"inference": {"batch": x}}``, as ``kedro run --params`` does."""
    tree: dict = {}
    for key, value in (params or {}).items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
