"""The approval gate: nothing irreversible fires without a person's yes, bound to the action.

Plan phase of a step that may need one: read the target from the page (nothing fires), decide
by the task's approval policy, and either fire with an unused approval bound to exactly this
action (G4) or open one with a preview and park the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urldefrag

from app.domain.approval import DEFAULT_FORM_METHODS, DEFAULT_WORDS, ActionFacts, recognise
from app.domain.errors import FailureClass, StepFailure
from app.domain.events import EventType, canonical
from app.domain.task import Action, Effect, Policy, Step
from app.engine.desk import Answer, HandoffDesk, park
from app.engine.ports import BrowserSession, TargetInfo

# Actions that can submit something when they land on the right element.
PRESSING = frozenset({Action.CLICK, Action.PRESS})
# Actions whose `value` an operator may edit before approving.
VALUED = frozenset({Action.FILL, Action.SELECT})


def approval_reason(step: Step, policy: Policy, info: TargetInfo | None, base_url: str | None) -> str | None:
    """Why this step needs an approval under `policy`, or None."""
    if policy.approval == "none":
        return None
    if step.effect is Effect.IRREVERSIBLE:
        return "declared irreversible"
    if step.effect is not Effect.WRITE:
        return None
    if policy.approval == "all-writes":
        return "a write (approval policy: all-writes)"
    if info is None or step.action not in PRESSING or step.effect_declared:
        return None
    rules = policy.approval_rules
    urls = [u for u in (info.href, info.form_action) if u]
    if step.expect is not None:
        urls += [r.url for r in step.expect.request if r.url]
    facts = ActionFacts(text=info.text, form_method=info.form_method, urls=tuple(urls))
    found = recognise(
        facts,
        words=[*(DEFAULT_WORDS if rules.defaults else ()), *rules.words],
        form_methods=[*(DEFAULT_FORM_METHODS if rules.defaults else ()), *rules.form_methods],
        urls=rules.urls,
        base_url=base_url,
    )
    return f"recognised as irreversible: {found}" if found else None


def might_need_approval(step: Step, policy: Policy) -> bool:
    """Whether the page must be read first to decide (costs one round trip)."""
    if policy.approval == "none" or step.effect is Effect.READ:
        return False
    if step.effect is Effect.IRREVERSIBLE or policy.approval == "all-writes":
        return True
    return step.action in PRESSING and not step.effect_declared


def action_hash(step: Step, url: str = "", info: TargetInfo | None = None) -> str:
    """What exactly will fire: the step and its rendered arguments, on which page, at which
    element, with which form values. An approval is bound to it (G4): if any of it differs when
    the run continues, the approval is void and a new one is asked."""
    body = canonical(
        {
            "step": step.id,
            "action": step.action,
            "args": step.args.model_dump(mode="json"),
            "url": urldefrag(url)[0],
            "target": info.identity if info else None,
            # Masked values stay masked: a secret is never hashed into the database.
            "fields": [(f.name, f.value) for f in info.fields] if info else [],
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class Approved:
    """The step to fire, and form fields the operator changed before approving."""

    step: Step
    fields: dict[str, str] = field(default_factory=dict)
    handoff_id: str | None = None
    # The page as the person saw it when approving, proven unchanged since by the action hash:
    # the "before" evidence of the action, without a second screenshot on the way to firing.
    screenshot: str | None = None
    action_hash: str | None = None  # what the person approved (G4)


class ApprovalGate:
    def __init__(self, desk: HandoffDesk, policy: Policy, site: str | None) -> None:
        self.desk = desk
        self.policy = policy
        self.site = site
        # Approvals whose action the site turned away as signed out (it did not happen): they
        # fire it again, once signed in, if the action is still exactly what was approved.
        self._refused: dict[int, Approved] = {}

    def refused(self, index: int, approved: Approved) -> None:
        """The approved action reached a signed-out session and did not happen (evidence:
        login_page.SignedOutSigns.refused): the next try of step `index` may fire under it."""
        self._refused[index] = replace(approved, screenshot=None)

    async def check(self, index: int, step: Step, session: BrowserSession, timeout: float) -> Approved | None:
        """None: no approval needed. Approved: fire it. Parks the run or raises DENIED otherwise."""
        if not might_need_approval(step, self.policy):
            return None
        info = await session.inspect(step.target, timeout=timeout) if step.target is not None else None
        reason = approval_reason(step, self.policy, info, self.site)
        if reason is None:
            return None
        recorder = self.desk.recorder
        if step.effect is not Effect.IRREVERSIBLE:
            recorder.emit(EventType.IRREVERSIBLE_RECOGNISED, step=step.id, index=index, reason=reason)
        url = session.url
        wanted = action_hash(step, url, info)
        again = self._refused.pop(index, None)
        if again is not None:
            if again.action_hash == wanted:
                recorder.emit(
                    EventType.APPROVAL_USED,
                    step=step.id,
                    index=index,
                    handoff_id=again.handoff_id,
                    again=True,
                    reason="its first dispatch met a signed-out session and did not happen",
                )
                return again
            recorder.emit(
                EventType.APPROVAL_VOID,
                step=step.id,
                index=index,
                handoff_id=again.handoff_id,
                reason="after signing in again, the page, target or values differ from what was approved",
            )
        opened = self.desk.open_one("approval", index)
        if opened is not None:
            if opened.action_hash == wanted:
                park(opened.id)
            await self.desk.void(opened, "the page changed while it waited; asked again")
            recorder.emit(EventType.APPROVAL_VOID, step=step.id, index=index, handoff_id=opened.id)
        answer = self.desk.unused("approval", index)
        if answer is not None:
            if answer.handoff.action_hash == wanted:
                return await self._decided(index, step, answer)
            # Given for another page, element or values: it must not fire this one.
            await self.desk.consume(answer, void="the action changed since it was approved")
            recorder.emit(
                EventType.APPROVAL_VOID,
                step=step.id,
                index=index,
                handoff_id=answer.id,
                reason="the page, target or values changed since it was approved",
            )
        preview = await self._preview(index, step, url, info, reason)
        handoff_id = await self.desk.open(
            index,
            "approval",
            f"Approve: {step.description or step.summary()}?",
            preview,
            action_hash=wanted,
            timeout=self.policy.approval_timeout,
            default={"decision": self.policy.approval_default},
        )
        park(handoff_id)

    async def _decided(self, index: int, step: Step, answer: Answer) -> Approved:
        decision = answer.decision
        by = "the deadline (default)" if answer.expired else answer.by
        if decision != "approve":
            await self.desk.consume(answer)
            why = (
                f"no answer before the deadline; the policy's default is {decision}"
                if answer.expired
                else f"the operator denied {step.summary()}"
            )
            raise StepFailure(
                FailureClass.DENIED,
                why + (f": {answer.comment}" if answer.comment else ""),
                {"handoff": answer.id, "by": by},
            )
        edits = {str(k): str(v) for k, v in (answer.data.get("values") or {}).items()}
        fired = step
        fields: dict[str, str] = {}
        if getattr(step.args, "secret", None) is not None:
            edits.pop("value", None)  # a credential's value comes from the keyring, never an answer
        if edits and step.action in VALUED and "value" in edits:
            fired = step.model_copy(
                update={"args": step.args.model_copy(update={"value": edits.pop("value")})}
            )
        if edits:
            fields = edits
        await self.desk.consume(answer, with_next_commit=True)
        self.desk.recorder.emit(
            EventType.APPROVAL_USED,
            step=step.id,
            index=index,
            handoff_id=answer.id,
            by=by,
            edited=sorted([*fields, *(["value"] if fired is not step else [])]),
        )
        shot = (answer.handoff.payload or {}).get("screenshot")
        return Approved(
            fired,
            fields,
            answer.id,
            shot if isinstance(shot, str) and not fields else None,
            answer.handoff.action_hash,
        )

    async def _preview(
        self, index: int, step: Step, url: str, info: TargetInfo | None, reason: str
    ) -> dict[str, Any]:
        """What the operator sees before saying yes: where, what, with which values."""
        session = self.desk.session
        shot: str | None = None
        if session is not None:
            try:
                data = await session.highlight([info.box] if info and info.box else [])
            except Exception:
                data = b""  # a preview without a picture beats no question at all
            shot = await self.desk.screenshot(data) if data else await self.desk.screenshot()
        context = await self.desk.context(index, step, screenshot=False)
        values: dict[str, Any] = {}
        secret = getattr(step.args, "secret", None)
        if secret is not None:
            values["value"] = f"••• ({secret})"  # which credential, never its value
        elif step.action in VALUED:
            masked = bool(info and info.fields and any(f.masked for f in info.fields if f.kind == "password"))
            values["value"] = "••••••" if masked else getattr(step.args, "value", None)
        return {
            **context,
            "reason": reason,
            "action": step.action.value,
            "summary": step.summary(),
            "description": step.description,
            "url": url,
            "target": info.to_json() if info else None,
            "fields": [f.to_json() for f in info.fields] if info else [],
            "values": values,
            "expected_request": expected_request(step, info),
            "expect": step.expect.model_dump(mode="json", exclude_defaults=True) if step.expect else None,
            "screenshot": shot,
        }


def expected_request(step: Step, info: TargetInfo | None) -> dict[str, Any] | None:
    """The request the action should trigger, when the page or the task tells."""
    if step.expect is not None and step.expect.request:
        first = step.expect.request[0]
        return {"method": first.method, "url": first.url}
    if info is not None and info.form_action and step.action in PRESSING:
        return {"method": info.form_method or "GET", "url": info.form_action}
    if info is not None and info.href:
        return {"method": "GET", "url": info.href}
    return None
