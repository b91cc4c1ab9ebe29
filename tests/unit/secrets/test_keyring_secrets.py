"""Credentials by name in the OS keyring (an in-memory backend here): what a task can resolve,
what listing shows, and the errors — each naming what is missing and the fix."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backends.fail
import pytest
from keyring.errors import KeyringLocked

from app.engine.ports import SecretUnavailable
from app.secrets import Credential, CredentialError, KeyringSecrets, Totp, keyring_status, profile_key
from tests.helpers.memkeyring import MemoryKeyring, using_keyring

SEED = "JBSWY3DPEHPK3PXP"


def shop() -> Credential:
    return Credential(
        "alice@example.com", "correct horse", Totp(SEED), {"pin": "4711-x", "api_key": "k-9f3a"}
    )


def test_added_credential_resolves_by_reference(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("shop", shop())
    assert secrets.resolve("shop.username") == "alice@example.com"
    assert secrets.resolve("shop.password") == "correct horse"
    assert secrets.resolve("shop.pin") == "4711-x"
    assert secrets.resolve("shop.totp") == Totp(SEED).code(secrets.clock())
    secrets.check("shop.api_key")


def test_listing_shows_names_and_fields_never_values(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("shop", shop())
    secrets.add("mail", Credential("bob.b", "s3cret-pw"))
    listed = secrets.catalog()
    assert listed == {
        "mail": ["username", "password"],
        "shop": ["username", "password", "totp", "api_key", "pin"],
    }
    assert "correct horse" not in repr(listed) and "correct horse" not in repr(shop())


def test_removed_credential_no_longer_resolves(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("shop", shop())
    secrets.remove("shop")
    assert secrets.catalog() == {}
    assert memory_keyring.entries.keys() == {("flightdeck", "credentials-index")}  # no value left behind
    with pytest.raises(SecretUnavailable) as err:
        secrets.resolve("shop.password")
    assert "no credential named 'shop'" in str(err.value)
    assert "flightdeck credentials add shop" in str(err.value)
    with pytest.raises(SecretUnavailable, match="no credential named 'shop'"):
        secrets.remove("shop")


def test_unknown_field_names_the_fields_there_are_and_the_fix(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("mail", Credential("bob.b", "s3cret-pw"))
    with pytest.raises(SecretUnavailable) as err:
        secrets.check("mail.otp_backup")
    message = str(err.value)
    assert "'mail' has no field 'otp_backup'" in message and "username, password" in message
    assert "flightdeck credentials add mail --replace --field otp_backup" in message
    with pytest.raises(
        SecretUnavailable, match="add a seed with `flightdeck credentials add mail --replace`"
    ):
        secrets.resolve("mail.totp")
    with pytest.raises(SecretUnavailable, match=r"write NAME\.FIELD"):
        secrets.check("mail")


def test_adding_over_an_existing_name_needs_replace(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("mail", Credential("bob.b", "old-password"))
    with pytest.raises(CredentialError, match="exists"):
        secrets.add("mail", Credential("bob.b", "new-password"))
    assert secrets.resolve("mail.password") == "old-password"
    secrets.add("mail", Credential("bob.b", "new-password"), replace=True)
    assert secrets.resolve("mail.password") == "new-password"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Credential("bob", "long-enough", secret_username=True), "username is shorter than 4"),
        (lambda: Credential("", "long-enough"), "the username is empty"),
        (lambda: Credential("bob.b", "pw1"), "password is shorter than 4"),
        (lambda: Credential("bob.b", "long-enough", extra={"pin": "123"}), "pin is shorter than 4"),
        (lambda: Credential("bob.b", "long-enough", extra={"password": "x" * 8}), "built-in field"),
        (lambda: Credential("bob.b", "long-enough", extra={"a.b": "x" * 8}), "not a valid field"),
        (lambda: Credential("bob.b", "long-enough", extra={"2fa": "x" * 8}), "starting with a letter,"),
        (lambda: Credential("bob.b", "long-enough", public=frozenset({"pin"})), "pin cannot be public"),
    ],
)
def test_values_too_short_to_mask_and_bad_fields_are_refused(make: object, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        make()  # type: ignore[operator]


def test_a_name_with_a_dot_is_refused_and_nothing_is_stored(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(CredentialError, match="not a valid credential name"):
        KeyringSecrets().add("my.shop", shop())
    assert memory_keyring.entries == {}


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt's PlaintextKeyring: a file anyone can read."""


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    with using_keyring(keyring.backends.fail.Keyring()):
        yield


def test_without_an_os_keyring_every_operation_says_how_to_get_one(fail_keyring: None) -> None:
    secrets = KeyringSecrets()
    for attempt in (
        lambda: secrets.add("shop", shop()),
        secrets.catalog,
        lambda: secrets.check("shop.password"),
        lambda: secrets.resolve("shop.password"),
        profile_key,
    ):
        with pytest.raises(SecretUnavailable) as err:
            attempt()
        assert "no usable OS keyring (keyring.backends.fail.Keyring)" in str(err.value)
        assert "apt-get install gnome-keyring dbus-x11" in str(err.value)
    assert keyring_status().usable is False


def test_a_plaintext_keyring_is_refused_not_written_to() -> None:
    plain = PlaintextKeyring()
    with (
        using_keyring(plain),
        pytest.raises(SecretUnavailable, match="plaintext keyring is not acceptable"),
    ):
        KeyringSecrets().add("shop", shop())
    assert plain.entries == {}


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")


def test_a_locked_keyring_is_reported_not_a_traceback() -> None:
    with (
        using_keyring(LockedKeyring()),
        pytest.raises(SecretUnavailable, match=r"the keyring refused .*KeyringLocked"),
    ):
        KeyringSecrets().resolve("shop.password")


def test_which_fields_are_secret_is_kept_with_the_credential(memory_keyring: MemoryKeyring) -> None:
    secrets = KeyringSecrets()
    secrets.add("shop", shop())
    bank = Credential(
        "bob", "long-enough", extra={"pin": "4711", "account": "12"}, public=frozenset({"account"})
    )
    secrets.add("bank", bank)  # a short username or public field is fine: it is never masked
    secrets.add("mail", Credential("ops@example.com", "long-enough", secret_username=True))
    # What everything written must mask: the value of a secret field (a TOTP field: its seed).
    assert secrets.secret_value("shop.username") is None
    assert secrets.secret_value("shop.password") == "correct horse"
    assert secrets.secret_value("shop.totp") == SEED
    assert secrets.secret_value("shop.pin") == "4711-x"
    assert secrets.secret_value("bank.account") is None and secrets.secret_value("bank.pin") == "4711"
    assert secrets.secret_value("mail.username") == "ops@example.com"
    assert secrets.resolve("bank.account") == "12"
    assert KeyringSecrets().get("bank").secret_fields() == ["password", "pin"]


def test_a_credential_stored_before_fields_could_be_declared_reads_as_the_defaults() -> None:
    old = '{"version": 1, "username": "alice", "password": "correct horse", "totp": null, '
    old += '"extra": {"pin": "4711"}}'
    credential = Credential.from_json(old)
    assert credential.secret_fields() == ["password", "pin"]  # the username is not secret
    assert Credential.from_json(credential.to_json()) == credential
