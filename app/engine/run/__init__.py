"""The run loop (DESIGN.md "The run loop"), in parts:

- loop.py      one execution of a run: claim, open the browser, resume, the steps, let go
- state.py     what the parts share: the task, inputs, checkpoint, page and gates (RunState)
- sessions.py  the run's browser session and session profile
- resume.py    where the checkpoint left off: signed in, the page rebuilt, an action settled
- pipeline.py  one step through its phases: plan, gates, act, complete or diagnose
- book.py      a step's outcome and the run's status, each with the checkpoint
- pages.py     rebuilding a page without redoing a write
- settle.py    settling an action that may have fired: re-read, never guess (G3)
- signin.py    signing in: at the start, after an expiry, before an approved action
- answered.py  what people said about a step, read back once
"""

from app.engine.run.loop import LEASE_TTL, RunLoop, RunResult

__all__ = ["LEASE_TTL", "RunLoop", "RunResult"]
