"""Open runs: a task whose steps an agent sends one at a time (MCP / SDK).

Such a run is an ordinary run: queued, run by the same loop, checkpointed, recorded. Between
steps it waits for the agent (`waiting` with no handoff open). Each step the agent sends is
appended to the run's task snapshot and its step rows, with an `agent.step` event naming the
agent, then the run continues through the usual Plan → Act → Validate with every gate a task
file's step has. `finish` ends it. Its verified steps can be saved as a task file and replayed
without the agent.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import yaml

from app.domain.errors import FlightdeckError
from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus, StepStatus
from app.domain.task import load_task
from app.engine.credentials import check_credentials
from app.engine.ports import SecretSource
from app.store import Database, events, handoffs, runs
from app.store.models import StepRecord

Outcome = Literal["succeeded", "failed"]


def open_task_text(
    *,
    name: str,
    goal: str | None,
    site: str | None,
    session: str | None = None,
    policy: dict[str, Any] | None = None,
    base: str | None = None,
) -> str:
    """The snapshot of an open task: from a goal (name, site, profile, policy), or from a task
    file's text (`base`) whose steps run first, the agent's steps after them."""
    data: dict[str, Any] = yaml.safe_load(base) if base is not None else {"name": name}
    if not isinstance(data, dict):
        raise FlightdeckError("a task file is a mapping with name, site, steps…")
    if goal:
        data["description"] = goal
    if site is not None:
        data["site"] = site
    if session is not None:
        data["session"] = session
    if policy:
        data["policy"] = {**(data.get("policy") or {}), **policy}
    data["open"] = True
    data.setdefault("steps", [])
    return _dump(data)


def append_step(
    db: Database, run_id: str, raw: dict[str, Any], *, agent: dict[str, Any], secrets: SecretSource | None
) -> int:
    """Add the agent's next step (task-file syntax: `{click: {...}, effect: ..., expect: ...}`)
    to an open run waiting for it; its index. Raises TaskValidationError (nothing written) for
    a step a task file could not have either, FlightdeckError when it is not the agent's turn."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        data = yaml.safe_load(run.task_text)
        if not data.get("open"):
            raise FlightdeckError(f"run {run_id} runs a task file; an agent cannot add steps to it")
        status = RunStatus(run.status)
        waiting_for = handoffs.list_handoffs(s, run_id=run_id, status="open")
        if status is not RunStatus.WAITING or waiting_for:
            if waiting_for:
                why = f"a handoff is open ({waiting_for[0].id}): wait_handoff first"
            elif status in (RunStatus.INTERRUPTED, RunStatus.PAUSED):
                why = f"it is {status} (stopped mid-step or by the operator): resume_run first"
            else:
                why = f"it is {status}"
            raise FlightdeckError(f"run {run_id} cannot take a step now: {why}")
        data["steps"] = [*(data.get("steps") or []), raw]
        text = _dump(data)
        task = load_task(text, run.task_source or f"run {run_id}")
        step = task.steps[-1]
        # Only the new step's credentials: the earlier ones were checked when they came.
        check_credentials(task.model_copy(update={"steps": [step], "login": None}), secrets)
        index = len(task.steps) - 1
        run.task_text = text
        run.step_count = len(task.steps)
        s.add(
            StepRecord(
                run_id=run_id,
                index=index,
                step_id=step.id,
                action=step.action.value,
                effect=step.effect.value,
                summary=step.summary(),
            )
        )
        events.append_event(
            s,
            run_id,
            EventType.AGENT_STEP,
            {
                "index": index,
                "step": step.id,
                "summary": step.summary(),
                "effect": step.effect.value,
                "agent": agent,
                # The snapshot grew: this ties the chain to the text the step was run from.
                "task_sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
        )
        return index


def is_open(task_text: str) -> bool:
    """Whether a run's task is open (steps sent by an agent) rather than a task file."""
    data = yaml.safe_load(task_text)
    return isinstance(data, dict) and bool(data.get("open"))


def finish(db: Database, run_id: str, *, outcome: Outcome, summary: str, agent: dict[str, Any]) -> RunStatus:
    """End an open run as the agent says; open handoffs are cancelled. The new status."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        if not is_open(run.task_text):
            raise FlightdeckError(f"run {run_id} runs a task file; it ends by itself")
        status = RunStatus(run.status)
        if status in TERMINAL:
            raise FlightdeckError(f"run {run_id} already {status}")
        handoffs.cancel_open_handoffs(s, run_id, reason="the agent finished the run")
        events.append_event(
            s, run_id, EventType.AGENT_FINISHED, {"outcome": outcome, "summary": summary, "agent": agent}
        )
        reason = f"finished by the agent: {summary}"
        if outcome == "succeeded":
            # The table has no waiting → succeeded: the agent's turn ends as running, then done.
            if status is not RunStatus.RUNNING:
                runs.transition(s, run, RunStatus.RUNNING, reason="the agent finishes the run")
            runs.transition(s, run, RunStatus.SUCCEEDED, reason=reason)
        else:
            if status in (RunStatus.QUEUED, RunStatus.PAUSED, RunStatus.INTERRUPTED):
                runs.transition(s, run, RunStatus.CANCELLED, reason=reason)
            else:
                runs.transition(s, run, RunStatus.FAILED, reason=reason, error=summary)
        return RunStatus(run.status)


def saved_task(db: Database, run_id: str) -> str:
    """The run's verified steps as a task file that replays without the agent."""
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        data = yaml.safe_load(run.task_text)
        done = {r.index for r in runs.get_steps(s, run_id) if r.status == StepStatus.SUCCEEDED}
    steps = [item for i, item in enumerate(data.get("steps") or []) if i in done]
    if not steps:
        raise FlightdeckError(f"run {run_id} has no verified step to save")
    data.pop("open", None)
    data["steps"] = steps
    text = _dump(data)
    load_task(text, f"saved from run {run_id}")  # what is saved must load
    return text


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
