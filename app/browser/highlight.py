"""Outlining elements on a screenshot (approval previews, "which one did you mean?").

The outlines are drawn by the page itself, in an overlay that exists only for the capture, and
the same overlay paints over secret fields (G7: passwords, card numbers, codes — the rule of
masking.py). Doing the masking here rather than through
Playwright's screenshot mask leaves the page byte for byte as it was (Playwright's leaves
`style=""` on every input), and costs one capture instead of two passes.

The overlay is invisible to everything that reads the page (fingerprint.py reads `document.body`'s
text and the document's form controls): it hangs off `<html>`, outside `<body>`, holds no form
control, and lives in a closed shadow root under an element name no page styles. Inline
`!important` styles beat any page stylesheet. It is shown as a popover, which puts it in the top
layer: above a modal `<dialog>` too, where a login form's password field often is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from app.browser.capture import cdp_jpeg
from app.browser.masking import SECRET_FIELD_JS
from app.engine.ports import Box

OVERLAY_TAG = "flightdeck-highlight"
COLOUR = "#ff3b30"
MASK_COLOUR = "#ff00ff"  # what Playwright's screenshot mask paints, as screenshot() does

# Resolves once a frame with the overlay has been rendered, so the capture cannot miss it.
_SHOW_JS = (
    "async ([boxes, labels]) => {"
    + SECRET_FIELD_JS
    + f"""
  const host = document.createElement('{OVERLAY_TAG}');
  host.setAttribute('style', 'all: initial !important; position: fixed !important; inset: 0 !important;'
    + ' width: auto !important; height: auto !important; margin: 0 !important;'
    + ' display: block !important; z-index: 2147483647 !important; pointer-events: none !important;'
    + ' visibility: visible !important; opacity: 1 !important; overflow: visible !important;');
  const root = host.attachShadow({{mode: 'closed'}});
  const rect = (x, y, w, h, css) => {{
    const div = document.createElement('div');
    div.style.cssText = `position: fixed; left: ${{x}}px; top: ${{y}}px; width: ${{w}}px;`
      + ` height: ${{h}}px; box-sizing: border-box; ${{css}}`;
    return root.appendChild(div);
  }};
  for (const field of document.querySelectorAll('input, textarea')) {{
    if (!isSecretField(field)) continue;  // the same rule as the previews' masked values
    const r = field.getBoundingClientRect();
    if (r.width && r.height) rect(r.x, r.y, r.width, r.height, 'background: {MASK_COLOUR};');
  }}
  boxes.forEach(([x, y, w, h], i) => {{
    rect(x, y, w, h, 'border: 3px solid {COLOUR}; background: rgba(255, 59, 48, 0.12); border-radius: 2px;');
    const text = labels[i];
    if (!text) return;
    const tag = root.appendChild(document.createElement('div'));
    tag.style.cssText = `position: fixed; left: ${{x}}px; top: ${{y >= 20 ? y - 20 : y + 3}}px;`
      + ' background: {COLOUR}; color: #fff; font: bold 13px/18px sans-serif; padding: 0 5px;'
      + ' border-radius: 3px; white-space: nowrap;';
    tag.textContent = text;
  }});
  document.documentElement.appendChild(host);
  if (host.showPopover) {{
    host.setAttribute('popover', 'manual');
    host.showPopover();
  }}
  // A page in a background tab gets no animation frames: do not wait for them forever.
  await new Promise((done) => {{
    requestAnimationFrame(() => requestAnimationFrame(done));
    setTimeout(done, 200);
  }});
}}"""
)

_REMOVE_JS = f"() => document.querySelectorAll('{OVERLAY_TAG}').forEach((n) => n.remove())"


async def show(page: Page, boxes: list[Box], labels: list[str] | None = None) -> None:
    """Draw the outlines and the secret-field masks; `labels[i]` is written next to box i
    (numbers 1, 2… by default)."""
    names = labels if labels is not None else [str(i + 1) for i in range(len(boxes))]
    names = [*names, *[""] * (len(boxes) - len(names))]
    await page.evaluate(_SHOW_JS, [[list(box) for box in boxes], names])


async def remove(page: Page) -> None:
    await page.evaluate(_REMOVE_JS)


async def highlight(
    page: Page,
    cdp: Callable[[], Awaitable[CDPSession]],
    boxes: list[Box],
    labels: list[str] | None = None,
) -> bytes:
    """A JPEG of the viewport with `boxes` outlined and secret fields painted over; the page
    is left exactly as it was."""
    try:
        await show(page, boxes, labels)
        return await cdp_jpeg(cdp)
    finally:
        # The page may have navigated away meanwhile, taking the overlay with it.
        with contextlib.suppress(PlaywrightError):
            await remove(page)
