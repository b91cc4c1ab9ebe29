"""Which form values are secrets (G7): one rule, used in the page (JavaScript) and here (request
bodies), so a field masked in an approval preview is also masked in a held request.

A value is secret when its field is a password, when its `autocomplete` says it holds a card or a
one-time code or a password, or when its name or id looks like one. Short words (pw, pin, otp,
ssn, cvv) only count as whole words, so `shipping` or `business_name` are not masked; names are split
at camelCase humps first (`userPin` → `user_Pin`).
"""

from __future__ import annotations

import json
import re

MASK = "••••••"
# Values longer than this are cut (with "…") in previews and held requests.
VALUE_CHARS = 200

# Valid both as a Python and a JavaScript regular expression (used with the i flag).
SECRET_NAME = (
    r"pass|secret|token|card.?num|csrf|xsrf|nonce|api.?key|pin.?code"
    r"|(?<![a-z])(pw|pwd|pin|otp|ssn|cvv|cvc|cvn)(?![a-z])"
)
SECRET_AUTOCOMPLETE = r"cc-(?:number|csc|exp)|one-time-code|current-password|new-password"

_SECRET_NAME = re.compile(SECRET_NAME, re.IGNORECASE)
_HUMP = re.compile(r"([a-z0-9])([A-Z])")


def is_secret_name(name: str | None) -> bool:
    return bool(name) and _SECRET_NAME.search(_HUMP.sub(r"\1_\2", name or "")) is not None


def cut(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Marks the element a credential is about to be typed into (locator.evaluate, before the fill).
# A WeakSet, not an attribute: the mark goes when the element goes. Its rendering shows discs
# instead of characters, as a password field would, so no frame of the live view (the CDP
# screencast paints the page as rendered) shows a username or a code typed from a credential;
# set before the value exists, so not even the frame of the keystroke does.
MARK_TYPED_SECRET_JS = (
    "(el) => { const fd = window.__flightdeck; if (fd && fd.secrets) fd.secrets.add(el);"
    " el.style.setProperty('-webkit-text-security', 'disc', 'important'); }"
)

# JavaScript: `isSecretField(el)`, `typedSecret(el)` and `cut(text)`, for scripts evaluated in
# the page. Checkbox and radio states are never secret (masking them would only hide what an
# approval changes).
SECRET_FIELD_JS = (
    """
  const SECRET_NAME = new RegExp(__NAME__, 'i');
  const SECRET_AUTOCOMPLETE = new RegExp(__AUTOCOMPLETE__, 'i');
  const MASK = __MASK__;
  const VALUE_CHARS = __CHARS__;
  const secretName = (s) => !!s && SECRET_NAME.test(String(s).replace(/([a-z0-9])([A-Z])/g, '$1_$2'));
  // A field Flightdeck typed a credential into (actions.py marks it): secret whatever its type.
  const typedSecret = (el) => {
    const fd = window.__flightdeck;
    return !!(fd && fd.secrets && fd.secrets.has(el));
  };
  const isSecretField = (el) => {
    const type = String(el.type || '').toLowerCase();
    if (type === 'checkbox' || type === 'radio') return false;
    return type === 'password' || typedSecret(el)
      || SECRET_AUTOCOMPLETE.test(el.getAttribute('autocomplete') || '')
      || secretName(el.getAttribute('name')) || secretName(el.id);
  };
  const cut = (s, n = VALUE_CHARS) => (s.length <= n ? s : s.slice(0, n - 1) + '…');
""".replace("__NAME__", json.dumps(SECRET_NAME))
    .replace("__AUTOCOMPLETE__", json.dumps(SECRET_AUTOCOMPLETE))
    .replace("__MASK__", json.dumps(MASK))
    .replace("__CHARS__", str(VALUE_CHARS))
)
