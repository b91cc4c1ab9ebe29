"""One run's execution state: what every phase of the run loop reads and changes.

Built once the run's browser session is open (loop.py): the task as it runs (its inputs bound),
the checkpoint the loop advances, the page, and the gates the task's policy sets up. The
collaborators (book, pages, settle, signin, answered, pipeline) are each given this one object
instead of passing `(task, index, inputs, checkpoint)` through every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Step, Task
from app.domain.task.templating import TemplateError, render, render_text
from app.engine.approvals import ApprovalGate
from app.engine.asking import Clarifier
from app.engine.attempts import StepExecutor
from app.engine.desk import HandoffDesk
from app.engine.guard import RequestGuard
from app.engine.login_page import SignedOutSigns
from app.engine.ports import BrowserSession
from app.engine.progress import Budget, NoProgressDetector
from app.engine.recorder import RunRecorder


@dataclass
class Control:
    """What is asked of a running loop from outside it: the console's takeover, which the loop
    honours at its next safe point (never in the middle of an action)."""

    stop_requested: str | None = None

    def taken(self) -> bool:
        return self.stop_requested == "takeover"


@dataclass(eq=False)
class RunState:
    run_id: str
    task: Task
    inputs: dict[str, Any]
    cp: Checkpoint
    session: BrowserSession
    recorder: RunRecorder
    desk: HandoffDesk
    control: Control
    # The gates, from the task's policy.
    budget: Budget
    progress: NoProgressDetector
    gate: ApprovalGate
    guard: RequestGuard
    signs: SignedOutSigns
    clarifier: Clarifier
    executor: StepExecutor

    def timeout_for(self, step: Step) -> float:
        return self.budget.timeout_for(step)

    def render(self, step: Step) -> Step:
        return render_step(step, self.inputs, self.cp)


def render_step(step: Step, inputs: dict[str, Any], cp: Checkpoint) -> Step:
    """The step with the run's inputs, the outputs so far and learned targets filled in."""
    try:
        data = step.model_dump(mode="json", exclude={"args", "expect"})
        args_data = step.args.model_dump(mode="json", exclude_defaults=True)
        if step.id in cp.learned and "target" in args_data:
            args_data["target"] = cp.learned[step.id]
        rendered_args = render(args_data, inputs, cp.outputs)
        rendered_expect = (
            render(step.expect.model_dump(mode="json", exclude_defaults=True), inputs, cp.outputs)
            if step.expect
            else None
        )
        if step.description is not None:
            data["description"] = render_text(step.description, inputs, cp.outputs)
        args = type(step.args).model_validate(rendered_args)
        return Step.model_validate({**data, "args": args, "expect": rendered_expect})
    except (TemplateError, ValueError) as exc:
        raise StepFailure(FailureClass.PERMANENT, f"step {step.id}: {exc}") from exc
