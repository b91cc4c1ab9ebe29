"""Which actions count as irreversible: the approval policy's rules (pure; DESIGN.md "Plan").

A step declared `irreversible` always needs an approval. A `write` step is also recognised as
irreversible when what it is about to press looks like it: the words on the button or link,
the method of the form it submits, or the URL it will send to. The engine reads those facts
from the page before the action (nothing fires while it looks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.task.expectations import match_pattern

# Words that, on a button or link, announce something that cannot be taken back.
DEFAULT_WORDS: tuple[str, ...] = (
    "delete",
    "remove",
    "pay",
    "buy",
    "purchase",
    "order",
    "checkout",
    "send",
    "publish",
    "submit",
    "confirm",
    "transfer",
    "cancel subscription",
    "unsubscribe",
    "close account",
    "destroy",
    "wipe",
)
# HTML forms only GET and POST; frameworks tunnel the rest through a hidden `_method` field.
DEFAULT_FORM_METHODS: tuple[str, ...] = ("DELETE",)


@dataclass(frozen=True)
class ActionFacts:
    """What the page says about the element an action will press."""

    text: str = ""
    form_method: str | None = None  # the effective method (a `_method` field already applied)
    urls: tuple[str, ...] = ()  # link href, form action, requests the step expects


def word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Whole words, any case: "Pay now" and "Delete invoice" match; "Payment history",
    "Display" and "Reorder columns" do not."""
    alternatives = "|".join(re.escape(w.strip()).replace(r"\ ", r"\s+") for w in words if w.strip())
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def recognise(
    facts: ActionFacts,
    *,
    words: Iterable[str],
    form_methods: Iterable[str],
    urls: Iterable[str],
    base_url: str | None = None,
) -> str | None:
    """The reason this action counts as irreversible, or None."""
    words = list(words)
    if words and facts.text:
        found = word_pattern(words).search(facts.text)
        if found:
            return f"its text says {found.group(0)!r}"
    methods = {m.upper() for m in form_methods}
    if facts.form_method and facts.form_method.upper() in methods:
        return f"it submits a {facts.form_method.upper()} form"
    for pattern in urls:
        for url in facts.urls:
            if url and match_pattern(pattern, url, base_url):
                return f"it sends to {url} (matches {pattern!r})"
    return None
