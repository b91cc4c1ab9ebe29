"""Every durable commit is a crash point (G1, G3): named from the code that makes it, counted,
and — for the fault-injection tests — traced or turned into a `kill -9`.

A commit needs no registration to become one: `Database` hooks its write sessions, so any new
transaction anywhere in the product is named, traced and killable the day it is written. A
commit is named after the function that asked for it (`attempts:StepExecutor._attempt`), found
on the stack; the run recorder, whose transactions run on a writer thread, names each one after
the function that submitted it (`naming`). The N-th commit of a name in a process is `NAME#N`.

- `FLIGHTDECK_COMMIT_TRACE=FILE` appends one line per commit: `NAME#N<TAB>what it carried`.
- `FLIGHTDECK_CRASH_AT_COMMIT=NAME#N@before` SIGKILLs the process as that commit is about to
  be sent (it never lands); `@after`, right after the database confirmed it.

Unset, a commit costs one function call more. Lease heartbeats (`UNNUMBERED`) are named and
killable like any commit; they come when the clock says, so the crash matrix leaves them out
of its enumeration (a crash makes the lease they extend moot anyway).
"""

from __future__ import annotations

import os
import signal
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_APP = str(Path(__file__).resolve().parents[1])
_STORE = str(Path(__file__).resolve().parent)
# Frames that only carry a commit out: the store's, SQLAlchemy's and the standard library's.
_CARRIERS = (
    _STORE,
    os.path.dirname(sqlalchemy.__file__),
    "<sqlalchemy",  # its generated wrappers
    sysconfig.get_paths()["stdlib"],
    "<frozen",
)
_RECORDER = os.path.join(_APP, "engine", "recorder.py")
# Time-driven commits: numbered on their own (see the module's docstring).
UNNUMBERED = frozenset({"loop:RunLoop._renew", "service:Engine._renew_parked"})

_trace = os.environ.get("FLIGHTDECK_COMMIT_TRACE", "")
_crash_name, _, _crash_when = os.environ.get("FLIGHTDECK_CRASH_AT_COMMIT", "").partition("@")
ARMED = bool(_trace or _crash_name)

# Session.info key: the types of the events appended in the session's current transaction
# (store/events.py adds them), so that a trace says what each commit carried.
CARRIED = "flightdeck_carried_events"

_lock = threading.Lock()
_counts: dict[str, int] = {}
_local = threading.local()


def armed() -> bool:
    """Commit points are traced or one of them kills: staged outcomes then commit one by one
    (recorder.commit_soon), the finest sequence of durable states; production merges some of
    them, and so only ever reaches a subset of the states the tests crash in."""
    return ARMED


@contextmanager
def naming(name: str) -> Iterator[None]:
    """Commits made inside are called `name` (a writer thread's stack says nothing of who asked)."""
    previous = getattr(_local, "name", None)
    _local.name = name
    try:
        yield
    finally:
        _local.name = previous


def caller_name(skip: tuple[str, ...] = ()) -> str:
    """`module:Qualified.name` of the nearest frame that is not a carrier nor `skip`ped."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(_CARRIERS) and path not in skip:
            module = os.path.splitext(os.path.basename(path))[0]
            return f"{module}:{frame.f_code.co_qualname}"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown"


def recorder_caller() -> str:
    """For the recorder: the function that submitted a transaction."""
    return caller_name((_RECORDER, __file__))


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_commit", _before)
    event.listen(sessions, "after_commit", _after)
    event.listen(sessions, "after_rollback", _forget)


def _forget(session: Session) -> None:
    session.info.pop(CARRIED, None)


def _point(session: Session) -> tuple[str, str]:
    known = session.info.get("commit_point")
    if known is None:
        named = getattr(_local, "name", None)
        name = named if named is not None else caller_name((__file__,))
        # What the transaction carries: every event appended in it, whoever appended it.
        carries = ",".join(dict.fromkeys(session.info.get(CARRIED, [])))
        with _lock:
            _counts[name] = _counts.get(name, 0) + 1
            known = (f"{name}#{_counts[name]}", carries)
        session.info["commit_point"] = known
    return known


def _before(session: Session) -> None:
    if not ARMED or session.in_nested_transaction():  # a savepoint is not durable by itself
        return
    point, carries = _point(session)
    if _trace:
        with open(_trace, "a", encoding="utf-8") as out:
            out.write(f"{point}\t{carries}\n")
    if point == _crash_name and _crash_when == "before":
        _kill()


def _after(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(CARRIED, None)  # the next transaction of this session starts empty
    if not ARMED:
        return
    point, _ = session.info.pop("commit_point", None) or _point(session)
    if point == _crash_name and _crash_when == "after":
        _kill()


def _kill() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
