"""Reading a page's form errors: the messages next to fields (error lists, invalid feedback,
aria-invalid with its description) with the field each is about, alerts about no field, and
nothing that is hidden, wordless, or the page's header."""

from __future__ import annotations

from typing import Any

from browser_support import act

from app.browser import PlaywrightSession
from app.engine.ports import FormError

PAGE = """<!doctype html><title>Sign up</title>
<header><a href="#main">Skip to main content</a> <input aria-label="Search Pages"></header>
<p role="alert">Please correct the errors below.</p>
<form id=main>
  <div class="mb-3"><label for=email>Email</label>
    <input id=email class="form-control is-invalid" value="nobody">
    <div class="invalid-feedback" style="display:block">Please provide a valid email.</div></div>
  <div class="field"><label for=name>Name</label>
    <input id=name aria-invalid="true" aria-errormessage="name-error" value="A">
    <span id=name-error>Name is too short.</span></div>
  <div class="field"><label for=code>Code <span class="text-danger">*</span></label><input id=code>
    <span class="error" hidden>An error nobody sees</span></div>
  <details><summary>Promote</summary><label for=slug>Slug</label>
    <input id=slug aria-invalid="true" aria-describedby="slug-errors">
    <div id=slug-errors><p class="error-message">This field is required.</p></div></details>
  <button>Sign up</button>
</form>"""


async def test_form_errors_are_read_with_the_field_each_is_about(
    static_session: PlaywrightSession, static_site: Any
) -> None:
    await act(static_session, "goto", static_site.add("/signup", PAGE))
    assert await static_session.form_errors() == [
        FormError("Name is too short.", "Name"),
        FormError("This field is required.", "Slug"),  # in a closed section, but tied to the field
        FormError("Please correct the errors below.", ""),
        FormError("Please provide a valid email.", "Email"),
    ]
    await act(
        static_session, "goto", static_site.add("/clean", "<form><input name=q><button>Go</button></form>")
    )
    assert await static_session.form_errors() == []
