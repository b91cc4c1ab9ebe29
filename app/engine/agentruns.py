"""Open runs: a task whose steps an agent sends one at a time (MCP / SDK).

Such a run is an ordinary run (kind "open"): queued, run by the same loop, checkpointed,
recorded. Between steps it waits for the agent (`waiting` with no handoff open). Each step the
agent sends is validated alone, as a task file's step would be, and stored as its step row
(`StepRecord.spec`) with an `agent.step` event naming the agent and the hash of what was
stored; the run's snapshot (`Run.task_text`: the header, and the steps of a task file it
started from) is never rewritten. The task a run executes is that snapshot followed by those
rows (`run_task`). The run then continues through the usual Plan → Act → Validate with every
gate a task file's step has. `finish` ends it. Its verified steps can be saved as a task file
and replayed without the agent; the YAML is an export, made from the rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import FlightdeckError, TaskValidationError, ValidationIssue
from app.domain.events import EventType
from app.domain.states import TERMINAL, RunStatus, StepStatus
from app.domain.task import Action, Task, load_step, load_task, step_outputs
from app.engine.credentials import check_credentials
from app.engine.ports import SecretSource
from app.store import Database, events, handoffs, runs
from app.store.models import Run, RunKind, StepRecord

Outcome = Literal["succeeded", "failed"]
# The actions whose step makes a value available to later ones ({{ outputs.NAME }}).
_OUTPUT_ACTIONS = (Action.EXTRACT.value, Action.ASK.value)


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


def is_open(run: Run) -> bool:
    """Whether the run's steps come from an agent (MCP / SDK) rather than a task file."""
    return run.kind == RunKind.OPEN


def run_task(s: Session, run: Run) -> Task:
    """The task `run` executes: its snapshot, then (an open run) the steps its agent sent, from
    their step rows, each validated as when it came. No YAML grows with the run."""
    task = load_task(run.task_text, _source(run))
    if not is_open(run):
        return task
    steps = list(task.steps)
    ids = {step.id for step in steps}
    outputs: set[str] = set().union(*(step_outputs(step) for step in steps))
    for index, spec in _sent(s, run.id, after=len(steps)):
        if index != len(steps) or spec is None:
            raise FlightdeckError(f"run {run.id}: step {len(steps) + 1} is missing from its step rows")
        step = load_step(
            spec,
            index=index,
            site=task.site,
            inputs=task.inputs,
            outputs=outputs.copy,
            ids=ids,
            filename=_source(run),
        )
        steps.append(step)
        ids.add(step.id)
        outputs |= step_outputs(step)
    return task.model_copy(update={"steps": steps, "open": True})


def append_step(
    db: Database, run_id: str, raw: dict[str, Any], *, agent: dict[str, Any], secrets: SecretSource | None
) -> int:
    """Add the agent's next step (task-file syntax: `{click: {...}, effect: ..., expect: ...}`)
    to an open run waiting for it; its index. Raises TaskValidationError (nothing written) for
    a step a task file could not have either, FlightdeckError when it is not the agent's turn.

    The work does not grow with the run: the step alone is validated (against the snapshot's
    header, and the earlier steps' ids and outputs looked up when it needs them) and written
    as one step row."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        if not is_open(run):
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
        index = run.step_count
        spec = _plain(raw, _source(run), index)
        # The snapshot is the header (and a task file's steps): the same size at every step.
        header = load_task(run.task_text, _source(run))
        step = load_step(
            spec,
            index=index,
            site=header.site,
            inputs=header.inputs,
            outputs=lambda: _outputs_before(s, run_id, header),
            ids=_TakenIds(s, run_id),
            filename=_source(run),
        )
        # Only the new step's credentials: the earlier ones were checked when they came.
        check_credentials(header.model_copy(update={"steps": [step], "login": None}), secrets)
        run.step_count = index + 1
        s.add(
            StepRecord(
                run_id=run_id,
                index=index,
                step_id=step.id,
                action=step.action.value,
                effect=step.effect.value,
                summary=step.summary(),
                spec=spec,
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
                # Ties the chain to the step row the run executes this step from (the
                # snapshot itself is tied by run.created and never changes).
                "step_sha256": spec_sha256(spec),
            },
        )
        return index


def spec_sha256(spec: Any) -> str:
    """The hash an `agent.step` event holds of the step row's spec (canonical JSON)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def finish(db: Database, run_id: str, *, outcome: Outcome, summary: str, agent: dict[str, Any]) -> RunStatus:
    """End an open run as the agent says; open handoffs are cancelled. The new status."""
    with db.session() as s, s.begin():
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        if not is_open(run):
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


