"""A page's own scripts are part of the page: Flightdeck acts once they are ready and waits for
what they do in reaction to an action (issue 12, defect 12).

The hostile site's page editor derives the slug from the title with its own script, as Wagtail's
page editor does; a form posted before that script ran has no slug, is re-rendered with its
errors (200) and autosaves itself in the background (400): nothing is created. Judged by the
site's truth: the page exists once, with the slug its script derived, posted once.
"""

from __future__ import annotations

from app.domain.states import RunStatus
from tests.integration.engine.conftest import Harness

PUBLISH = """
name: publish-page
site: SITE
inputs: {title: string}
policy: {ask_on: []}
steps:
  - goto: /editor/new?QUERY
  - fill: {target: {label: Title}, value: "{{ title }}"}
  - click: {role: button, name: More actions}
  - id: publish
    click: {role: button, name: Publish}
    effect: write
    expect:
      text: "Page '{{ title }}' created and published."
"""


async def _publish(harness: Harness, query: str, title: str) -> None:
    harness.site.configure(cookie_banner=False)
    result = await harness.run(PUBLISH.replace("QUERY", query), {"title": title})
    truth = harness.site.truth()
    slug = title.lower().replace(" ", "-")
    assert truth["editor_pages"] == [{"title": title, "slug": slug}], (result.error, truth["editor_posts"])
    assert truth["editor_posts"] == [{"title": title, "slug": slug}]  # posted once, with its slug
    assert truth["editor_autosaves"] == 0  # no form re-rendered with errors
    assert result.status is RunStatus.SUCCEEDED, result.error


async def test_the_title_is_typed_only_once_the_editor_script_has_loaded(harness: Harness) -> None:
    # The script that derives the slug arrives 3 s after the page's load event (longer than
    # Flightdeck waits for a read after a goto): typed before, the title's input event finds no
    # listener and the slug stays empty.
    await _publish(harness, "script_ms=3000", "Spring news")


async def test_a_debounced_handler_finishes_before_the_next_action(harness: Harness) -> None:
    # The slug follows the title 600 ms after its last change (Wagtail: 100 ms after the title
    # loses focus, i.e. on the click of "More actions"); "Publish" must not beat it.
    await _publish(harness, "debounce_ms=600", "Autumn news")
