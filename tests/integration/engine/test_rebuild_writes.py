"""A page is rebuilt without sending a write (found on JupyterLab, issue 12): a step the record
says sent nothing is done again to rebuild its page, and a page in a new browser may answer the
same input differently. JupyterLab's Ctrl+S opened its "Rename file" dialog for the file the
launcher had just made, and saved the file as it was when a new browser opened it by its
address. The rebuild refuses every write it would send, and the record says so."""

from __future__ import annotations

from typing import Any

from app.domain.events import EventType
from app.domain.states import RunStatus
from tests.integration.engine.conftest import Harness

# "New file" creates the file (a write) and marks the page as having just made it; only such a
# page asks for the name on the first save. Opened again by its address, it saves at once.
DRAFT = """<!doctype html><title>Draft</title>
<button id=new type=button>New file</button>
<label for=t>Text</label><textarea id=t></textarea>
<button id=save type=button>Save</button>
<div id=dlg hidden><label for=n>File name</label><input id=n>
<button id=ok type=button>Rename and Save</button></div><p id=out></p>
<script>
let fresh = false;
document.getElementById('new').addEventListener('click', async () => {
  await fetch('/files', {method: 'POST'});
  history.pushState(null, '', '/draft?file=untitled');
  fresh = true;
});
document.getElementById('save').addEventListener('click', () => {
  if (fresh) { fresh = false; document.getElementById('dlg').hidden = false; return; }
  fetch('/save', {method: 'POST', body: document.getElementById('t').value});
});
document.getElementById('ok').addEventListener('click', async () => {
  await fetch('/rename', {method: 'POST', body: document.getElementById('n').value});
  document.getElementById('out').textContent = 'Saved';
});
</script>"""

TASK = """
name: name-a-new-file
site: {site}
policy: {{ask_on: []}}
steps:
  - goto: /draft
  - click: {{role: button, name: New file}}
  - fill: {{target: {{label: Text}}, value: Minutes}}
  - click: {{role: button, name: Save}}
    expect: {{visible: {{label: File name}}}}
  - fill: {{target: {{label: File name}}, value: minutes.txt}}
  - id: rename
    click: {{role: button, name: Rename and Save}}
    effect: irreversible
"""


async def test_a_step_redone_to_rebuild_a_page_never_sends_a_write(
    harness: Harness, static_site: Any
) -> None:
    static_site.add("/draft", DRAFT)
    for path in ("/files", "/save", "/rename"):
        static_site.add(path, "ok")
    run_id = harness.submit(TASK.format(site=static_site.url))
    waiting = await harness.engine.run(run_id)  # its page is let go while the person decides
    assert waiting.status is RunStatus.WAITING, waiting.error
    assert static_site.hits.count(("POST", "/files")) == 1 and ("POST", "/save") not in static_site.hits
    (approval,) = harness.engine.open_handoffs(run_id)
    harness.engine.answer(approval.id, {"decision": "approve"}, by="tester")

    result = await harness.engine.run(run_id)  # a new browser rebuilds the page to approve on

    # Redoing "Save" on the page opened by its address would have saved the file as it was.
    assert ("POST", "/save") not in static_site.hits
    assert static_site.hits.count(("POST", "/files")) == 1 and ("POST", "/rename") not in static_site.hits
    (blocked,) = harness.events_of(run_id, EventType.REQUEST_BLOCKED)
    assert blocked.data["url"].endswith("/save")
    assert "rebuilt without sending a write" in blocked.data["reason"]
    # The dialog it needs cannot be rebuilt: the run says so instead of going on.
    assert result.status is RunStatus.FAILED
    assert "could not re-establish the page" in (result.error or ""), result.error