def snapshot_text(s: Session, run: Run) -> str:
    """The run's whole task as a task file: its snapshot, with an open run's agent steps after
    the snapshot's own (what a retry runs again)."""
    data, sent = _task_data(s, run)
    return _dump(data) if sent else run.task_text


def saved_task(db: Database, run_id: str) -> str:
    """The run's verified steps as a task file that replays without the agent."""
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        data, _ = _task_data(s, run)
        done = {r.index for r in runs.get_steps(s, run_id) if r.status == StepStatus.SUCCEEDED}
    steps = [item for i, item in enumerate(data["steps"]) if i in done]
    if not steps:
        raise FlightdeckError(f"run {run_id} has no verified step to save")
    data.pop("open", None)
    data["steps"] = steps
    text = _dump(data)
    load_task(text, f"saved from run {run_id}")  # what is saved must load
    return text


def _task_data(s: Session, run: Run) -> tuple[dict[str, Any], int]:
    """The snapshot as data, its `steps` followed by the agent's as they were sent; how many
    the agent sent."""
    data: dict[str, Any] = yaml.safe_load(run.task_text)
    steps = list(data.get("steps") or [])
    sent = [spec for _, spec in _sent(s, run.id, after=len(steps))] if is_open(run) else []
    data["steps"] = [*steps, *sent]
    return data, len(sent)


def _sent(s: Session, run_id: str, *, after: int) -> list[tuple[int, Any]]:
    """(index, spec) of the step rows past the snapshot's steps: the ones the agent sent."""
    query = (
        select(StepRecord.index, StepRecord.spec)
        .where(StepRecord.run_id == run_id, StepRecord.index >= after)
        .order_by(StepRecord.index)
    )
    return [(index, spec) for index, spec in s.execute(query)]


def _outputs_before(s: Session, run_id: str, header: Task) -> set[str]:
    """The outputs the run's steps so far extract: the snapshot's, then the agent's (read from
    the extract and ask rows only)."""
    names: set[str] = set().union(*(step_outputs(step) for step in header.steps))
    query = select(StepRecord.action, StepRecord.spec).where(
        StepRecord.run_id == run_id,
        StepRecord.action.in_(_OUTPUT_ACTIONS),
        StepRecord.index >= len(header.steps),
    )
    for action, spec in s.execute(query):
        args = spec.get(action) if isinstance(spec, dict) else None
        into = args.get("into") if isinstance(args, dict) else None
        if isinstance(into, str) and into:
            names.add(into)
    return names


class _TakenIds:
    """The run's step ids, asked one at a time (an index look-up, not a list of all of them)."""

    def __init__(self, s: Session, run_id: str) -> None:
        self.s = s
        self.run_id = run_id

    def __contains__(self, step_id: object) -> bool:
        query = select(StepRecord.index).where(
            StepRecord.run_id == self.run_id, StepRecord.step_id == step_id
        )
        return self.s.scalar(query.limit(1)) is not None


def _plain(raw: Any, source: str, index: int) -> Any:
    """The step as JSON data: what is validated is exactly what is stored and hashed."""
    try:
        return json.loads(json.dumps(raw))
    except (TypeError, ValueError):
        raise TaskValidationError(
            [
                ValidationIssue(
                    source,
                    None,
                    f"steps[{index}]",
                    "a step is plain data",
                    "send text, numbers, true/false, lists and mappings only",
                )
            ]
        ) from None


def _source(run: Run) -> str:
    return run.task_source or f"run {run.id}"


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
