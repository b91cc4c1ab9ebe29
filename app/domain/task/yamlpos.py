"""YAML loading that remembers the line of every key and list item, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML into plain Python objects plus a map from path to 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(str(exc.problem or exc), line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), None) from exc
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")
    return _build(node, (), lines, constructor), lines


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], c: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = c.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise YamlSyntaxError("a key must be a plain value", key_node.start_mark.line + 1)
            if key in out:
                raise YamlSyntaxError(f"duplicate key '{key}'", key_node.start_mark.line + 1)
            child = (*path, str(key))
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, lines, c)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, c) for i, item in enumerate(node.value)]
    return c.construct_object(node, deep=True)


def line_for(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None
