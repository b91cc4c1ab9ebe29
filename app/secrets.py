"""The only module that imports keyring, and redaction (DESIGN.md G7).

- `keyring_status`: whether the OS keyring backend is usable (for `flightdeck doctor`).
- `KeyringSecrets`: named credentials (username, password, TOTP seed, extra fields) in the OS
  keyring, resolved by reference (`shop.password`) — the engine's `SecretSource`.
- `profile_key`: the key session profiles are encrypted with, kept in the keyring.
- `Redactor`: what every writer passes text through.

Nothing here ever falls back to a plaintext store: without a usable keyring every read and write
raises `SecretUnavailable` with the fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import keyring
import keyring.backends.fail
import keyring.errors
from keyring.backend import KeyringBackend

from app.domain.sealing import ENCODERS
from app.engine.ports import SecretUnavailable


@dataclass(frozen=True)
class KeyringStatus:
    usable: bool
    backend: str
    fix: str = ""


def keyring_status() -> KeyringStatus:
    backend = keyring.get_keyring()
    name = _backend_name(backend)
    if any(isinstance(b, keyring.backends.fail.Keyring) or _is_null(b) for b in _backends(backend)):
        return KeyringStatus(
            False,
            name,
            "no OS keyring: install a Secret Service (apt-get install gnome-keyring dbus-x11) "
            "and run inside a desktop session or `dbus-run-session`",
        )
    # A chainer falls through to its next backend when one fails: one plaintext member is enough
    # to leak a secret to disk, so any plaintext member makes the whole keyring unusable.
    if any(_is_plaintext(b) for b in _backends(backend)):
        return KeyringStatus(False, name, "a plaintext keyring is not acceptable: uninstall keyrings.alt")
    return KeyringStatus(True, name)


def _backend_name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _backends(backend: KeyringBackend) -> list[KeyringBackend]:
    members = getattr(backend, "backends", None)  # keyring.backends.chainer.ChainerBackend
    return [backend] if members is None else [b for m in members for b in _backends(m)]


def _is_null(backend: KeyringBackend) -> bool:
    return _backend_name(backend) == "keyring.backends.null.Keyring"


def _is_plaintext(backend: KeyringBackend) -> bool:
    name = _backend_name(backend)
    return "plaintext" in name.lower() or name.startswith("keyrings.alt")


# --------------------------------------------------------------------------- redaction (G7)

MASK = "[secret]"
# Shorter values would blank out ordinary text everywhere (a 2-character "secret" matches in
# most sentences); credentials that short are refused when they are added.
MIN_SECRET_LENGTH = 4


def encodings(value: str) -> set[str]:
    """The forms a secret takes in what Flightdeck writes: as typed, URL-encoded (path and form
    style), base64 (standard and URL-safe, padded or not), JSON-escaped and HTML-escaped."""
    return {form for form in (encode(value) for encode in ENCODERS.values()) if form}


class Redactor:
    """Replaces every known secret value, in any of its `encodings`, with MASK.

    Filled in with each value as it is resolved (the engine adds what a run resolves), and
    applied to whatever is about to be written or returned."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        new = encodings(value) - set(self._needles)
        if new:
            # Longest first, so an encoding that contains another is replaced whole.
            self._needles = sorted({*self._needles, *new}, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(n) for n in self._needles))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        return self.redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value (dicts, lists, strings) with every string redacted, keys included
        (a key can be data: a form field's name, a page's JSON). Two keys that differ only in a
        secret would become one, and one value would be lost: the later ones get `#2`, `#3`…"""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                clean = self.redact_value(key)
                if isinstance(clean, str) and clean in out:
                    clean = next(f"{clean}#{n}" for n in range(2, len(out) + 3) if f"{clean}#{n}" not in out)
                out[clean] = self.redact_value(item)
            return out
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value


# --------------------------------------------------------------------------- credentials

SERVICE = "flightdeck"
FIELDS = ("username", "password", "totp")  # built in; anything else is an extra field
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")  # as task files' `secret: NAME.FIELD` accepts
_INDEX = "credentials-index"  # keyring cannot enumerate: the names (and field names) live here
_PROFILE_KEY = "profile-key"


class CredentialError(ValueError):
    """A credential as given cannot be stored (bad name, a value too short to mask, a bad TOTP
    seed). Nothing was written."""


@dataclass(frozen=True)
class Totp:
    """An RFC 6238 generator: the shared seed (base32) and the parameters the site chose."""

    seed: str = field(repr=False)
    digits: int = 6
    period: int = 30
    algorithm: str = "SHA1"

    def __post_init__(self) -> None:
        try:
            if not base64.b32decode(_pad32(self.seed), casefold=True):
                raise ValueError
        except (binascii.Error, ValueError):
            raise CredentialError(
                "the TOTP seed is not base32 (letters A–Z and digits 2–7, as the site shows it "
                "under 'enter this key manually'), nor an otpauth:// URI"
            ) from None
        if self.digits not in (6, 7, 8) or self.period <= 0:
            raise CredentialError(f"unsupported TOTP parameters: {self.digits} digits every {self.period} s")
        if self.algorithm not in ("SHA1", "SHA256", "SHA512"):
            raise CredentialError(f"unsupported TOTP algorithm {self.algorithm!r} (SHA1, SHA256 or SHA512)")

    @classmethod
    def parse(cls, text: str) -> Totp:
        """A seed as a site shows it (spaces and lower case allowed), or an `otpauth://` URI
        (what its QR code holds), whose digits/period/algorithm are kept."""
        text = text.strip()
        if not text.lower().startswith("otpauth://"):
            return cls(re.sub(r"[\s-]", "", text).upper().rstrip("="))
        query = {k: v[-1] for k, v in parse_qs(urlsplit(text).query).items()}
        try:
            return cls(
                unquote(query.get("secret", "")).replace(" ", "").upper().rstrip("="),
                digits=int(query.get("digits", 6)),
                period=int(query.get("period", 30)),
                algorithm=query.get("algorithm", "SHA1").upper(),
            )
        except ValueError as exc:
            raise CredentialError(f"the otpauth:// URI is malformed: {exc}") from None

    def code(self, at: float) -> str:
        """The one-time code valid at Unix time `at` (RFC 6238: HOTP over the period count).

        Written out rather than taken from pyotp: pyotp ≥ 2.10 refuses seeds under 112 bits, and
        many sites still issue 80-bit ones (16 characters) that the user cannot choose."""
        key = base64.b32decode(_pad32(self.seed), casefold=True)
        counter = int(at // self.period).to_bytes(8, "big")
        mac = hmac.new(key, counter, getattr(hashlib, self.algorithm.lower())).digest()
        offset = mac[-1] & 0x0F  # RFC 4226 dynamic truncation
        number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
        return str(number % 10**self.digits).zfill(self.digits)


def _pad32(seed: str) -> str:
    return seed + "=" * (-len(seed) % 8)


@dataclass(frozen=True)
class Credential:
    """One named login. `repr` never shows a value (tracebacks and logs print reprs).

    Which fields are secret — masked in everything written, kept out of what a run is
    continued from: the password, the TOTP seed (and each code), every extra field unless it
    is `public`, and the username only with `secret_username`. A username is an identifier: it
    is in the site's URLs, greetings and headers, and masking it there would make the record
    unreadable ("[secret]istration"). A fill still names it by reference, never by value."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    totp: Totp | None = field(default=None, repr=False)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)
    secret_username: bool = False
    public: frozenset[str] = frozenset()  # extra fields that are not secret

    def __post_init__(self) -> None:
        check_extra_fields(self.extra)
        unknown = sorted(set(self.public) - set(self.extra))
        if unknown:
            raise CredentialError(
                f"{', '.join(unknown)} cannot be public: not an extra field of this credential "
                "(add it with --field first)"
            )
        for key, value in self.secrets().items():
            if len(value) < MIN_SECRET_LENGTH:
                # The Redactor cannot mask values this short without blanking ordinary text,
                # so such a value would show up in logs and screenshots: refuse it instead.
                raise CredentialError(
                    f"{key} is shorter than {MIN_SECRET_LENGTH} characters: too short to be masked "
                    "in what Flightdeck writes, so it is refused"
                )
        if not self.username:
            raise CredentialError("the username is empty")

    @property
    def fields(self) -> list[str]:
        return [f for f in FIELDS if f != "totp" or self.totp] + sorted(self.extra)

    def values(self) -> dict[str, str]:
        """Every stored value by field (the TOTP seed, not a code)."""
        stored = {"username": self.username, "password": self.password, **self.extra}
        return stored | ({"totp seed": self.totp.seed} if self.totp else {})

    def secrets(self) -> dict[str, str]:
        """The stored values that are secret, by field (the TOTP seed as `totp seed`)."""
        return {
            key: value
            for key, value in self.values().items()
            if (key != "username" or self.secret_username) and key not in self.public
        }

    def secret_fields(self) -> list[str]:
        """The fields a task can refer to whose values are secret."""
        return [f for f in self.fields if self.is_secret(f)]

    def is_secret(self, key: str) -> bool:
        return (
            key in ("password", "totp")
            or (key == "username" and self.secret_username)
            or (key in self.extra and key not in self.public)
        )

    def to_json(self) -> str:
        totp = self.totp
        return json.dumps(
            {
                "version": 1,
                "username": self.username,
                "password": self.password,
                "totp": None
                if totp is None
                else {
                    "seed": totp.seed,
                    "digits": totp.digits,
                    "period": totp.period,
                    "algorithm": totp.algorithm,
                },
                "extra": dict(self.extra),
                "secret_username": self.secret_username,
                "public": sorted(self.public),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Credential:
        # One stored before fields could be declared reads as the defaults: the username not
        # secret, extra fields secret.
        data = json.loads(text)
        totp = data.get("totp")
        return cls(
            data["username"],
            data["password"],
            Totp(**totp) if totp else None,
            dict(data.get("extra") or {}),
            secret_username=bool(data.get("secret_username", False)),
            public=frozenset(data.get("public") or ()),
        )


def check_extra_fields(keys: Iterable[str]) -> None:
    """Extra field names a task can refer to (NAME.FIELD), none shadowing a built-in one."""
    for key in keys:
        _check_name(key, "field")
        if key in FIELDS:
            raise CredentialError(f"'{key}' is a built-in field; choose another name for the extra one")


def check_credential_name(name: str) -> None:
    _check_name(name)


def _check_name(name: str, what: str = "credential name") -> None:
    field_name = what == "field"
    if not (_FIELD if field_name else _NAME).fullmatch(name):
        raise CredentialError(
            f"{name!r} is not a valid {what}: use letters, digits, '-' and '_' "
            f"(starting with a letter{'' if field_name else ' or digit'}, at most 64), no dots "
            "— references are NAME.FIELD"
        )


def _add_fix(name: str, options: str = "") -> str:
    return f"`flightdeck credentials add {name}{options}`"


class KeyringSecrets:
    """Credentials in the OS keyring, under one service name: a JSON blob per credential and an
    index of names and field names (so listing never reads a value).

    The engine's `SecretSource`: `check` before a run starts, `resolve` at the moment of the
    action. `clock` gives the time TOTP codes are generated for."""

    def __init__(self, service: str = SERVICE, *, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.clock = clock

    # -- SecretSource

    def check(self, ref: str) -> None:
        self._lookup(ref)

    def resolve(self, ref: str) -> str:
        credential, key = self._lookup(ref)
        if key == "totp":
            assert credential.totp is not None
            return credential.totp.code(self.clock())  # generated now, never stored
        return credential.values()[key]

    def secret_value(self, ref: str) -> str | None:
        credential, key = self._lookup(ref)
        if not credential.is_secret(key):
            return None
        if key == "totp":
            assert credential.totp is not None
            return credential.totp.seed
        return credential.values()[key]

    # -- managing credentials (the `flightdeck credentials` command)

    def add(self, name: str, credential: Credential, *, replace: bool = False) -> None:
        _check_name(name)
        with self._keyring(f"credential {name!r} cannot be stored"):
            index = self._index()
            if name in index and not replace:
                raise CredentialError(
                    f"a credential named {name!r} exists: remove it first, or add it again with --replace"
                )
            # The blob first: an index entry never points at nothing.
            keyring.set_password(self.service, _entry(name), credential.to_json())
            index[name] = credential.fields
            self._write_index(index)

    def catalog(self) -> dict[str, list[str]]:
        """Credential names and their field names — never a value."""
        with self._keyring("credentials cannot be listed"):
            return dict(sorted(self._index().items()))

    def get(self, name: str) -> Credential:
        with self._keyring(f"credential {name!r} cannot be read"):
            blob = keyring.get_password(self.service, _entry(name)) if _NAME.fullmatch(name) else None
        if blob is None:
            raise SecretUnavailable(f"no credential named {name!r}: add it with {_add_fix(name)}")
        return Credential.from_json(blob)

    def remove(self, name: str) -> None:
        with self._keyring(f"credential {name!r} cannot be removed"):
            index = self._index()
            if name not in index:
                raise SecretUnavailable(f"no credential named {name!r}")
            # The index first: a crash in between leaves an unlisted blob that a new `add` overwrites.
            del index[name]
            self._write_index(index)
            with suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(self.service, _entry(name))

    # -- internals

    def _lookup(self, ref: str) -> tuple[Credential, str]:
        name, dot, key = ref.partition(".")
        if not dot or not name or not key:
            raise SecretUnavailable(
                f"{ref!r} is not a credential reference: write NAME.FIELD, e.g. {name or 'shop'}.password"
            )
        _usable_or_raise(f"credential {ref} cannot be read")
        credential = self.get(name)
        if key not in credential.fields:
            raise SecretUnavailable(
                f"credential {name!r} has no field {key!r} (it has {', '.join(credential.fields)}): "
                + (
                    f"add a seed with {_add_fix(name, ' --replace')} (it asks for one)"
                    if key == "totp"
                    else f"add it with {_add_fix(name, f' --replace --field {key}')}"
                )
            )
        return credential, key

    def _index(self) -> dict[str, list[str]]:
        raw = keyring.get_password(self.service, _INDEX)
        return dict(json.loads(raw)) if raw else {}

    def _write_index(self, index: dict[str, list[str]]) -> None:
        keyring.set_password(self.service, _INDEX, json.dumps(index, sort_keys=True))

    @contextmanager
    def _keyring(self, what: str) -> Iterator[None]:
        _usable_or_raise(what)
        try:
            yield
        except keyring.errors.KeyringError as exc:
            # A locked collection, a vanished D-Bus daemon…: say so instead of a traceback.
            raise SecretUnavailable(f"{what}: the keyring refused ({type(exc).__name__}: {exc})") from exc


def _entry(name: str) -> str:
    return f"credential/{name}"


def _usable_or_raise(what: str) -> None:
    status = keyring_status()
    if not status.usable:
        raise SecretUnavailable(f"{what}: no usable OS keyring ({status.backend}). fix: {status.fix}")


def profile_key(service: str = SERVICE) -> bytes:
    """The 256-bit key session profiles are encrypted with, created on first use and kept in the
    keyring (never on disk next to the profiles it protects). Callers that may race to create it
    serialise the first call (app.browser.profiles does, with a file lock)."""
    what = "session profiles cannot be opened"
    _usable_or_raise(what)
    try:
        stored = keyring.get_password(service, _PROFILE_KEY)
        if stored is None:
            stored = base64.b64encode(os.urandom(32)).decode()
            keyring.set_password(service, _PROFILE_KEY, stored)
        return base64.b64decode(stored)
    except keyring.errors.KeyringError as exc:
        raise SecretUnavailable(f"{what}: the keyring refused ({type(exc).__name__}: {exc})") from exc
