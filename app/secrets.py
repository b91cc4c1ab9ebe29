"""The only module that imports keyring. Credentials arrive with the credentials issue;
for now it reports which keyring backend this machine has (for `flightdeck doctor`)."""

from __future__ import annotations

from dataclasses import dataclass

import keyring
import keyring.backends.fail


@dataclass(frozen=True)
class KeyringStatus:
    usable: bool
    backend: str
    fix: str = ""


def keyring_status() -> KeyringStatus:
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, keyring.backends.fail.Keyring):
        return KeyringStatus(
            False,
            name,
            "no OS keyring: install a Secret Service (apt-get install gnome-keyring dbus-x11) "
            "and run inside a desktop session or `dbus-run-session`",
        )
    if "plaintext" in name.lower() or name.startswith("keyrings.alt"):
        return KeyringStatus(False, name, "a plaintext keyring is not acceptable: uninstall keyrings.alt")
    return KeyringStatus(True, name)
