"""Errors the store raises on purpose."""

from __future__ import annotations

from app.domain.errors import FlightdeckError


class LeaseLost(FlightdeckError):
    """This process no longer owns the run (its lease expired and another owner claimed it).

    Whoever catches it must stop advancing the run and roll back: the new owner resumes it
    from the last committed checkpoint (G2).
    """

    def __init__(self, run_id: str, owner: str, current_owner: str | None) -> None:
        self.run_id = run_id
        self.owner = owner
        self.current_owner = current_owner
        holder = f"now held by {current_owner!r}" if current_owner else "no longer held by anyone"
        super().__init__(f"lease on run {run_id} lost by {owner!r}: {holder}")
