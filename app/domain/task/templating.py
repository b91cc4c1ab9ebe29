"""`{{ name }}` templating of inputs and extracted outputs into later steps.

Deliberately tiny (no expressions, no filters): task files come from agents and people,
and a template language that can run code is an attack surface we do not need.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")


class TemplateError(Exception):
    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing  # the undefined name (an input the run may still be given)


def references(text: str) -> Iterator[str]:
    for match in TEMPLATE.finditer(text):
        yield match.group(1)


def has_references(text: str) -> bool:
    return TEMPLATE.search(text) is not None


def lookup(ref: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    scope, _, name = ref.partition(".")
    if name:
        table = {"inputs": inputs, "outputs": outputs}.get(scope)
        if table is None:
            raise TemplateError(f"'{{{{ {ref} }}}}': use inputs.NAME or outputs.NAME")
        if name not in table:
            raise TemplateError(f"'{{{{ {ref} }}}}' is not defined", name if scope == "inputs" else None)
        return table[name]
    if ref in inputs:
        return inputs[ref]
    if ref in outputs:
        return outputs[ref]
    raise TemplateError(f"'{{{{ {ref} }}}}' is not defined", ref)


def render(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (recursively through lists and dicts)."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip())
        if whole and value.strip() == value:
            # A lone reference keeps its type (a number stays a number).
            found = lookup(whole.group(1), inputs, outputs)
            return found if not isinstance(found, (dict, list)) else str(found)
        return TEMPLATE.sub(lambda m: _text(lookup(m.group(1), inputs, outputs)), value)
    if isinstance(value, list):
        return [render(v, inputs, outputs) for v in value]
    if isinstance(value, dict):
        return {k: render(v, inputs, outputs) for k, v in value.items()}
    return value


def render_text(text: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> str:
    """`text` with every reference rendered, always a string (a lone `{{ count }}` too): for
    what is read by people, such as a step's description."""
    return TEMPLATE.sub(lambda m: _text(lookup(m.group(1), inputs, outputs)), text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
