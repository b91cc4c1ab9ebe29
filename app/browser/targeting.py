"""Reading targets without acting on them: what one target means (`inspect`), everything a target
matches (`candidates`) and what is under a point (`target_at`), each with a locator that matches
exactly that element.

A derived locator is only returned after Playwright itself found that it matches one element, and
the same one (checked against an element handle in one round trip). Handles live only for the
few round trips of one call: pages re-render (locators.py), a re-rendered node fails the check and
the next kind of locator is tried.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from playwright.async_api import ElementHandle, JSHandle, Page
from playwright.async_api import Error as PlaywrightError

from app.browser.classify import classify
from app.browser.describe import DESCRIBE_ALL_JS, DESCRIBE_HELPERS, DESCRIBE_JS, target_info
from app.browser.locators import build_locator, remaining, resolve
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Target
from app.engine.ports import Candidate, TargetInfo

_IS_EXACTLY_JS = "(els, el) => els.length === 1 && els[0] === el"

# Under a point: the element hit, or the control it belongs to (the text inside a button, the
# icon inside a link, the label of a checkbox). Open shadow roots are entered.
_AT_POINT_JS = (
    "([x, y]) => {"
    + DESCRIBE_HELPERS
    + r"""
  const INTERACTIVE = 'button, a[href], area[href], input, select, textarea, summary, label, '
    + '[contenteditable=""], [contenteditable="true"], [role=button], [role=link], '
    + '[role=checkbox], [role=radio], [role=switch], [role=tab], [role=menuitem], '
    + '[role=menuitemcheckbox], [role=menuitemradio], [role=option], [role=combobox], '
    + '[role=textbox], [role=searchbox], [role=slider], [role=spinbutton], [role=treeitem]';
  let hit = document.elementFromPoint(x, y);
  while (hit && hit.shadowRoot) {
    const inner = hit.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === hit) break;
    hit = inner;
  }
  if (!hit || hit === document.documentElement || hit === document.body) return null;
  let el = hit.closest(INTERACTIVE) || hit;
  // A styled checkbox hides its input behind the label: keep the label then.
  if (el.tagName === 'LABEL' && el.control && boxOf(el.control)) el = el.control;
  return el;
}"""
)

# A css path from the nearest ancestor with a unique id; the last resort of `target_at`.
_CSS_PATH_JS = r"""(el) => {
  const parts = [];
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    if (n.id && document.querySelectorAll('#' + CSS.escape(n.id)).length === 1) {
      parts.unshift('#' + CSS.escape(n.id));
      break;
    }
    const tag = CSS.escape(n.tagName.toLowerCase());
    if (n === document.documentElement) { parts.unshift(tag); break; }
    let i = 1;
    for (let s = n.previousElementSibling; s; s = s.previousElementSibling) {
      if (s.tagName === n.tagName) i++;
    }
    parts.unshift(tag + ':nth-of-type(' + i + ')');
  }
  return parts.join(' > ');
}"""


# Describe the match when there is exactly one; otherwise only say how many there are.
_DESCRIBE_ONE_JS = (
    "(els) => {"
    + DESCRIBE_HELPERS
    + "  return els.length === 1 ? describe(els[0]) : {__count: els.length};\n}"
)


async def inspect(page: Page, target: Target, *, deadline: float) -> TargetInfo:
    """See BrowserSession.inspect: the same resolving as an action, then one read.

    The common case (exactly one match) is one round trip: Playwright's strict locator finds
    the element and the read runs on it. Only several matches or none go the long way, to
    resolve them exactly as an action would (one visible of several; missing; ambiguous).
    """
    try:
        # evaluate_all is one protocol call (measured ~6 ms); locator.evaluate waits through
        # several (~20 ms) even when the element is there.
        raw = await build_locator(page, target).evaluate_all(_DESCRIBE_ONE_JS)
        if "__count" not in raw:
            return target_info(raw)
    except PlaywrightError:
        pass
    found = await resolve(page, target, deadline=deadline)
    try:
        raw = await found.locator.evaluate(DESCRIBE_JS, timeout=remaining(deadline))
    except PlaywrightError as exc:
        raise classify(exc, what=target.describe(), page_url=page.url) from None
    return target_info(raw)


async def candidates(page: Page, target: Target, *, limit: int) -> list[Candidate]:
    """See BrowserSession.candidates. Nothing is waited for: it describes the page as it is."""
    locator = build_locator(page, target)
    try:
        handles = await locator.element_handles()
        try:
            raws: list[dict[str, Any]] = await page.evaluate(DESCRIBE_ALL_JS, handles) if handles else []
            order = sorted(range(len(raws)), key=lambda i: not raws[i]["visible"])[:limit]
            derived = await asyncio.gather(
                *(_derive(page, handles[i], raws[i], original=target) for i in order)
            )
        finally:
            await _dispose(*handles)
    except PlaywrightError as exc:
        raise classify(exc, what=target.describe(), page_url=page.url) from None
    return [
        Candidate(
            index=position,
            info=target_info(raws[i]),
            # The original target narrowed to this match still means exactly this element.
            target=derived_target or _nth(target, i),
        )
        for position, (i, derived_target) in enumerate(zip(order, derived, strict=True))
    ]


async def target_at(page: Page, x: float, y: float, *, attempts: int = 3) -> Candidate | None:
    """See BrowserSession.target_at. A node re-rendered while its locator was being checked is
    looked up again (at most `attempts` times)."""
    try:
        for _ in range(attempts):
            handle = await page.evaluate_handle(_AT_POINT_JS, [x, y])
            element = handle.as_element()
            if element is None:
                await _dispose(handle)
                return None
            try:
                raw = await element.evaluate(DESCRIBE_JS)
                found = await _derive(page, element, raw, css_path=True)
            finally:
                await _dispose(element)
            if found is not None:
                return Candidate(index=0, info=target_info(raw), target=found)
    except PlaywrightError as exc:
        raise classify(exc, what=f"element at ({x:g}, {y:g})", page_url=page.url) from None
    raise StepFailure(
        FailureClass.TRANSIENT,
        f"the element at ({x:g}, {y:g}) kept changing while a locator was derived for it",
        {"point": [x, y]},
    )


def _nth(target: Target, index: int) -> Target:
    """`target` narrowed to its `index`-th match (a target with nth already means one element)."""
    return target if target.nth is not None else target.model_copy(update={"nth": index})


def _own_targets(raw: dict[str, Any]) -> list[Target]:
    """Locators for the described element by its own features, most robust first."""
    found: list[Target] = []
    if raw["testId"]:
        found.append(Target(test_id=raw["testId"]))
    if raw["role"] and raw["text"]:
        found.append(Target(role=raw["role"], name=raw["text"], exact=True))
    if raw["label"]:
        found.append(Target(label=raw["label"], exact=True))
    if raw["placeholder"]:
        found.append(Target(placeholder=raw["placeholder"], exact=True))
    if raw["ownText"]:
        found.append(Target(text=raw["ownText"], exact=True))
    return found


def _scoped_targets(raw: dict[str, Any], own: list[Target], original: Target | None) -> list[Target]:
    """The same locators narrowed to an ancestor with a test id or id (nearest first): the one
    "Remove" button inside `member-grace-hopper`. Unlike nth, it never drifts onto another row
    when the rows change."""
    found: list[Target] = []
    for hint in raw["scopes"]:
        scope = Target(test_id=hint["testId"]) if "testId" in hint else Target(css="#" + hint["id"])
        found += [t.model_copy(update={"within": scope}) for t in own]
        if original is not None:
            # Keep the original's own narrowing outside the new one.
            outer = scope.model_copy(update={"within": original.within})
            found.append(original.model_copy(update={"within": outer, "nth": None}))
    return found


async def _derive(
    page: Page,
    element: ElementHandle,
    raw: dict[str, Any],
    *,
    original: Target | None = None,
    css_path: bool = False,
) -> Target | None:
    """The most robust target that Playwright resolves to exactly `element`, or None. Tried in
    tiers (own features, then narrowed to an ancestor, then a css path): a tier costs one round
    trip per locator, all at once, and is only tried when the one before found nothing."""
    own = _own_targets(raw)
    tiers: list[list[Target]] = [own, _scoped_targets(raw, own, original)]
    if css_path:
        tiers.append([Target(css=await element.evaluate(_CSS_PATH_JS))])
    for targets in tiers:
        verdicts = await asyncio.gather(*(_is_exactly(page, t, element) for t in targets))
        found = next((t for t, ok in zip(targets, verdicts, strict=True) if ok), None)
        if found is not None:
            return found
    return None


async def _is_exactly(page: Page, target: Target, element: ElementHandle) -> bool:
    try:
        return bool(await build_locator(page, target).evaluate_all(_IS_EXACTLY_JS, element))
    except PlaywrightError:
        return False  # e.g. a role Playwright does not know: not a usable locator


async def _dispose(*handles: JSHandle) -> None:
    for handle in handles:
        with contextlib.suppress(PlaywrightError):
            await handle.dispose()
