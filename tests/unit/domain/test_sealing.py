"""Secret values in what a run executes from: replaced by references to the credential field,
resolved again to exactly the text that was there; text that only looks like a reference (a
page can show anything) is never resolved."""

from __future__ import annotations

import json

import pytest

from app.domain.checkpoint import Checkpoint
from app.domain.sealing import Sealer, conceal
from app.secrets import MASK, Redactor, encodings

USER = "grace.h@example.com"
PASSWORD = 'Pa55/w0rd+&"q" <é>'


def sealer(tag: str = "0123456789abcdef") -> Sealer:
    sealed = Sealer(tag)
    sealed.add("shop.username", USER)
    sealed.add("shop.password", PASSWORD)
    return sealed


def test_every_form_of_a_value_is_sealed_and_resolves_to_exactly_what_was_there() -> None:
    checkpoint = Checkpoint(
        last_url="http://shop.test/users/grace.h%40example.com?u=grace.h%40example.com",
        outputs={"who": f"Signed in as {USER}", "token": "R3JhY2U=", "blob": json.dumps({"p": PASSWORD})},
    ).to_json()
    sealed = sealer().seal(checkpoint)
    text = json.dumps(sealed, ensure_ascii=False)
    assert [form for value in (USER, PASSWORD) for form in encodings(value) if form in text] == []
    assert sealed["last_url"] == (
        "http://shop.test/users/⟦secret:shop.username:url@0123456789abcdef⟧"
        "?u=⟦secret:shop.username:url@0123456789abcdef⟧"
    )
    assert sealed["outputs"]["token"] == "R3JhY2U="  # not a form of any value: left alone
    # Another process, knowing the values by reference, continues from the same text.
    assert sealer().unseal(sealed) == checkpoint
    assert Checkpoint.from_json(sealer().unseal(sealed)).last_url == checkpoint["last_url"]


def test_sealing_twice_changes_nothing_so_a_checkpoint_can_be_read_and_written_again() -> None:
    once = sealer().seal({"url": f"/users/{USER}", "n": 3})
    assert sealer().seal(once) == once
    # A credential named like its own username: the reference is kept whole, not sealed inside.
    named = Sealer("00ff")
    named.add("admin.username", "admin")
    twice = named.seal(named.seal("/admin/users"))
    assert twice == "/⟦secret:admin.username:raw@00ff⟧/users" and named.unseal(twice) == "/admin/users"


def test_text_that_only_looks_like_a_reference_is_never_resolved() -> None:
    forged = "see ⟦secret:shop.password:raw@0123456789abcdef⟧"  # the tag of another run
    mine = sealer(tag="fedcba9876543210")
    assert mine.unseal(mine.seal(forged)) == forged
    assert PASSWORD not in mine.unseal(mine.seal(forged))


def test_a_reference_to_a_value_this_process_never_read_is_an_error_not_a_guess() -> None:
    sealed = sealer().seal(f"/users/{USER}")
    with pytest.raises(LookupError, match=r"shop\.username"):
        Sealer("0123456789abcdef").unseal(sealed)


def test_concealed_for_readers_that_do_not_continue_the_run() -> None:
    sealed = sealer().seal({"who": USER, "n": 1})
    assert conceal(sealed, MASK) == {"who": MASK, "n": 1}


def test_redacted_keys_that_collide_keep_every_entry() -> None:
    redactor = Redactor([PASSWORD])
    data = {PASSWORD: 1, MASK: 2, f"x-{PASSWORD}": 3, "nested": {PASSWORD: 4}}
    assert redactor.redact_value(data) == {MASK: 1, f"{MASK}#2": 2, f"x-{MASK}": 3, "nested": {MASK: 4}}
