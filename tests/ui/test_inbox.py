"""The handoff inbox: cards for real waiting runs (real engine, real Chromium, the hostile site),
answered through the card's own buttons and keys, judged by what reached the site."""

from __future__ import annotations

import asyncio
import gc
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget

from app.domain.states import RunStatus
from app.engine import views
from app.resources import demo_tasks_dir
from app.store import handoffs
from app.ui.console import Console, ConsoleOptions
from app.ui.notify import Notifier
from app.ui.panels.card_parts import ScreenshotDialog
from app.ui.panels.cards import ApprovalCard, HandoffCard, TakeoverCard, VerificationCard
from app.ui.panels.cards_questions import QuestionCard
from app.ui.panels.inbox import InboxPanel
from tests.helpers.secrets_shown import without_random_ids
from tests.integration.engine.test_approvals import checkout
from tests.integration.engine.test_questions import REMOVE
from tests.ui.helpers import running_console, until
from tests.ui.test_handoff_model import new_run, watched_database

MASK = "••••••"


@pytest.fixture(autouse=True)
def collected_on_main_thread() -> Iterator[None]:
    """Collect garbage here, on the main thread, before and after each test. A closed qasync
    loop of an earlier test still has Qt timers registered; left to the garbage collector, it
    may be freed on a worker thread (a read's), where Qt cannot stop them ("Timers cannot be
    stopped from another thread"), and the main loop then crashes delivering one."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def kept() -> Iterator[list[QObject]]:
    """Widgets a test makes, deleted here on the main thread when it ends (pytest-qt keeps only
    weak references: the garbage collector could delete them on a worker thread, leaving their
    timers behind in the main loop, which crashes a later test)."""
    objects: list[QObject] = []
    yield objects
    for obj in reversed(objects):
        if shiboken6.isValid(obj):
            if isinstance(obj, QWidget):
                obj.close()
            shiboken6.delete(obj)


async def open_inbox(console: Console, kept: list[QObject]) -> InboxPanel:
    panel = InboxPanel(console.bridge)
    kept.append(panel)
    panel.resize(900, 1000)
    panel.show()
    await until(lambda: panel.model.loaded, what="the inbox's first read")
    return panel


async def submit(console: Console, path: Path, site: Any) -> str:
    started: list[str] = []
    console.bridge.submit(str(path), {}, site=site.url, done=started.append)
    run_id: str = await until(lambda: started and started[0], what="the run to be queued")
    return run_id


def task_file(tmp_path: Path, name: str, text: str, site: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip().replace("SITE", site.url), encoding="utf-8")
    return path


async def card_for(panel: InboxPanel, run_id: str, kind: str, timeout: float = 60) -> Any:
    def find() -> HandoffCard | None:
        # Shown, not just made: Qt shows a widget added to a visible layout one turn later.
        return next(
            (
                c
                for c in panel.ordered_cards()
                if c.handoff.run_id == run_id and c.handoff.kind == kind and c.isVisible()
            ),
            None,
        )

    return await until(find, timeout, what=f"a {kind} card for run {run_id}")


def status(console: Console, run_id: str) -> views.RunRow:
    return views.runs_by_id(console.db, [run_id])[0]


async def finished(console: Console, run_id: str) -> views.RunRow:
    await until(lambda: status(console, run_id).terminal, 60, what=f"run {run_id} to finish")
    return status(console, run_id)


def has_focus(card: HandoffCard) -> bool:
    focus = QApplication.focusWidget()
    return focus is not None and (focus is card or card.isAncestorOf(focus))


def shown_text(card: HandoffCard) -> str:
    """Everything the card says in labels and tables, as an operator reads it."""
    parts = [label.text() for label in card.findChildren(QLabel) if label.isVisibleTo(card)]
    if isinstance(card, ApprovalCard) and card.table is not None:
        t = card.table
        parts += [t.item(r, c).text() for r in range(t.rowCount()) for c in range(2)]  # type: ignore[union-attr]
    return "\n".join(parts)


async def live_page(console: Console, run_id: str, timeout: float = 15) -> Any:
    """The waiting run's page, kept alive by the console (parked just after its handoff opens)."""
    deadline = time.monotonic() + timeout
    while (live := await console.engine.live_session(run_id)) is None:
        assert time.monotonic() < deadline, "the console keeps a waiting run's page alive"
        await asyncio.sleep(0.05)
    return live.page


