"""What a person at a terminal does with Flightdeck, in the order they would: run a task (with
`--wait`, to answer from another terminal), approve what it asks, resume it after a crash,
confirm from the application whether an action whose outcome is unknown happened.

It decides nothing about the test: verdicts come from the application's store. What Flightdeck
said and recorded goes into the failure message (`explain`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realapps.harness.flightdeck import Flightdeck, Result

TERMINAL = ("succeeded", "failed", "cancelled")


def new_title(what: str) -> str:
    """A name no other test uses (the application lives for the whole module)."""
    return f"{what} {uuid.uuid4().hex[:8]}"


@dataclass
class Asked:
    """Where a run waits for a person (or that it ended without asking: `kind` None)."""

    run_id: str
    kind: str | None
    question: str
    handoff_id: str
    waiter: subprocess.Popen[str]


class Person:
    def __init__(self, fd: Flightdeck, task: Path) -> None:
        self.fd = fd
        self.task = task
        self.run_id = ""
        self.said: list[Result] = []  # what Flightdeck printed, for `explain`
        self._waiters: list[subprocess.Popen[str]] = []

    # ------------------------------------------------------------------ running
    def run_until_asked(
        self, inputs: Mapping[str, object], *, site: str, crash_at: str | None = None
    ) -> Asked:
        """`flightdeck run TASK --wait` in a terminal, until it asks something (or ends)."""
        waiter = self.fd.start(self.task, inputs, site=site, wait=True, crash_at=crash_at)
        self._waiters.append(waiter)
        self.run_id, opened = self.fd.asked(waiter)
        if opened is None:
            self.said.append(self._finish(waiter))
            return Asked(self.run_id, None, "", "", waiter)
        return Asked(self.run_id, opened["kind"], opened["question"], opened["handoff_id"], waiter)

    def run_killed(self, inputs: Mapping[str, object], *, site: str, crash_at: str) -> Result:
        """`flightdeck run TASK` that SIGKILLs itself at a crash point (`FLIGHTDECK_CRASH_AT`,
        e.g. `before_intent:2`: as the 2nd write is about to be sent, its form filled)."""
        killed = self.fd.run(self.task, inputs, site=site, crash_at=crash_at)
        self.said.append(killed)
        runs = {run_id for run_id, _, _ in self.fd.events()}
        assert len(runs) == 1, f"expected the one run of this test, found {runs}:\n{killed}"
        self.run_id = runs.pop()
        return killed

    def approve_and_finish(self, asked: Asked, *, approvals: int = 1, timeout: float = 150) -> Result:
        """`flightdeck approve` from another terminal; the waiting one carries on to its end. If
        it asks again, approve again up to `approvals` times in all; asked once more than that
        (or anything but an approval), the waiting terminal is stopped and the result says why."""
        handoff_id = asked.handoff_id
        for _ in range(approvals):
            self.said.append(self.fd("approve", handoff_id))
            _, opened = self.fd.asked(asked.waiter, timeout=timeout)
            if opened is None:
                break
            if opened["kind"] != "approval":
                break
            handoff_id = opened["handoff_id"]
        if asked.waiter.poll() is None:
            question = f"{opened['kind']}: {opened['question']}" if opened else "nothing"
            done = self._stop(asked.waiter, f"it asked again after {approvals} approval(s): {question}")
        else:
            done = self._finish(asked.waiter, timeout)
        self.said.append(done)
        return done

    def run_to_the_end(
        self, inputs: Mapping[str, object], *, site: str, answer: str | None = None
    ) -> dict[str, Any]:
        """`flightdeck run TASK` (no terminal kept waiting), then `operate` until it ends."""
        first = self.fd.run(self.task, inputs, site=site)
        self.said.append(first)
        self.run_id = first.json()["run_id"] if first.out.lstrip().startswith("{") else ""
        assert self.run_id, f"the run did not start:\n{first}"
        return self.operate(answer=answer)

    def operate(
        self, *, happened: Callable[[], bool] | None = None, answer: str | None = None, rounds: int = 8
    ) -> dict[str, Any]:
        """Drive the run to its end as a person would: resume it while nobody runs it, approve
        approvals, answer "did it happen?" by looking at the application (`happened`), answer
        other questions with `answer`. Returns `show --json` once it ended, or when it asks
        something this person does not answer."""
        shown: dict[str, Any] = {}
        for _ in range(rounds):
            shown = self.fd("show", self.run_id, "--json").json()
            if shown["status"] in TERMINAL:
                return shown
            handoffs = shown.get("open_handoffs") or []
            if not handoffs:
                self.said.append(self.fd.resume(self.run_id))
                continue
            handoff = handoffs[0]
            if handoff["kind"] == "approval":
                self.said.append(self.fd("approve", handoff["id"]))
            elif handoff["kind"] == "verification" and happened is not None:
                self.said.append(self.fd("approve" if happened() else "deny", handoff["id"]))
            elif handoff["kind"] in ("clarification", "recovery") and answer is not None:
                self.said.append(self.fd("answer", handoff["id"], answer))
            else:
                return shown
        return shown

    # ------------------------------------------------------------------ reporting
    def explain(self, message: str, *results: Result) -> str:
        """`message`, then what Flightdeck printed and what `show` says about the run."""
        parts = [message]
        shown: list[Result] = []
        for result in (*self.said[-4:], *results):
            if not any(result is earlier for earlier in shown):
                shown.append(result)
                parts.append(f"--- flightdeck said\n{result}")
        if self.run_id:
            # What a waiting run waits for first: the page traffic below can be long.
            state = self.fd("show", self.run_id, "--json").json()
            for h in state.get("open_handoffs") or []:
                parts.append(f"--- open {h.get('kind')} at step {h.get('step_index')}: {h.get('question')}")
            shown = self.fd("show", self.run_id)
            parts.append(f"--- flightdeck show {self.run_id}\n{shown.out[-8000:]}{shown.err[-2000:]}")
        return "\n".join(parts)

    def close(self) -> None:
        """Stop any terminal still waiting (a failed test leaves one)."""
        for waiter in self._waiters:
            if waiter.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(waiter.pid, signal.SIGKILL)
                waiter.wait(timeout=30)
            for stream in (waiter.stdout, waiter.stderr):
                if stream is not None:
                    stream.close()

    @staticmethod
    def _finish(waiter: subprocess.Popen[str], timeout: float = 150) -> Result:
        """Wait for the terminal's command to end (stopped after `timeout`)."""
        try:
            out, err = waiter.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return Person._stop(waiter, f"still running after {timeout:.0f} s")
        return Result(waiter.returncode, out, err)

    @staticmethod
    def _stop(waiter: subprocess.Popen[str], why: str) -> Result:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(waiter.pid, signal.SIGKILL)
        out, err = waiter.communicate(timeout=30)
        return Result(waiter.returncode, out, f"{err}\n[stopped: {why}]")
