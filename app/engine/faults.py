"""Crash points for the fault-injection tests (G1, G3).

`FLIGHTDECK_CRASH_AT=POINT[:N]` makes this process SIGKILL itself the N-th time (default 1st)
it reaches POINT — the deterministic version of pulling the plug. Unset, a crash point costs a
comparison. Points, in the order a mutating attempt passes them:

- `before_intent`  planned, nothing committed for this attempt yet
- `after_intent`   the intent is durable; nothing dispatched
- `after_dispatch` the action went out and was observed; its outcome is not recorded
- `after_outcome`  the outcome (and the step's completion) is durable

And one in a login block (not in POINTS: no write step passes it):

- `login_step`     a login step acted (`:4` — after the 4th, say the "Sign in" click: the site
                   has the session, the run's record and profile do not)
"""

from __future__ import annotations

import os
import signal

POINTS = ("before_intent", "after_intent", "after_dispatch", "after_outcome")
_spec = os.environ.get("FLIGHTDECK_CRASH_AT", "")
_point, _, _nth = _spec.partition(":")
_remaining = int(_nth) if _nth.isdigit() else 1


def armed(name: str) -> bool:
    return _point == name


def crash_point(name: str) -> None:
    global _remaining
    if not _point or name != _point:
        return
    _remaining -= 1
    if _remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
