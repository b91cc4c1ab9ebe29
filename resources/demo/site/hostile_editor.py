"""The hostile site's page editor: a rich CMS form whose own script derives a field, as Wagtail's
page editor derives the slug from the title. Mixed into ``HostileSite`` (``hostile_site.py``);
its state lives in ``EditorState``, part of the site's state.

- ``/editor/new``: Title, a Slug hidden in a closed "Promote" section, and a "More actions" menu
  holding "Publish". The page's editor script fills the slug from the title on ``input`` and
  ``change``. Query knobs: ``script_ms`` — the script is added after the page's ``load`` event
  and takes that long to arrive (0: inline, attached at once); ``debounce_ms`` — the slug is
  derived that long after the last title event (Wagtail: 100 ms), not at once.
- ``POST /editor/new``: an empty slug re-renders the form with ``200`` (as Wagtail does) and its
  errors; the re-rendered form autosaves itself in the background (``POST /editor/autosave`` →
  ``400``), so one click shows two POSTs. A valid form is stored and redirects to ``/editor``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode

from hostile_http import Request, Response, cookie, json_response, redirect
from hostile_pages import esc

_MAX_SCRIPT_MS = 10_000


class EditorState:
    def __init__(self) -> None:
        self.pages: list[dict[str, str]] = []  # {"title", "slug"}
        self.publish_posts: list[dict[str, str]] = []  # every POST /editor/new: {"title", "slug"}
        self.autosaves = 0

    def truth(self) -> dict[str, Any]:
        return {
            "editor_pages": self.pages,
            "editor_posts": self.publish_posts,
            "editor_autosaves": self.autosaves,
        }


def _ms(req: Request, name: str) -> int:
    raw = req.query.get(name, "")
    return min(int(raw), _MAX_SCRIPT_MS) if raw.isdigit() else 0


def _knobs(req: Request) -> dict[str, int]:
    return {"script_ms": _ms(req, "script_ms"), "debounce_ms": _ms(req, "debounce_ms")}


EDITOR_JS = """(function () {
  var title = document.getElementById('id_title'), slug = document.getElementById('id_slug');
  var wait = %d, timer = null;
  function slugify(v) { return v.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, ''); }
  function apply() { timer = null; if (!slug.dataset.edited) slug.value = slugify(title.value); }
  function later() {
    if (!wait) return apply();
    clearTimeout(timer);
    timer = setTimeout(apply, wait);
  }
  title.addEventListener('input', later);
  title.addEventListener('change', later);
  slug.addEventListener('input', function () { slug.dataset.edited = '1'; });
})();
"""

# Loaded after the page's load event, as code-split editor bundles are.
_LATE_LOADER = """<script>
addEventListener('load', function () {
  var s = document.createElement('script');
  s.src = %s;
  document.head.appendChild(s);
});
</script>"""

_MENU_JS = """<script>
document.getElementById('more-actions').addEventListener('click', function () {
  var menu = document.getElementById('actions-menu');
  menu.hidden = !menu.hidden;
  this.setAttribute('aria-expanded', String(!menu.hidden));
});
</script>"""

# The re-rendered form saves itself in the background, as Wagtail's autosave does.
_AUTOSAVE_JS = """<script>
setTimeout(function () {
  fetch('/editor/autosave', {method: 'POST', body: new FormData(document.getElementById('page-form'))});
}, 300);
</script>"""


def _editor_page(
    knobs: dict[str, int], *, title: str = "", slug: str = "", errors: dict[str, str] | None = None
) -> str:
    query = urlencode({k: v for k, v in knobs.items() if v})
    action = "/editor/new" + (f"?{query}" if query else "")
    errors = errors or {}
    summary = (
        '<div class="messages" role="status"><ul><li class="error">'
        "The page could not be created due to validation errors.</li></ul></div>"
        if errors
        else ""
    )

    def field_error(name: str) -> str:
        if name not in errors:
            return ""
        message = f'<p class="error-message">{esc(errors[name])}</p>'
        return f'<div class="w-field__errors" id="{name}-errors">{message}</div>'

    if knobs["script_ms"]:
        script = {"delay_ms": knobs["script_ms"], "debounce_ms": knobs["debounce_ms"]}
        src = f"/editor/editor.js?{urlencode(script)}"
        editor_script = _LATE_LOADER % json.dumps(src)
    else:
        editor_script = f"<script>{EDITOR_JS % knobs['debounce_ms']}</script>"
    invalid = ' aria-invalid="true" aria-describedby="slug-errors"' if "slug" in errors else ""
    return (
        f"<h1>New page</h1>{summary}"
        f'<form id="page-form" method="post" action="{esc(action)}" data-testid="page-form">'
        '<label for="id_title">Title</label>'
        f'<input id="id_title" name="title" value="{esc(title)}">{field_error("title")}'
        "<details><summary>Promote</summary>"
        '<label for="id_slug">Slug</label>'
        f'<input id="id_slug" name="slug" value="{esc(slug)}"{invalid}>{field_error("slug")}'
        "</details>"
        '<nav aria-label="Actions">'
        '<button type="button" id="more-actions" aria-expanded="false">More actions</button>'
        '<div id="actions-menu" hidden>'
        '<button type="submit" name="action" value="publish">Publish</button></div>'
        "</nav></form>"
        f"{_MENU_JS}{editor_script}{_AUTOSAVE_JS if errors else ''}"
    )


def _listing(pages: list[dict[str, str]], flash: str | None) -> str:
    note = f'<p role="status" class="flash" data-testid="flash">{esc(flash)}</p>' if flash else ""
    rows = "".join(
        f'<li data-testid="page"><a href="/{esc(p["slug"])}/">{esc(p["title"])}</a></li>' for p in pages
    )
    return f'<h1>Pages</h1>{note}<p><a href="/editor/new">Add page</a></p><ul class="items">{rows}</ul>'


class EditorPagesMixin:
    """Handlers for the editor pages. ``HostileSite`` provides the attributes declared here."""

    _lock: threading.RLock
    _state: Any  # hostile_site._State, with .editor: EditorState
    _page: Callable[..., Response]

    def _editor_routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/editor"): self._editor_listing,
            ("GET", "/editor/new"): self._editor_new,
            ("POST", "/editor/new"): self._editor_publish,
            ("POST", "/editor/autosave"): self._editor_autosave,
            ("GET", "/editor/editor.js"): self._editor_script,
        }

    @property
    def _es(self) -> EditorState:
        return self._state.editor

    def _editor_listing(self, req: Request) -> Response:
        flash = unquote(req.cookies.get("flash", "")) or None
        headers = [cookie("flash", "", path="/editor", max_age=0)] if flash else []
        with self._lock:
            pages = [dict(p) for p in self._es.pages]
        return self._page(req, 200, "Pages", _listing(pages, flash), headers=headers)

    def _editor_new(self, req: Request) -> Response:
        return self._page(req, 200, "New page", _editor_page(_knobs(req)))

    def _editor_publish(self, req: Request) -> Response:
        form = req.form()
        title, slug = form.get("title", "").strip(), form.get("slug", "").strip()
        errors = {}
        if not title:
            errors["title"] = "This field is required."
        if not slug:
            errors["slug"] = "This field is required."
        elif not re.fullmatch(r"[a-z0-9-]+", slug):
            errors["slug"] = "Enter a valid slug."
        with self._lock:
            self._es.publish_posts.append({"title": title, "slug": slug})
            if not errors and any(p["slug"] == slug for p in self._es.pages):
                errors["slug"] = f"The slug '{slug}' is already in use."
            if not errors:
                self._es.pages.append({"title": title, "slug": slug})
        if errors:
            page = _editor_page(_knobs(req), title=title, slug=slug, errors=errors)
            return self._page(req, 200, "New page", page)
        flash = quote(f"Page '{title}' created and published.")
        return redirect("/editor", [cookie("flash", flash, path="/editor")])

    def _editor_autosave(self, req: Request) -> Response:
        with self._lock:
            self._es.autosaves += 1
        return json_response(400, {"success": False, "error_code": "validation_error"})

    def _editor_script(self, req: Request) -> Response:
        debounce = _ms(req, "debounce_ms")
        time.sleep(_ms(req, "delay_ms") / 1000)  # this handler has its own thread: nothing else waits
        return Response(200, (EDITOR_JS % debounce).encode(), "text/javascript")
