"""Clarifications raised by failures: instead of ending the run, ask the person.

- ambiguous target: the candidates, numbered on a screenshot; the pick becomes a learned target;
- missing target: a new target, or a point on the page (a robust locator is derived from it);
- stuck / unexpected page: retry, skip the step, fail, or take over.

Also the `recovery` question when a run's page cannot be rebuilt after an interruption. Which
of these the engine asks at all is the task's `policy.ask_on`; each waits `question_timeout`,
then fails its step (nobody answered: the run must not guess).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType
from app.domain.task import Step, Target
from app.engine.desk import DEFAULT_FAIL, Answer, HandoffDesk, park
from app.store import learn_target
from app.store.models import Run

ACTIONS = ("retry", "skip", "fail", "takeover")
# Why a step failed when its question's deadline passed (its default answer is "fail").
NOBODY_ANSWERED = "nobody answered before the deadline"
ASKED_CLASSES = {
    FailureClass.AMBIGUOUS_TARGET: "ambiguous_target",
    FailureClass.MISSING_TARGET: "missing_target",
    FailureClass.STUCK: "stuck",
    FailureClass.UNEXPECTED: "unexpected",
}


@dataclass(frozen=True)
class Resolution:
    """What the person's answer means for the step."""

    kind: str  # "target" | "retry" | "skip" | "fail" | "takeover"
    target: Target | None = None
    failure: StepFailure | None = None
    answer: Answer | None = None


def kind_of(failure: StepFailure) -> str | None:
    """Which question a failure raises, if any. A page that did not turn out as expected (the
    checks failed, whatever the retries made of it) is the "unexpected page" question."""
    if failure.details.get("login"):
        return None  # a failed login was asked about (or not) where it failed: run/signin.py
    named = ASKED_CLASSES.get(failure.failure_class)
    if named is not None:
        return named
    if "failed_checks" in failure.details and failure.failure_class in (
        FailureClass.TRANSIENT,
        FailureClass.NO_EFFECT,
    ):
        return "unexpected"
    return None


def learned_key(target: Target) -> dict[str, Any]:
    return target.model_dump(mode="json", exclude_defaults=True)


def parse_target(value: Any) -> Target:
    """A target as a person types it: a Playwright selector string, or a target mapping."""
    if isinstance(value, dict):
        return Target.model_validate(value)
    text = str(value).strip()
    if not text:
        raise ValueError("an empty target")
    return Target(selector=text)


