"""What people said, read back at a step: the verification of an interrupted action, a
takeover handed back, an `ask` step's answer, an input the run was started without. Each
answer is used once (desk.consume); an open question parks the run again."""

from __future__ import annotations

from typing import Any, NoReturn

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.task import AskArgs, Step
from app.domain.task.spec import coerce_input
from app.engine.attempts import StepResult
from app.engine.desk import DEFAULT_FAIL, Answer, park
from app.engine.run.state import RunState
from app.engine.validate import effective_expectation
from app.store.models import HandoffStatus, Run

SAID_DONE = ("approve", "done", "yes")


class Answered:
    def __init__(self, state: RunState) -> None:
        self.st = state

    # ----------------------------------------------------------------- verification
    def said_done(self, index: int) -> bool:
        """A person answered "it happened" to the verification of step `index`, not acted on."""
        answer = self.st.desk.unused("verification", index)
        return (
            answer is not None
            and not answer.expired
            and (answer.decision or str(answer.data.get("value", ""))) in SAID_DONE
        )

    async def verification(self, index: int) -> StepResult | None:
        """The operator said whether an interrupted action happened: done → complete the step;
        not done → fall through to a fresh approval/attempt (never re-fired without one)."""
        desk = self.st.desk
        answer = desk.unused("verification", index)
        if answer is None:
            return None
        await desk.consume(answer)
        if answer.expired:
            # Nobody knows whether it happened: it is not sent again (G3), nor called done.
            raise StepFailure(
                FailureClass.AMBIGUOUS_OUTCOME,
                f"{self.st.task.steps[index].summary()} may have happened before the interruption and "
                "nobody said whether it did before the deadline (policy.verification_timeout); "
                "it was not sent again",
                {"handoff": answer.id},
            )
        said = answer.decision or str(answer.data.get("value", ""))
        if said in SAID_DONE:
            return StepResult(ok=True, attempts=0, by_operator=True, done_by=answer.by)
        return None

    # ----------------------------------------------------------------- takeover
    async def handed_back(self, index: int, step: Step) -> StepResult | None:
        """After a takeover: did the person do the step? Judged by its expectation, read-only."""
        st = self.st
        answer = st.desk.unused("takeover", index)
        if answer is None:
            return None
        await st.desk.consume(answer)
        st.recorder.emit(EventType.TAKEOVER_ENDED, step=step.id, index=index, by=answer.by)
        if answer.expired:
            # The person may be gone halfway through (a form half filled, a dialog open), or
            # still at it: going on from a page nobody vouches for could send what no one meant.
            raise StepFailure(
                FailureClass.DENIED,
                "nobody handed the page back before the deadline (policy.takeover_timeout); "
                "the run stops rather than act on a page a person may have left half-done",
                {"handoff": answer.id},
            )
        expect = effective_expectation(step)
        checkable = expect.model_copy(update={"request": []}) if expect else None
        if checkable is None or checkable.is_empty():
            return None  # nothing to judge by: the step runs again (an approval still gates it)
        checks = await st.session.check(checkable, None, timeout=min(2.0, st.timeout_for(step)))
        if checks and all(c.ok for c in checks):
            for h in st.desk.of("approval", index):
                if h.status is HandoffStatus.OPEN:  # the person did it: nothing left to approve
                    who = answer.by or "the operator"
                    await st.desk.void(h, f"done by {who} during a takeover (its expectation holds)")
            return StepResult(ok=True, attempts=0, checks=checks, by_operator=True, done_by=answer.by)
        return None

    async def open_takeover(self, index: int, step: Step, why: str) -> NoReturn:
        desk = self.st.desk
        step = desk.rendered(step)
        context = await desk.context(index, step)
        payload = {**context, "reason": why, "choices": ["hand_back"]}
        handoff_id = await desk.open(
            index,
            "takeover",
            f"You have the page of step {step.id} ({step.summary()}). Hand back when done.",
            payload,
            timeout=self.st.task.policy.takeover_timeout,
            default=DEFAULT_FAIL,
        )
        self.st.recorder.emit(EventType.TAKEOVER_STARTED, step=step.id, index=index, handoff_id=handoff_id)
        park(handoff_id)

    # ----------------------------------------------------------------- the task's questions
    async def ask_step(self, index: int, step: Step) -> StepResult:
        """An `ask` step: its answer (into an output), or its question."""
        st = self.st
        args = step.args
        assert isinstance(args, AskArgs)
        for h in st.desk.of("clarification", index):
            if h.status is HandoffStatus.OPEN:
                park(h.id)
            if h.status is HandoffStatus.EXPIRED and h.answer is None:
                raise StepFailure(
                    FailureClass.DENIED, f"nobody answered {args.question!r} before the deadline"
                )
            if h.status in (HandoffStatus.ANSWERED, HandoffStatus.EXPIRED):
                value = Answer(h).data.get("value")
                if args.into:
                    st.cp.outputs[args.into] = value
                return StepResult(ok=True, attempts=1)
        context = await st.desk.context(index, step, screenshot=False)
        payload = {
            **context,
            "question": args.question,
            "choices": args.choices,
            "type": args.type,
            "into": args.into,
        }
        handoff_id = await st.desk.open(
            index, "clarification", args.question, payload, timeout=st.task.policy.question_timeout
        )
        park(handoff_id)

    async def rendered(self, index: int) -> Step:
        """Step `index` with inputs, outputs and learned targets filled in. An input the run was
        not given (an agent or the console may start a run without it) is asked for."""
        st = self.st
        template = st.task.steps[index]
        while True:
            try:
                return st.render(template)
            except StepFailure as failure:
                missing = getattr(failure.__cause__, "missing", None)
                if missing is None or missing not in st.task.inputs:
                    raise
                if not await self._missing_input(index, template, missing):
                    raise

    async def _missing_input(self, index: int, step: Step, name: str) -> bool:
        """Ask for input `name`, or take the answer already given. False: asking is pointless
        (the question was cancelled)."""
        st = self.st
        spec = st.task.inputs[name]
        for h in st.desk.of("clarification", index):
            if (h.payload or {}).get("input") != name:
                continue
            if h.status is HandoffStatus.OPEN:
                park(h.id)
            if h.status is HandoffStatus.EXPIRED:
                raise StepFailure(
                    FailureClass.PERMANENT,
                    f"step {step.id}: nobody gave the input '{name}' before the deadline",
                )
            if h.status is not HandoffStatus.ANSWERED:
                return False  # cancelled unanswered: the step cannot be rendered
            if (h.payload or {}).get("used"):
                continue
            answer = Answer(h)
            value = coerce_input(spec.type, answer.data.get("value"))
            st.inputs[name] = value

            def change(s: Any, run: Run, value: Any = value) -> None:
                run.inputs = {**(run.inputs or {}), name: value}

            st.recorder.stage(change)
            await st.desk.consume(answer)
            return True
        if not st.clarifier.asks("missing_input"):
            raise StepFailure(
                FailureClass.PERMANENT,
                f"step {step.id}: the run was started without the input '{name}', and "
                "policy.ask_on leaves out missing_input (nobody is asked)",
            )
        context = await st.desk.context(index, step, screenshot=False)
        payload = {
            **context,
            "reason": "missing_input",
            "input": name,
            "type": spec.type,
            "description": spec.description,
            "choices": None,
        }
        question = f"Step {step.id} needs the input '{name}' ({spec.type})" + (
            f": {spec.description}" if spec.description else ""
        )
        handoff_id = await st.desk.open(
            index,
            "clarification",
            question,
            payload,
            timeout=st.task.policy.question_timeout,
            default=DEFAULT_FAIL,
        )
        park(handoff_id)
