"""One function per action kind (spec.py). Each returns what it saw; the session records the
network around it, settles, and turns Playwright errors into classified failures.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel

from app.browser.fingerprint import PageState, read_state
from app.browser.locators import build_locator, missing, on_one, remaining, resolve
from app.browser.masking import MARK_TYPED_SECRET_JS
from app.browser.network import parse_retry_after
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import (
    Action,
    ClickArgs,
    ExtractArgs,
    FillArgs,
    GotoArgs,
    PressArgs,
    SelectArgs,
    Step,
    TargetArgs,
    UploadArgs,
    WaitForArgs,
    match_pattern,
)

# A click on a covered element is retried by Playwright until its timeout; with a 10 s step
# timeout that would be 10 s to learn "a cookie banner is in the way". The first attempt gets
# this long: every retry in it that was intercepted means an obstruction, reported at once so
# the engine can dismiss it. Any other reason (not yet visible, still moving, disabled) keeps
# waiting for the rest of the step timeout. A timed-out attempt never dispatched the click.
OBSTRUCTION_PROBE_MS = 1000.0
_URL_POLL_S = 0.05


Operation = Callable[[Locator], Awaitable[None]]


@dataclass
class ActionContext:
    page: Page
    base_url: str | None
    deadline: float  # monotonic seconds
    recent: PageState | None = None  # the page as the previous action left it, if just now


@dataclass
class ActResult:
    before: PageState
    value: Any = None
    main_status: int | None = None
    side_effects: bool = True  # False: reading only; the page is not re-read or settled


def absolute_url(url: str, base_url: str | None) -> str:
    if urlsplit(url).scheme:
        return url
    if not base_url:
        raise StepFailure(
            FailureClass.PERMANENT, f"relative URL {url!r} but the task has no site", {"url": url}
        )
    return urljoin(base_url.rstrip("/") + "/", url)


def status_failure(status: int, url: str, retry_after: float | None) -> StepFailure | None:
    """The main document's status as a failure class: 5xx/429/408 may pass, other 4xx won't."""
    details: dict[str, Any] = {"status": status, "url": url}
    if retry_after is not None:
        details["retry_after"] = retry_after
    if status >= 500 or status in (408, 429):
        return StepFailure(FailureClass.TRANSIENT, f"{url} answered {status}", details)
    if status in (401, 419, 440):  # the site wants a (new) login: the run loop may log in again
        return StepFailure(FailureClass.SESSION_EXPIRED, f"{url} answered {status}", details)
    if status >= 400:
        return StepFailure(FailureClass.PERMANENT, f"{url} answered {status}", details)
    return None


WaitUntil = Literal["load", "domcontentloaded", "networkidle", "commit"]


async def goto(ctx: ActionContext, url: str, wait_until: WaitUntil = "load") -> int | None:
    """Navigate; raise on a failing status. Returns the main document's status."""
    full = absolute_url(url, ctx.base_url)
    try:
        response = await ctx.page.goto(
            full,
            wait_until=wait_until,
            timeout=remaining(ctx.deadline),
        )
    except PlaywrightTimeoutError:
        # A page that does not load in time is the site's (or network's) momentary trouble.
        raise StepFailure(FailureClass.TRANSIENT, f"{full} did not load in time", {"url": full}) from None
    if response is None:  # same-document (hash) navigation
        return None
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    failure = status_failure(response.status, response.url, retry_after)
    if failure is not None:
        raise failure
    return response.status


def _pointer(ctx: ActionContext, method: str, **kwargs: Any) -> Operation:
    """click / hover / check / uncheck, reporting an obstruction after OBSTRUCTION_PROBE_MS."""

    async def operation(locator: Locator) -> None:
        action = getattr(locator, method)
        first = min(remaining(ctx.deadline), OBSTRUCTION_PROBE_MS)
        try:
            await action(timeout=first, **kwargs)
            return
        except PlaywrightTimeoutError as exc:
            if "intercepts pointer events" in str(exc) or time.monotonic() >= ctx.deadline:
                raise
        await action(timeout=remaining(ctx.deadline), **kwargs)

    return operation


async def _before(ctx: ActionContext) -> PageState:
    if ctx.recent is not None and ctx.recent.url == ctx.page.url:
        return ctx.recent  # read a moment ago, nothing touched the page since: a round trip saved
    return await read_state(ctx.page, deadline=ctx.deadline)


_A = TypeVar("_A", bound=BaseModel)


def _args(step: Step, model: type[_A]) -> _A:
    """The step's args as the model its action expects.

    A Step built from plain dicts may have had its args parsed as a look-alike model of the
    union (hover args as ClickArgs): re-validate by action, never by shape.
    """
    if isinstance(step.args, model) and type(step.args) is model:
        return step.args
    return model.model_validate(step.args.model_dump(exclude_unset=True))