class Clarifier:
    def __init__(self, desk: HandoffDesk, ask_on: list[str], timeout: float | None) -> None:
        self.desk = desk
        self.ask_on = set(ask_on)
        self.timeout = timeout

    def asks(self, kind: str) -> bool:
        """Whether the task lets the engine ask this kind of question (`policy.ask_on`)."""
        return kind in self.ask_on

    def asks_about(self, failure: StepFailure) -> bool:
        return self.asks(kind_of(failure) or "")

    async def ask(
        self, index: int, step: Step, failure: StepFailure, *, reason: str | None = None
    ) -> NoReturn:
        """Open the question for this failure and park the run."""
        desk = self.desk
        kind = reason or kind_of(failure) or "unexpected"
        near = list(failure.details.get("near_misses") or []) if kind == "missing_target" else []
        numbered = kind == "ambiguous_target" or bool(near)
        context = await desk.context(index, step, screenshot=not numbered)
        payload: dict[str, Any] = {
            **context,
            "reason": kind,
            "failure": {"class": failure.failure_class.value, "message": failure.message},
        }
        target = step.target.describe() if step.target else step.summary()
        url = context.get("url") or "the page"
        if kind == "ambiguous_target" and step.target is not None and desk.session is not None:
            found = await desk.session.candidates(step.target)
            payload["candidates"] = [
                {
                    "choice": str(c.index + 1),
                    "description": c.info.description,
                    "text": c.info.text,
                    "box": list(c.info.box) if c.info.box else None,
                    "target": c.target.model_dump(mode="json", exclude_defaults=True),
                }
                for c in found
            ]
            payload["screenshot"] = await self._numbered(payload["candidates"])
            payload["choices"] = [c["choice"] for c in payload["candidates"]] + list(ACTIONS)
            question = f"{target} matches {len(found)} elements on {url}. Which one did you mean?"
        elif kind == "missing_target":
            # The elements it may have meant (the failure found them: targeting.near_misses), as
            # numbered choices like an ambiguous target's candidates.
            payload["candidates"] = near
            if near:
                payload["screenshot"] = await self._numbered(near)
            payload["choices"] = [c["choice"] for c in near] + list(ACTIONS)
            payload["accepts"] = ["target", "point"]
            closest = (
                " Closest: " + ", ".join(f"{c['choice']}. {c['description']}" for c in near) + "."
                if near
                else ""
            )
            question = (
                f"I can't find {target} on {url}.{closest} Pick one, point at it on the page, give a "
                "new target, or choose: retry, skip, fail, takeover."
            )
        elif kind == "recovery":
            payload["choices"] = list(ACTIONS)
            question = (
                f"The run was interrupted and its page could not be rebuilt ({failure.message}). "
                "retry, skip (continue from the page as it is), fail, or takeover?"
            )
        else:
            payload["choices"] = list(ACTIONS)
            what = "seems stuck" if kind == "stuck" else "did not have the expected result"
            question = f"Step {step.id} {what}: {failure.message}. retry, skip, fail, or takeover?"
        handoff_kind = "recovery" if kind == "recovery" else "clarification"
        handoff_id = await desk.open(
            index,
            handoff_kind,
            question,
            payload,
            timeout=self.timeout,
            default=DEFAULT_FAIL,
        )
        park(handoff_id)

    async def _numbered(self, candidates: list[dict[str, Any]]) -> str | None:
        """A screenshot with each candidate outlined and numbered by its choice."""
        desk = self.desk
        shown = [c for c in candidates if c.get("box")]
        try:
            assert desk.session is not None
            shot = await desk.session.highlight(
                [tuple(c["box"]) for c in shown], [c["choice"] for c in shown]
            )
        except Exception:
            shot = b""
        return await desk.screenshot(shot or None)

    async def resolution(self, index: int, step: Step, *, kind: str = "clarification") -> Resolution | None:
        """The unused answer to a failure question about this step, interpreted."""
        answer = self.desk.unused(kind, index)
        if answer is None or "reason" not in (answer.handoff.payload or {}):
            return None
        payload = answer.handoff.payload or {}
        data = answer.data
        decision = data.get("decision")
        value = data.get("value")
        original = payload.get("failure") or {}
        failure = StepFailure(
            FailureClass(original.get("class", FailureClass.UNEXPECTED.value)),
            str(original.get("message", "the operator chose to fail the step")),
        )
        choice = str(value) if value is not None else str(decision or "")
        if choice in ACTIONS:
            await self.desk.consume(answer)
            if choice == "fail":
                why = NOBODY_ANSWERED if answer.expired else "the operator chose to fail it"
                failure = StepFailure(failure.failure_class, f"{failure.message} ({why})", failure.details)
            return Resolution(choice, failure=failure, answer=answer)
        target: Target | None = None
        candidates = {c["choice"]: c for c in payload.get("candidates") or []}
        try:
            if choice in candidates:
                target = Target.model_validate(candidates[choice]["target"])
            elif data.get("point") is not None and self.desk.session is not None:
                x, y = (float(v) for v in data["point"])
                found = await self.desk.session.target_at(x, y)
                if found is None:
                    raise ValueError(f"there is nothing to act on at ({x:g}, {y:g})")
                target = found.target
            elif data.get("target") is not None:
                target = parse_target(data["target"])
            elif value is not None:
                target = parse_target(value)
        except ValueError as exc:
            await self.desk.consume(answer, rejected=str(exc))
            await self.ask(index, step, StepFailure(failure.failure_class, f"{failure.message}; {exc}"))
        if target is None:
            await self.desk.consume(answer)
            return Resolution("retry", answer=answer)
        await self._learn(index, step, target, answer)
        return Resolution("target", target=target, answer=answer)

    async def _learn(self, index: int, step: Step, target: Target, answer: Answer) -> None:
        """Remember the answer for this task and step (later runs use it), in the record too."""
        written = self.desk.task.steps[index].target  # as in the task file: the key later runs look up
        assert written is not None
        original = learned_key(written)
        learned = target.model_dump(mode="json", exclude_defaults=True)
        task_name = self.desk.task.name
        run_id = self.desk.run_id

        def change(s: Session, run: Run) -> None:
            learn_target(
                s,
                task_name=task_name,
                step_id=step.id,
                original=original,
                target=learned,
                run_id=run_id,
                handoff_id=answer.id,
                by=answer.by,
            )

        self.desk.recorder.stage(change)
        self.desk.recorder.emit(
            EventType.TARGET_LEARNED,
            step=step.id,
            index=index,
            original=written.describe(),
            target=target.describe(),
            learned=learned,
            handoff_id=answer.id,
            by=answer.by,
        )
        await self.desk.consume(answer, learned=learned)
