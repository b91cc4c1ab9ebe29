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
from app.browser.nearby import similarity
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


# Every element a target of a kind could have meant, with the name it would be compared by:
# {els: [element…], rows: [[role, name, visible]…]}. Roles: the target's own and the controls a
# person may take for it (a link styled as a button). At most _SCANNED elements are looked at.
_NAMED_JS = (
    "([kind, wanted, root]) => {"
    + DESCRIBE_HELPERS
    + r"""
  const CONTROLS = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'combobox', 'textbox', 'searchbox', 'slider',
    'spinbutton', 'treeitem', 'listbox']);
  const ownWords = (el) => Array.from(el.childNodes)
    .some((n) => n.nodeType === 3 && n.textContent.trim());
  const els = [], rows = [];
  for (const el of (root || document).querySelectorAll('*')) {
    if (els.length >= __SCANNED__) break;
    if (['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'HEAD', 'TITLE'].includes(el.tagName)) continue;
    let name = '';
    const role = roleOf(el);
    if (kind === 'role') {
      if (role !== wanted && !CONTROLS.has(role)) continue;
      name = nameOf(el);
    } else if (kind === 'label') {
      if (!isControl(el)) continue;
      name = labelOf(el);
    } else if (kind === 'placeholder') {
      name = el.getAttribute('placeholder') || '';
    } else if (kind === 'test_id') {
      name = el.getAttribute('data-testid') || '';
    } else if (kind === 'text') {
      if (!ownWords(el)) continue;
      name = el.innerText || el.textContent;
    }
    name = cut(squash(name), 120);
    if (!name) continue;
    const box = boxOf(el);
    els.push(el);
    rows.push([role, name, box !== null && getComputedStyle(el).visibility !== 'hidden']);
  }
  return {els, rows};
}"""
).replace("__SCANNED__", "3000")
# How close a name must be to count as a near miss: of the target's own role (or any element, for
# text, label, placeholder and test id targets), and of another role (then all but equal).
NEAR = 0.5
NEAR_OTHER_ROLE = 0.95
NEAR_MISSES = 5


def _wanted(target: Target) -> str | None:
    """The name a target looks for, which near misses are compared with (css: none)."""
    kind = target.kind
    if kind == "role":
        return target.name
    if kind in ("label", "text", "placeholder", "test_id"):
        return str(getattr(target, kind))
    return None


async def near_misses(page: Page, target: Target) -> list[tuple[Candidate, float]]:
    """The elements `target` may have meant though it matched none (the button says "– Delete",
    the task "Delete"): of its role, the closest names; of other roles, the same name. Each with
    a locator that matches exactly it, and its similarity (0..1), closest first. Within a scope
    (`within`) that matches one element, only inside it."""
    wanted = _wanted(target)
    if not wanted:
        return []
    root: JSHandle | None = None
    if target.within is not None:
        scope = build_locator(page, target.within)
        if await scope.count() == 1:
            root = await scope.element_handle()
    found = await page.evaluate_handle(_NAMED_JS, [target.kind, target.role, root])
    try:
        rows: list[list[Any]] = await (await found.get_property("rows")).json_value()
        scored: list[tuple[float, bool, int]] = []
        others: list[tuple[float, bool, int]] = []
        for i, (role, name, visible) in enumerate(rows):
            score = similarity(wanted, name)
            if target.kind != "role" or role == target.role:
                if score >= NEAR:
                    scored.append((score, visible, i))
            elif score >= NEAR_OTHER_ROLE:
                others.append((score, visible, i))
        best = sorted(scored, key=lambda x: (-x[0], not x[1]))[:NEAR_MISSES]
        best += sorted(others, key=lambda x: (-x[0], not x[1]))[: max(1, NEAR_MISSES - len(best))]
        if not best:
            return []
        elements = await found.get_property("els")
        handles = [
            element
            for _, _, i in best
            if (element := (await elements.get_property(str(i))).as_element()) is not None
        ]
        try:
            raws: list[dict[str, Any]] = await page.evaluate(DESCRIBE_ALL_JS, handles)
            derived = await asyncio.gather(
                *(_derive(page, h, raw) for h, raw in zip(handles, raws, strict=True))
            )
        finally:
            await _dispose(*handles, elements)
    finally:
        await _dispose(found, *([root] if root is not None else []))
    return [
        (Candidate(index=position, info=target_info(raw), target=own or _named(raw, target)), score)
        for position, ((score, _, _), raw, own) in enumerate(zip(best, raws, derived, strict=True))
    ]


def _named(raw: dict[str, Any], fallback: Target) -> Target:
    """A locator by role and name when no exact one could be derived (it may match others too)."""
    if raw["role"] and raw["text"]:
        return Target(role=raw["role"], name=raw["text"], exact=True)
    return fallback


def near_miss_json(candidate: Candidate, score: float) -> dict[str, Any]:
    """A near miss as the record and a clarification's candidates show it."""
    info = candidate.info
    return {
        "choice": str(candidate.index + 1),
        "description": info.description + ("" if info.box else " (hidden)"),
        "role": info.role,
        "text": info.text,
        "box": list(info.box) if info.box else None,
        "target": candidate.target.model_dump(mode="json", exclude_defaults=True),
        "similarity": round(score, 2),
    }


async def explain_missing(page: Page, failure: StepFailure, target: Target | None) -> StepFailure:
    """A missing target's failure with the elements it may have meant: in the message (closest
    first) and in details["near_misses"]. Best effort: a page that cannot be read adds nothing."""
    if (
        failure.failure_class is not FailureClass.MISSING_TARGET
        or target is None
        or "target" not in failure.details
        or "near_misses" in failure.details
    ):
        return failure
    try:
        found = await near_misses(page, target)
    except PlaywrightError:
        return failure
    if not found:
        return failure
    misses = [near_miss_json(c, score) for c, score in found]
    closest = ", ".join(m["description"] for m in misses)
    return StepFailure(
        failure.failure_class,
        f"{failure.message}; closest: {closest}",
        {**failure.details, "near_misses": misses},
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