def open_ids(console: Console) -> set[str]:
    return {h.id for h in views.open_handoffs(console.db)}


async def test_an_approval_card_previews_the_action_and_approve_fires_it(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject]
) -> None:
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        counts: list[int] = []
        selected: list[str] = []
        panel.count_changed.connect(counts.append)
        panel.run_selected.connect(selected.append)
        notifier = Notifier(panel)
        panel.count_changed.connect(notifier.set_count)
        panel.arrived.connect(notifier.notify)

        run_id = await submit(console, demo_tasks_dir() / "delete-invoice.yaml", hostile_site)
        card = await card_for(panel, run_id, "approval")
        assert isinstance(card, ApprovalCard)
        text = shown_text(card)
        assert "Approve: Permanently delete Invoice 1001?" in text
        assert f"{hostile_site.url}/items/1/delete" in text  # the page
        assert 'button "Yes, delete"' in text  # the element
        assert f"POST {hostile_site.url}/items/1/delete" in text  # what it will send
        assert re.fullmatch(r"denies in (59|60):\d\d", card.countdown.text()), card.countdown.text()
        screenshot = card.screenshot
        assert screenshot is not None
        await until(lambda: not screenshot.full.isNull(), what="the highlighted screenshot")
        assert screenshot.full.width() >= 800
        qtbot.mouseClick(screenshot, Qt.MouseButton.LeftButton)
        enlarged = [d for d in card.findChildren(ScreenshotDialog) if d.isVisible()]
        assert enlarged, "clicking the screenshot shows it at full size"
        enlarged[0].close()

        qtbot.mouseClick(card.run_link, Qt.MouseButton.LeftButton, pos=QPoint(4, card.run_link.height() // 2))
        assert selected == [run_id]
        assert counts[-1] == 1
        assert notifier.count == 1
        assert notifier.last_message is not None
        title, body = notifier.last_message
        assert title == "Approval needed"
        assert body.startswith("delete-invoice wants to permanently delete Invoice 1001")
        assert next(i["name"] for i in hostile_site.truth()["items"]) == "Invoice 1001"  # not yet

        qtbot.mouseClick(card.approve_button, Qt.MouseButton.LeftButton)
        assert card.status.text() == "Sent…" and not card.approve_button.isEnabled()
        run = await finished(console, run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert "Invoice 1001" not in [i["name"] for i in hostile_site.truth()["items"]]
        await until(lambda: not panel.cards, what="the answered card to go")
        assert counts[-1] == 0 and notifier.count == 0


async def test_secrets_stay_masked_and_an_edited_value_is_what_reaches_the_site(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject], tmp_path: Path
) -> None:
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        run_id = await submit(
            console, task_file(tmp_path, "checkout", checkout(), hostile_site), hostile_site
        )
        card = await card_for(panel, run_id, "approval")
        table = card.table
        assert table is not None
        values = {name: table.cell_of(name).text() for name in ("name", "card_number", "cvv", "amount")}
        assert values["name"] == "Ada Lovelace" and values["amount"] == "89.00"
        assert values["card_number"].startswith(MASK) and values["cvv"].startswith(MASK)
        assert "4111" not in without_random_ids(shown_text(card)) and "123" not in values["cvv"]

        card.edit_button.click()
        assert table.cell_of("name").flags() & Qt.ItemFlag.ItemIsEditable
        assert not table.cell_of("card_number").flags() & Qt.ItemFlag.ItemIsEditable  # secrets never
        editor = await until(
            lambda: next((e for e in table.viewport().findChildren(QLineEdit) if e.isVisible()), None),
            what="the value editor",
        )
        editor.clear()
        qtbot.keyClicks(editor, "Grace Hopper")
        card.comment.setText("customer asked for the name change")
        qtbot.mouseClick(card.approve_button, Qt.MouseButton.LeftButton)

        run = await finished(console, run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert [(p["name"], p["last4"]) for p in hostile_site.truth()["payments"]] == [
            ("Grace Hopper", "1111")
        ]
        with console.db.session(readonly=True) as s:
            (h,) = handoffs.list_handoffs(s, run_id=run_id, status=None)
            assert h.answer == {"decision": "approve", "values": {"name": "Grace Hopper"}}
            assert h.comment == "customer asked for the name change"


async def test_deny_from_the_keyboard_fails_the_step_as_denied(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject]
) -> None:
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        hostile_site.configure(cookie_banner=False)
        run_id = await submit(console, demo_tasks_dir() / "delete-invoice.yaml", hostile_site)
        card = await card_for(panel, run_id, "approval")
        assert "Ctrl+Backspace" in card.deny_button.toolTip()
        card.comment.setText("wrong invoice")
        panel.activateWindow()
        panel.focus_card(card.handoff.id)
        await until(lambda: QApplication.activeWindow() is panel, what="the inbox to be active")
        await until(lambda: has_focus(card), what="the approval focused")
        QTest.keyClick(card, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ControlModifier)
        assert card.sent

        run = await finished(console, run_id)
        assert run.status is RunStatus.FAILED and run.failure_class == "denied"
        assert "wrong invoice" in (run.error or "")
        assert "Invoice 1001" in [i["name"] for i in hostile_site.truth()["items"]]  # never fired


async def test_an_ambiguous_target_is_answered_with_a_choice_button(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject], tmp_path: Path
) -> None:
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        run_id = await submit(console, task_file(tmp_path, "remove", REMOVE, hostile_site), hostile_site)
        question = await card_for(panel, run_id, "clarification")
        assert isinstance(question, QuestionCard)
        assert list(question.choice_buttons) == ["1", "2", "3", "retry", "skip", "fail", "takeover"]
        assert "member-grace-hopper" in shown_text(question)  # what tells the candidates apart
        assert "key 2" in question.choice_buttons["2"].toolTip()
        screenshot = question.screenshot
        assert screenshot is not None
        await until(lambda: not screenshot.full.isNull(), what="the numbered screenshot")

        qtbot.mouseClick(question.choice_buttons["2"], Qt.MouseButton.LeftButton)
        # Grace's Remove button is irreversible ("remove"): it asks before firing.
        approval = await card_for(panel, run_id, "approval")
        panel.activateWindow()
        panel.focus_card(approval.handoff.id)
        await until(lambda: QApplication.activeWindow() is panel, what="the inbox to be active")
        # The answered question's card went while the approval came: the keys act on the
        # focused card, so they are pressed once it has the focus.
        await until(
            lambda: panel.current_card() is approval and has_focus(approval), what="the approval focused"
        )
        QTest.keyClick(approval, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

        run = await finished(console, run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert hostile_site.truth()["removed"] == ["Grace Hopper"]


ASK = """
name: how-many
site: SITE
steps:
  - goto: /notes
  - ask: {question: "How many copies should I order?", type: integer, into: copies}
"""


async def test_a_wrong_typed_answer_is_shown_in_place_and_nothing_is_sent(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject], tmp_path: Path
) -> None:
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        run_id = await submit(console, task_file(tmp_path, "ask", ASK, hostile_site), hostile_site)
        card = await card_for(panel, run_id, "clarification")
        field = card.answer_field
        assert field is not None and "whole number" in field.placeholderText()

        qtbot.keyClicks(field, "a few")
        QTest.keyClick(field, Qt.Key.Key_Return)
        assert card.error.isVisible() and "not an integer" in card.error.text()
        assert not card.sent
        await console.bridge.settle()
        assert card.handoff.id in open_ids(console)  # nothing went to the engine

        field.setText("3")
        QTest.keyClick(field, Qt.Key.Key_Return)
        assert card.sent and not card.error.isVisible()
        run = await finished(console, run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        with console.db.session(readonly=True) as s:
            (h,) = handoffs.list_handoffs(s, run_id=run_id, status=None)
            assert h.answer == {"value": 3}


DRIFTED = """
name: drifted-note
site: SITE
policy: {step_timeout: 1.5, retry: {maximum_attempts: 1}}
steps:
  - goto: /notes
  - fill: {target: {label: Title}, value: Pointed}
  - id: add
    click: {role: button, name: Add note}
    expect: {after_reload: {text: {target: {test_id: note, nth: -1}, equals: Pointed}}}
"""


async def test_a_missing_target_is_answered_by_pointing_in_the_live_view(
    console_options: ConsoleOptions, hostile_site: Any, qtbot: Any, kept: list[QObject], tmp_path: Path
) -> None:
    hostile_site.configure(drift=True)  # the button now says "Save note"
    async with running_console(console_options) as console:
        panel = await open_inbox(console, kept)
        pointing: list[tuple[str, str]] = []
        panel.point_requested.connect(lambda h, r: pointing.append((h, r)))
        run_id = await submit(console, task_file(tmp_path, "drifted", DRIFTED, hostile_site), hostile_site)
        card = await card_for(panel, run_id, "clarification", timeout=90)
        assert card.point_button is not None and card.selector_field is not None

        card.use_selector()  # nothing typed yet
        assert card.error.isVisible() and not card.sent
        card.point_button.click()
        assert pointing == [(card.handoff.id, run_id)]

        page = await live_page(console, run_id)
        box = await page.get_by_role("button", name="Save note").bounding_box()
        assert panel.answer_point(card.handoff.id, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        run = await finished(console, run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert hostile_site.truth()["note_submissions"]["Pointed"] == 1


# ----------------------------------------------------------------- without a browser
def _open(console: Console, run_id: str, kind: str, question: str, payload: dict[str, Any], **kw: Any) -> str:
    with console.db.session() as s, s.begin():
        return handoffs.open_handoff(
            s, run_id=run_id, step_index=0, kind=kind, question=question, payload=payload, **kw
        ).id


def _answer(console: Console, handoff_id: str) -> Any:
    with console.db.session(readonly=True) as s:
        h = handoffs.get_handoff(s, handoff_id)
        assert h is not None
        return h.answer


async def test_verification_recovery_and_takeover_cards_answer_what_their_buttons_say(
    console_options: ConsoleOptions, qtbot: Any, kept: list[QObject]
) -> None:
    async with watched_database(console_options) as console:
        panel = await open_inbox(console, kept)
        takeovers: list[str] = []
        panel.takeover_requested.connect(takeovers.append)
        interrupted, recovering, driven = (new_run(console, n) for n in ("pay", "rebuild", "driven"))
        verify = _open(
            console,
            interrupted,
            "verification",
            "The run was interrupted right after 'click Pay now' was sent. Did it happen?",
            {
                "choices": ["done", "not_done"],
                "checks": [{"name": "url", "ok": False, "detail": "/checkout"}],
            },
        )
        recover = _open(
            console,
            recovering,
            "recovery",
            "The page could not be rebuilt.",
            {"choices": ["retry", "skip", "fail", "takeover"]},
        )
        drive = _open(console, driven, "takeover", "ops took over the page.", {"choices": ["hand_back"]})
        await until(lambda: len(panel.cards) == 3, what="three cards")
        cards = {c.handoff.id: c for c in panel.ordered_cards()}
        assert isinstance(cards[verify], VerificationCard)
        assert isinstance(cards[recover], QuestionCard) and isinstance(cards[drive], TakeoverCard)
        assert "✗ url /checkout" in shown_text(cards[verify])
        assert cards[verify].countdown.text() == "no deadline"

        order = panel.ordered_cards()
        panel.activateWindow()
        panel.focus_card(order[0].handoff.id)
        await until(lambda: QApplication.activeWindow() is panel, what="the inbox to be active")
        await until(lambda: has_focus(order[0]), what="the first card focused")
        QTest.keyClick(order[0], Qt.Key.Key_J)  # next card
        assert panel.current_card() is order[1] and order[1].property("current")
        QTest.keyClick(order[1], Qt.Key.Key_K)  # and back
        assert panel.current_card() is order[0]

        qtbot.mouseClick(cards[verify].happened_button, Qt.MouseButton.LeftButton)
        QTest.keyClick(cards[recover], Qt.Key.Key_2)  # the second choice: skip
        cards[drive].open_button.click()
        assert takeovers == [driven]
        cards[drive].hand_back_button.click()
        await console.bridge.settle()
        assert _answer(console, verify) == {"decision": "approve"}
        assert _answer(console, recover) == {"value": "skip"}
        assert _answer(console, drive) == {"decision": "hand_back"}
        await until(lambda: not panel.cards, what="the answered cards to go")


async def test_a_card_being_edited_survives_others_arriving_and_takeover_waits_for_the_run(
    console_options: ConsoleOptions, qtbot: Any, kept: list[QObject]
) -> None:
    from datetime import timedelta

    from app.store.types import utcnow

    async with watched_database(console_options) as console:
        panel = await open_inbox(console, kept)
        takeovers: list[str] = []
        panel.takeover_requested.connect(takeovers.append)
        first, second, third = (new_run(console, n) for n in ("edit-me", "urgent", "stuck"))
        edited = _open(
            console,
            first,
            "approval",
            "Approve: Send the newsletter?",
            {
                "fields": [
                    {"name": "subject", "label": "Subject", "kind": "text", "value": "Hi", "masked": False}
                ]
            },
            deadline=utcnow() + timedelta(hours=1),
            default_answer={"decision": "deny"},
        )
        card = await until(lambda: panel.card(edited), what="the approval card")
        card.comment.setText("halfway through typing")
        card.edit_button.click()

        urgent = _open(
            console,
            second,
            "approval",
            "Approve: Pay?",
            {},
            deadline=utcnow() + timedelta(minutes=5),
            default_answer={"decision": "approve"},
        )
        await until(lambda: len(panel.cards) == 2, what="the urgent card")
        assert [c.handoff.id for c in panel.ordered_cards()] == [urgent, edited]
        assert panel.card(edited) is card and card.comment.text() == "halfway through typing"
        assert card.edit_button.isChecked()
        assert re.fullmatch(r"approves in 4:\d\d", panel.card(urgent).countdown.text())

        stuck = _open(
            console,
            third,
            "clarification",
            "Step seems stuck.",
            {"reason": "stuck", "choices": ["retry", "skip", "fail", "takeover"]},
        )
        question = await until(lambda: panel.card(stuck), what="the stuck question")
        question.choice_buttons["takeover"].click()
        await console.bridge.settle()
        assert _answer(console, stuck) == {"value": "takeover"}
        assert takeovers == []  # the run has not handed over the page yet
        _open(console, third, "takeover", "You have the page.", {"choices": ["hand_back"]})
        await until(lambda: takeovers == [third], what="the live view to be asked for")


def test_the_tray_badge_paints_the_count_on_the_icon(qapp: QApplication, kept: list[QObject]) -> None:
    window = QWidget()
    kept.append(window)
    notifier = Notifier(window)
    changed: list[object] = []
    notifier.icon_changed.connect(changed.append)
    plain = notifier.icon.pixmap(64).toImage()
    notifier.set_count(1)
    one = notifier.icon.pixmap(64).toImage()
    notifier.set_count(12)
    twelve = notifier.icon.pixmap(64).toImage()
    assert plain != one != twelve
    corner = one.pixelColor(46, 3)  # the top of the badge, in the top-right corner
    assert corner.red() > 200 and corner.green() < 130, corner.name()
    notifier.set_count(0)
    assert notifier.icon.pixmap(64).toImage() == plain
    assert len(changed) == 3
    if notifier.tray is not None:  # a desktop with a tray: its icon carries the badge too
        assert notifier.tray.icon().pixmap(64).toImage() == plain