async def run(ctx: ActionContext, step: Step) -> ActResult:
    action = step.action
    if action is Action.ASK:
        raise ValueError("`ask` steps are answered by the engine, not the browser")
    if action is Action.GOTO:
        goto_args = _args(step, GotoArgs)
        before = await _before(ctx)
        return ActResult(before, main_status=await goto(ctx, goto_args.url, goto_args.wait_until))
    if action is Action.CLICK:
        click = _args(step, ClickArgs)
        before = await _before(ctx)
        await on_one(
            ctx.page,
            click.target,
            _pointer(ctx, "click", button=click.button, click_count=click.click_count, no_wait_after=True),
        )
        return ActResult(before)
    if action in (Action.HOVER, Action.CHECK, Action.UNCHECK):
        plain = _args(step, TargetArgs)
        before = await _before(ctx)
        await on_one(ctx.page, plain.target, _pointer(ctx, str(action)))
        return ActResult(before)
    if action is Action.FILL:
        fill = _args(step, FillArgs)
        before = await _before(ctx)

        if fill.value is None:  # the engine resolves `secret:` just before the action
            raise StepFailure(
                FailureClass.PERMANENT,
                f"credential {fill.secret} was not resolved",
                {"credential": fill.secret},
            )
        value = fill.value

        async def do_fill(locator: Locator) -> None:
            if fill.secret is not None:
                # Screenshots, previews, fingerprints and the live view treat the field as a
                # password from now on, even when it is a plain text input (G7).
                await locator.evaluate(MARK_TYPED_SECRET_JS, timeout=remaining(ctx.deadline))
            await locator.fill(value, timeout=remaining(ctx.deadline))

        await on_one(ctx.page, fill.target, do_fill)
        return ActResult(before)
    if action is Action.SELECT:
        select = _args(step, SelectArgs)
        before = await _before(ctx)

        async def do_select(locator: Locator) -> None:
            await locator.select_option(
                value=select.value, label=select.label, timeout=remaining(ctx.deadline)
            )

        await on_one(ctx.page, select.target, do_select)
        return ActResult(before)
    if action is Action.PRESS:
        press = _args(step, PressArgs)
        before = await _before(ctx)
        if press.target is None:
            await ctx.page.keyboard.press(press.key)
        else:

            async def do_press(locator: Locator) -> None:
                await locator.press(press.key, timeout=remaining(ctx.deadline), no_wait_after=True)

            await on_one(ctx.page, press.target, do_press)
        return ActResult(before)
    if action is Action.UPLOAD:
        return await _upload(ctx, _args(step, UploadArgs))
    if action is Action.WAIT_FOR:
        return await _wait_for(ctx, _args(step, WaitForArgs))
    if action is Action.EXTRACT:
        return await _extract(ctx, _args(step, ExtractArgs))
    if action is Action.ASSERT:
        return ActResult(await _before(ctx), side_effects=False)
    raise ValueError(f"unsupported action {action}")


async def _upload(ctx: ActionContext, args: UploadArgs) -> ActResult:
    files = [Path(f).expanduser().resolve() for f in args.files]
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise StepFailure(
            FailureClass.PERMANENT,
            f"file(s) to upload not found: {', '.join(absent)}",
            {"files": absent},
        )
    # File inputs are usually hidden behind a styled button: attached is enough.
    found = await resolve(ctx.page, args.target, deadline=ctx.deadline, visible=False)
    await found.locator.set_input_files(files, timeout=remaining(ctx.deadline))
    return ActResult(found.before)


async def _wait_for(ctx: ActionContext, args: WaitForArgs) -> ActResult:
    page = ctx.page
    before = await _before(ctx)
    if args.target is not None:
        locator = build_locator(page, args.target)
        # Any match will do: waiting is not acting, so several matches are no ambiguity.
        waits: dict[str, tuple[Locator, Literal["attached", "detached"]]] = {
            "visible": (locator.visible.first, "attached"),
            "attached": (locator.first, "attached"),
            "hidden": (locator.visible.first, "detached"),
            "detached": (locator.first, "detached"),
        }
        probe, state = waits[args.state]
        try:
            await probe.wait_for(state=state, timeout=remaining(ctx.deadline))
        except PlaywrightTimeoutError:
            if args.state in ("visible", "attached"):
                raise missing(args.target) from None
            still = "visible" if args.state == "hidden" else "there"
            raise StepFailure(
                FailureClass.TRANSIENT,
                f"{args.target.describe()} is still {still}",
                {"target": args.target.describe()},
            ) from None
    if args.url is not None:
        while not match_pattern(args.url, page.url, ctx.base_url):
            if time.monotonic() >= ctx.deadline:
                raise StepFailure(
                    FailureClass.TRANSIENT,
                    f"the URL did not become {args.url} (it is {page.url})",
                    {"expected": args.url, "url": page.url},
                )
            await page.wait_for_timeout(_URL_POLL_S * 1000)
    return ActResult(before, side_effects=False)


_ALL_JS = {
    "value": (
        "(els) => els.map((e) => e.type === 'password' ? null"
        " : e.value !== undefined ? e.value"
        " : e.isContentEditable ? e.innerText.replace(/\\n+$/, '') : '')"
    ),
    "html": "(els) => els.map((e) => e.innerHTML)",
    "attribute": "(els, name) => els.map((e) => e.getAttribute(name))",
    "text": "(els) => els.map((e) => e.innerText ?? e.textContent ?? '')",
}


async def _extract(ctx: ActionContext, args: ExtractArgs) -> ActResult:
    page = ctx.page
    if args.get == "count":
        # A measurement of now: zero is a valid answer, so nothing is waited for.
        before = await _before(ctx)
        return ActResult(before, await build_locator(page, args.target).count(), side_effects=False)
    if args.all:
        locator = build_locator(page, args.target)
        before = await _before(ctx)
        try:
            await locator.first.wait_for(state="attached", timeout=remaining(ctx.deadline))
        except PlaywrightTimeoutError:
            raise missing(args.target) from None
    else:
        found = await resolve(page, args.target, deadline=ctx.deadline, visible=False)
        locator, before = found.locator, found.before
    values = await locator.evaluate_all(_ALL_JS[args.get], args.attribute)
    if args.get == "value" and any(v is None for v in values):
        # G7: a password never becomes a step's output.
        raise StepFailure(
            FailureClass.PERMANENT,
            "refusing to extract the value of a password field",
            {"target": args.target.describe()},
        )
    value = values if args.all else (values[0] if values else None)
    return ActResult(before, value, side_effects=False)
