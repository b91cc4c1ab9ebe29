"""An approval that outlives the site's session (issue 12, defect 4): the run waits for the
person with its page kept, the session lapses, and the approved delete must still happen exactly
once (or be asked again when the page is no longer what was approved). Judged by the hostile
site's own truth: which deletes it received and which it carried out."""

from __future__ import annotations

from typing import Any

from app.domain.events import EventType
from app.domain.states import RunStatus
from tests.integration.engine.conftest import Harness

DELETE = """
name: delete-invoice
site: SITE
login:
  - goto: /login
  - fill: {target: {label: Username}, secret: shop.username}
  - fill: {target: {label: Password}, secret: shop.password}
  - click: {role: button, name: Sign in}
steps:
  - goto: /items
  - click: {test_id: delete-3}
    effect: read
  - id: confirm
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    expect:
      after_reload: {goto: /items, hidden: {text: Invoice 1003, exact: true}}
"""


async def waiting_for_approval(h: Harness) -> tuple[str, Any]:
    run_id = h.submit(DELETE)
    waiting = await h.engine.run(run_id, keep=True)  # the page stays live while it waits
    assert waiting.status is RunStatus.WAITING, waiting.error
    (approval,) = h.engine.open_handoffs(run_id)
    assert approval.kind == "approval" and h.site.truth()["deletions"] == {}
    return run_id, approval


async def test_approved_after_the_session_lapsed_signs_in_again_and_deletes_once(secure: Harness) -> None:
    run_id, approval = await waiting_for_approval(secure)
    assert secure.site.expire_sessions() == 1  # the person took longer than the session lasts
    secure.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    result = await secure.engine.run(run_id, keep=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    assert truth["deletions"] == {"3": 1}
    assert truth["requests"]["POST /items/3/delete"] == 1  # never sent to the dead session
    assert "Invoice 1003" not in [i["name"] for i in truth["items"]]
    assert truth["logins"] == 2
    (checked,) = secure.events_of(run_id, EventType.SESSION_CHECKED)
    assert "sent to the login page" in checked.data["signed_out"]
    used = secure.events_of(run_id, EventType.APPROVAL_USED)
    assert [e.data["handoff_id"] for e in used] == [approval.id]


async def test_a_session_ending_between_approval_and_dispatch_is_renewed_and_the_delete_fires_once(
    secure: Harness,
) -> None:
    run_id, approval = await waiting_for_approval(secure)
    secure.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    # Still signed in when the run checks; the session is gone when the delete arrives.
    secure.site.configure(expire_at_post=1)
    result = await secure.engine.run(run_id, keep=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    truth = secure.site.truth()
    # The first POST was answered by a redirect to the sign-in page: it did not happen. Once
    # signed in again, the same approved action was sent once more and carried out once.
    assert truth["requests"]["POST /items/3/delete"] == 2
    assert truth["deletions"] == {"3": 1}
    assert truth["logins"] == 2
    used = secure.events_of(run_id, EventType.APPROVAL_USED)
    assert [e.data["handoff_id"] for e in used] == [approval.id, approval.id]
    assert used[1].data["again"] is True
    assert len(secure.engine.open_handoffs(run_id)) == 0


async def test_after_signing_in_again_a_changed_item_is_asked_about_again(secure: Harness) -> None:
    run_id, approval = await waiting_for_approval(secure)
    secure.site.rename_item(3, "Invoice 1003 (paid)")  # someone else changed it meanwhile
    secure.site.expire_sessions()
    secure.engine.answer(approval.id, {"decision": "approve"}, by="tester")
    again = await secure.engine.run(run_id, keep=True)
    assert again.status is RunStatus.WAITING, again.error
    truth = secure.site.truth()
    assert truth["deletions"] == {} and "POST /items/3/delete" not in truth["requests"]
    assert truth["logins"] == 2  # signed in again to look at the page as it is now
    (second,) = secure.engine.open_handoffs(run_id)
    assert second.id != approval.id and second.action_hash != approval.action_hash
    assert {f["name"]: f["value"] for f in second.payload["fields"]}["item"] == "Invoice 1003 (paid)"
    assert secure.events_of(run_id, EventType.APPROVAL_VOID)
    secure.engine.answer(second.id, {"decision": "approve"}, by="tester")
    done = await secure.engine.run(run_id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert secure.site.truth()["deletions"] == {"3": 1}
