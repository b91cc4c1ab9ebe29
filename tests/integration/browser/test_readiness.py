"""A page's own scripts are waited for, and only those that matter (issue 12, defect 12): what
a page does in reaction to an action has happened when `act` returns; a script it is still
loading is in before the next action; its background timers are never waited for."""

from __future__ import annotations

from typing import Any

from browser_support import act

from app.browser import PlaywrightSession
from app.browser.fingerprint import read_state

REACTION = """<!doctype html><title>Reaction</title>
<label for=title>Title</label><input id=title>
<button id=more>More</button><p id=slug></p>
<script>
const title = document.getElementById('title');
// Derived 300 ms after the title loses focus, as a debounced handler does.
title.addEventListener('blur', () => setTimeout(() => {
  document.getElementById('slug').textContent = title.value.toLowerCase();
}, 300));
</script>"""

BACKGROUND = """<!doctype html><title>Background</title>
<button id=go>Go</button><p id=out></p>
<script>
// A page that never stops: a poll re-armed from an interval, a carousel that re-arms itself.
setInterval(() => setTimeout(() => {}, 50), 20);
(function spin() { setTimeout(spin, 30); })();
// A click that starts a loop of its own: its first timers are a reaction, the loop is not.
document.getElementById('go').addEventListener('click', () => {
  document.getElementById('out').textContent = 'clicked';
  (function again() { setTimeout(again, 30); })();
});
</script>"""

LATE = """<!doctype html><title>Late</title>
<label for=title>Title</label><input id=title><p id=echo></p>
<script>
addEventListener('load', () => {
  const s = document.createElement('script');
  s.src = '/late.js';
  document.head.appendChild(s);
});
</script>"""

LATE_JS = """window.editorReady = true;
document.getElementById('title').addEventListener('input', (e) => {
  document.getElementById('echo').textContent = e.target.value;
});"""


async def test_a_timer_the_action_set_off_has_fired_when_act_returns(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/reaction", REACTION))
    await act(static_session, "fill", {"target": {"label": "Title"}, "value": "Spring"})
    outcome = await act(static_session, "click", {"role": "button", "name": "More"})
    # Nothing polled after act: the slug is there already, as the next action would need it.
    assert await static_session.page.inner_text("#slug") == "spring"
    assert outcome.changed


async def test_background_timers_are_never_waited_for(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/background", BACKGROUND))
    state = await read_state(static_session.page, deadline=0)
    assert state.loaded and state.timers == ()  # none of them is a reaction to anything
    outcome = await act(static_session, "click", {"role": "button", "name": "Go"})
    state = await read_state(static_session.page, deadline=0)
    assert state.ready, state.timers  # the click's loop stopped counting after three rounds
    assert outcome.changed


async def test_the_next_action_waits_for_a_script_still_loading(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    # The script arrives 2.5 s after the load event: more than a goto waits for a pending read.
    static_site.add("/late.js", LATE_JS, delay=2.5)
    await act(static_session, "goto", static_site.add("/late", LATE))
    assert not await static_session.page.evaluate("window.editorReady")  # still on its way
    await act(static_session, "fill", {"target": {"label": "Title"}, "value": "typed"}, timeout=10)
    assert await static_session.page.inner_text("#echo") == "typed"  # its handler saw the input


ANSWERED = """<!doctype html><title>Answered</title>
<button id=ask>Ask</button><p id=out></p>
<script>
// The answer arrives by an XHR whose load handler schedules what comes next (a redirect
// 900 ms on, "opening your notes…"): the page's own work, set off by the network, not by a
// user's event — the action is over once the answer is shown.
document.getElementById('ask').addEventListener('click', () => {
  const xhr = new XMLHttpRequest();
  xhr.open('GET', '/answer');
  xhr.addEventListener('load', () => {
    document.getElementById('out').textContent = 'Answered: moving on shortly';
    setTimeout(() => { document.getElementById('out').textContent = 'moved on'; }, 900);
  });
  xhr.send();
});
</script>"""


async def test_a_timer_set_by_a_network_answer_is_not_waited_for(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    static_site.add("/answer", "yes")
    await act(static_session, "goto", static_site.add("/answered", ANSWERED))
    await act(static_session, "click", {"role": "button", "name": "Ask"})
    assert await static_session.page.inner_text("#out") == "Answered: moving on shortly"
