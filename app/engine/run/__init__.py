"""The run loop (DESIGN.md "The run loop"), in parts: loop.py runs one execution of a run;
state.py is what its parts share; pipeline.py takes a step through its phases; book.py writes
outcomes; pages.py rebuilds a page; settle.py settles an action in doubt; signin.py signs in;
answered.py reads back what people said."""

from app.engine.run.loop import LEASE_TTL, RunLoop, RunResult

__all__ = ["LEASE_TTL", "RunLoop", "RunResult"]
