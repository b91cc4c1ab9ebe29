"""Durations in task files: seconds as a number (`60`, `0.5`), or with units (`500ms`, `30s`,
`2m`, `1h30m`), the way people write them in configuration. Stored as float seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART_TEXT = r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)"  # a number and its unit: 1.5s, 30 m
_PART = re.compile(_PART_TEXT)
_WHOLE = re.compile(rf"\s*(?:{_PART_TEXT}\s*)+")

DURATION_HINT = "seconds as a number (60) or with units: 500ms, 30s, 2m, 1h30m"


def parse_duration(value: Any) -> Any:
    """Float seconds for a duration string; anything else is left for pydantic to judge (numbers
    pass, `null` stays `None`, other types get pydantic's own message)."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    if not _WHOLE.fullmatch(text):
        # Its own error type, so the loader's message can carry the hint as the fix.
        raise PydanticCustomError("duration", "'{value}' is not a duration", {"value": value})
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))


Seconds = Annotated[float, BeforeValidator(parse_duration)]
