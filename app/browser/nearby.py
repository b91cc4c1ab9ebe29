"""What was there instead: the passage of a page closest to a text that was expected, and how
close a name found on the page is to the one a target asked for. Used to explain a failed check
and a missing target with what the page does show (plain text work, no page access here)."""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher

_WORD = re.compile(r"\w+")
_ESCAPE = re.compile(r"\\.")  # \b, \s, \d… in a pattern are not words of its text
# Windows compared character by character once the word counts chose them: enough to find the
# best of many equally good ones (a list of similar rows), few enough to stay fast on a long page.
_REFINED = 40


def squash(text: str) -> str:
    return " ".join(text.split())


def normalized(text: str) -> str:
    """Case, punctuation and spacing aside: "– Delete" and "delete" are the same name."""
    return " ".join(_WORD.findall(text.casefold()))


def similarity(wanted: str, found: str) -> float:
    """0..1: how close a name on the page is to the one asked for. Equal once case, punctuation
    and spacing are set aside → 1; one inside the other ("Delete" in "Delete invoice") counts
    more than a plain character ratio would give it."""
    a, b = normalized(wanted), normalized(found)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    ratio = SequenceMatcher(None, a, b, autojunk=False).ratio()
    if a in b or b in a:
        short, long = sorted((len(a), len(b)))
        ratio = max(ratio, 0.6 + 0.35 * short / long)
    return ratio


def pattern_words(pattern: str) -> str:
    """The words of a regular expression's literal text (its escapes are not words)."""
    return " ".join(_WORD.findall(_ESCAPE.sub(" ", pattern)))


def closest_passage(text: str, expected: str, width: int) -> tuple[str, bool]:
    """The part of `text` (whitespace squashed) most like `expected`, with what surrounds it,
    about `width` characters, "…" where it was cut. The flag says whether anything like
    `expected` was found; if not, the passage is the beginning of the text."""
    text = squash(text)
    if len(text) <= width:
        return text, _span(text, expected) is not None
    span = _span(text, expected)
    if span is None:
        return _cut(text, 0, width), False
    start, end = span
    room = max(0, width - (end - start))
    start, end = max(0, start - room // 2), min(len(text), end + room - room // 2)
    if end - start < width:  # near an end of the text: use the room on the other side
        start, end = max(0, end - width), min(len(text), start + width)
    return _cut(text, start, end), True


def _span(text: str, expected: str) -> tuple[int, int] | None:
    """Where in `text` the words of `expected` come closest together, or None."""
    needle = squash(expected)
    if not needle:
        return None
    at = text.casefold().find(needle.casefold())
    if at >= 0:
        return at, at + len(needle)
    wanted = set(_WORD.findall(needle.casefold()))
    words = [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]
    if not wanted or not words:
        return None
    size = max(2 * len(wanted), len(wanted) + 4)  # room for a few words between them
    hits: Counter[str] = Counter()
    best = 0
    ends: list[int] = []  # windows (by their last word) that hold the most of the words
    for i, (_, _, word) in enumerate(words):
        if i >= size:
            old = words[i - size][2]
            if old in wanted:
                hits[old] -= 1
                if not hits[old]:
                    del hits[old]
        if word not in wanted:
            continue  # a window is judged where it ends on a word of `expected`
        hits[word] += 1
        if len(hits) > best:
            best, ends = len(hits), [i]
        elif len(hits) == best and len(ends) < _REFINED:
            ends.append(i)
    if best == 0:
        return None

    def tight(last: int) -> tuple[int, int]:
        inside = [w for w in words[max(0, last - size + 1) : last + 1] if w[2] in wanted]
        return inside[0][0], inside[-1][1]

    folded = needle.casefold()
    return max(
        dict.fromkeys(tight(last) for last in ends),
        key=lambda s: SequenceMatcher(None, text[s[0] : s[1]].casefold(), folded, autojunk=False).ratio(),
    )


def _cut(text: str, start: int, end: int) -> str:
    """text[start:end] on word boundaries, with "…" where something was left out."""
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")
