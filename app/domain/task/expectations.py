"""Expectations: the proof that a step worked. All listed conditions must hold."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.task.targets import Target


def _listify(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class TextCheck(BaseModel):
    """Text of a target (or of the whole page when no target): contains by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: Target | None = None
    contains: str | None = None
    equals: str | None = None
    matches: str | None = None  # regular expression

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"contains": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one(self) -> TextCheck:
        given = [k for k in ("contains", "equals", "matches") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of contains, equals, matches")
        if self.matches is not None:
            _compile(self.matches)
        return self


class ValueCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target: Target
    equals: str


class CountCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target: Target
    equals: int | None = None
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _some(self) -> CountCheck:
        if self.equals is None and self.min is None and self.max is None:
            raise ValueError("give equals, min or max")
        return self


class StatusRange(BaseModel):
    model_config = ConfigDict(frozen=True)
    low: int
    high: int

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return data
        if isinstance(data, int):
            return {"low": data, "high": data}
        if isinstance(data, str):
            text = data.strip().lower()
            if re.fullmatch(r"[1-5]xx", text):
                base = int(text[0]) * 100
                return {"low": base, "high": base + 99}
            if re.fullmatch(r"\d{3}", text):
                return {"low": int(text), "high": int(text)}
            found = re.fullmatch(r"(\d{3})\s*-\s*(\d{3})", text)
            if found:
                return {"low": int(found.group(1)), "high": int(found.group(2))}
        raise ValueError("a status is 201, '2xx' or '200-299'")

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and self.low <= status <= self.high

    def describe(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


class RequestCheck(BaseModel):
    """A request the step must have triggered: method, url pattern, status range."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str  # glob (**/api/order), regex (re:...), or path/absolute URL
    method: str | None = None
    status: StatusRange = Field(default_factory=lambda: StatusRange(low=200, high=399))

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None  # exact (relative to site), glob with *, or re:REGEX
    title: str | None = None  # exact, glob with *, or re:REGEX
    visible: list[Target] = []
    hidden: list[Target] = []
    text: list[TextCheck] = []
    value: list[ValueCheck] = []
    checked: list[Target] = []
    unchecked: list[Target] = []
    count: list[CountCheck] = []
    request: list[RequestCheck] = []
    js: list[str] = []  # JavaScript expressions/functions that must return truthy
    after_reload: AfterReload | None = None

    _lists = field_validator(
        "visible",
        "hidden",
        "text",
        "value",
        "checked",
        "unchecked",
        "count",
        "request",
        "js",
        mode="before",
    )(_listify)

    def is_empty(self) -> bool:
        return not any(
            [
                self.url,
                self.title,
                self.visible,
                self.hidden,
                self.text,
                self.value,
                self.checked,
                self.unchecked,
                self.count,
                self.request,
                self.js,
                self.after_reload,
            ]
        )

    def needs_page_change(self) -> bool:
        return bool(self.url or self.request)


class AfterReload(Expectation):
    """Reload (or navigate to `goto`), then check: proves the change persisted server-side."""

    goto: str | None = None


Expectation.model_rebuild()


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc


def match_pattern(pattern: str, actual: str, base_url: str | None = None) -> bool:
    """Match a url/title pattern: `re:REGEX`, a glob containing `*`, or exact text.

    A relative url pattern ("/notes") is resolved against the site.
    """
    if pattern.startswith("re:"):
        return _compile(pattern[3:]).search(actual) is not None
    if base_url and pattern.startswith("/"):
        pattern = base_url.rstrip("/") + pattern
    if "*" in pattern or "?" in pattern:
        return glob_regex(pattern).fullmatch(actual) is not None
    return actual == pattern or actual.rstrip("/") == pattern.rstrip("/")


def request_url_matches(pattern: str, url: str, base_url: str | None) -> bool:
    """Whether a request's URL matches a pattern of an expectation (or of a policy's list of
    background requests)."""
    if match_pattern(pattern, url, base_url):
        return True
    # "/api/order" should match "/api/order?x=1": compare without the query unless the pattern
    # speaks about one.
    if "?" not in pattern and not pattern.startswith("re:"):
        parts = urlsplit(url)
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return match_pattern(pattern, bare, base_url)
    return False


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Playwright-style URL glob: `**` any characters, `*` any except '/', `?` literal."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
