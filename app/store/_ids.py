"""Finding a row by the short id prefix a person types (`flightdeck show 3f9a`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

MIN_PREFIX = 4
_SHOWN = 5  # candidates listed when a prefix is ambiguous


def resolve_prefix(s: Session, column: InstrumentedAttribute[str], text: str, noun: str) -> str:
    """The full id matching `text` exactly, or the one id starting with it (≥ MIN_PREFIX chars).

    Raises LookupError with a message meant for the person who typed it.
    """
    wanted = text.strip().lower()  # ids are lowercase hex; people paste them in any case
    if not wanted:
        raise LookupError(f"no {noun} id given")
    if s.scalar(select(column).where(column == wanted)) is not None:
        return wanted
    if len(wanted) < MIN_PREFIX:
        raise LookupError(f"no {noun} has id {text!r}; a prefix must be at least {MIN_PREFIX} characters")
    # autoescape: a '%' or '_' typed by someone is a character, not a wildcard.
    query = select(column).where(column.startswith(wanted, autoescape=True))
    matches = list(s.scalars(query.order_by(column).limit(_SHOWN + 1)))
    if not matches:
        raise LookupError(f"no {noun} id starts with {text!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:_SHOWN]) + (", …" if len(matches) > _SHOWN else "")
        raise LookupError(f"{text!r} matches several {noun}s ({shown}); type more characters")
    return matches[0]
