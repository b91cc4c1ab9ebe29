"""Looking for a secret's digits in text that also carries random identifiers.

Tokens, hashes and run ids are random hex: any four-digit run (a card's last four, a CVV) turns up
in one of them now and then, and a test that searched the raw text would fail by chance. These
helpers blank such identifiers first, so the search only finds digits a person would read as data.
"""

from __future__ import annotations

import re

# 16+ hex characters in a row: CSRF tokens, sha256 artifact names, uuids without dashes.
_HEX_ID = re.compile(r"[0-9a-fA-F]{16,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def without_random_ids(text: str) -> str:
    """`text` with uuids and long hex identifiers replaced by `<id>`."""
    return _HEX_ID.sub("<id>", _UUID.sub("<id>", text))
