"""Session profiles: named browser storage states (cookies, local storage) reused across runs —
the engine's `SessionProfiles`.

Each profile is one file `<root>/<name>.profile`: AES-GCM over the JSON state, with the key in
the OS keyring (`app.secrets.profile_key`) and the profile's name as associated data, so a file
copied over another profile's name does not decrypt. Saves are atomic (temp file, fsync,
`os.replace`): a reader or a crash sees the old state or the new one, never half of each.

Who uses a profile is recorded in `<name>.lock` (owner = run id, pid, when), read and written
under an OS file lock so processes (CLI runs, the console) agree. A holder whose process has
died no longer counts, so a crash never wedges a profile; the same run re-acquires it on resume.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.engine.ports import ProfileBusy
from app.secrets import profile_key
from app.store.files import fsync_dir, write_atomically

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MAGIC = b"FDP1"  # format version: a later format can still read (or refuse) this one
_NONCE = 12


class ProfileNameError(ValueError):
    """Not a usable profile name (it becomes a file name)."""


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    size: int  # bytes on disk (encrypted); 0 before the first save
    saved_at: datetime | None
    locked_by: str | None  # the run holding it, while its process lives


@dataclass(frozen=True)
class _Holder:
    owner: str
    pid: int
    host: str
    started: str  # the process's start time, so a reused pid is not mistaken for the holder
    since: str

    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # cannot tell from here: assume it still runs
        return _process_start(self.pid) == self.started and _pid_alive(self.pid)


class ProfileStore:
    """Session profiles under `root` (the CLI passes `<data dir>/profiles`). `key` returns the
    AES-256 key; it is asked for only when a state is read or written, so listing, locking and
    clearing work without a keyring."""

    def __init__(self, root: Path, *, key: Callable[[], bytes] = profile_key) -> None:
        self.root = Path(root)
        self._key_source = key
        self._key: bytes | None = None

    # -- states

    def load(self, name: str) -> dict[str, Any] | None:
        path = self._file(name, ".profile")
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            if not blob.startswith(_MAGIC):
                raise InvalidTag
            nonce, sealed = blob[len(_MAGIC) : len(_MAGIC) + _NONCE], blob[len(_MAGIC) + _NONCE :]
            state: dict[str, Any] = json.loads(AESGCM(self._aes_key()).decrypt(nonce, sealed, name.encode()))
        except InvalidTag:
            # The keyring's key changed (a new keyring, another machine) or the file was altered:
            # the session is lost, like an expired one — the run logs in again and saves anew.
            log.warning("session profile %r cannot be decrypted: starting it afresh", name)
            return None
        return state

    def save(self, name: str, state: dict[str, Any]) -> None:
        path = self._file(name, ".profile")
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._aes_key()).encrypt(nonce, json.dumps(state).encode(), name.encode())
        write_atomically(path, _MAGIC + nonce + sealed, dir_mode=0o700)

    # -- locks

    def acquire(self, name: str, owner: str) -> None:
        with self._guard(self._file(name, ".lock")) as lock:
            holder = _read_holder(lock)
            if holder and holder.owner != owner and holder.alive():
                raise ProfileBusy(
                    f"session profile {name!r} is in use by run {holder.owner} (pid {holder.pid}, "
                    f"since {holder.since[:19]}): wait for it to finish, or cancel it"
                )
            me = _Holder(
                owner,
                os.getpid(),
                socket.gethostname(),
                _process_start(os.getpid()),
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            _write_holder(lock, me)

    def release(self, name: str, owner: str) -> None:
        with self._guard(self._file(name, ".lock")) as lock:
            holder = _read_holder(lock)
            if holder and holder.owner == owner:  # never someone else's lock
                _write_holder(lock, None)

    def holder(self, name: str) -> str | None:
        """The run holding the profile, if its process is alive."""
        path = self._file(name, ".lock")
        if not path.exists():
            return None
        with self._guard(path) as lock:
            holder = _read_holder(lock)
        return holder.owner if holder and holder.alive() else None

    # -- managing profiles (the `flightdeck profiles` command)

    def list_profiles(self) -> list[ProfileInfo]:
        """Saved profiles, and those a live run holds before its first save."""
        if not self.root.is_dir():
            return []
        names = {p.stem for p in self.root.glob("*.profile")} | {p.stem for p in self.root.glob("*.lock")}
        found = []
        for name in sorted(n for n in names if _NAME.fullmatch(n)):
            holder = self.holder(name)
            try:
                stat = (self.root / f"{name}.profile").stat()
            except FileNotFoundError:
                if holder:
                    found.append(ProfileInfo(name, 0, None, holder))
                continue
            found.append(ProfileInfo(name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), holder))
        return found

    def clear(self, name: str) -> bool:
        """Forget the saved state (the next run starts logged out). False if there was none;
        ProfileBusy while a live run holds it."""
        with self._guard(self._file(name, ".lock")) as lock:
            holder = _read_holder(lock)
            if holder and holder.alive():
                raise ProfileBusy(
                    f"session profile {name!r} is in use by run {holder.owner}: "
                    "clear it after that run finishes"
                )
            path = self._file(name, ".profile")
            existed = path.exists()
            path.unlink(missing_ok=True)
            fsync_dir(self.root)
            return existed

    # -- internals

    def _file(self, name: str, suffix: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ProfileNameError(
                f"{name!r} is not a valid profile name: use letters, digits, '-' and '_' "
                "(starting with a letter or digit, at most 64)"
            )
        return self.root / f"{name}{suffix}"

    def _aes_key(self) -> bytes:
        if self._key is None:
            # Under a lock: two processes creating the key at once would each encrypt with
            # their own, and one's profiles would never decrypt again.
            with self._guard(self.root / ".key.lock"):
                self._key = self._key_source()
        return self._key

    @contextlib.contextmanager
    def _guard(self, path: Path) -> Iterator[int]:
        """The lock file's descriptor, held under an exclusive OS lock for the moment of a
        read-check-write (the OS drops it if the process dies, so a crash never blocks anyone)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            yield fd
        finally:
            os.close(fd)  # closing drops the OS lock


def _read_holder(fd: int) -> _Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 4096):
        raw += chunk
    try:
        return _Holder(**json.loads(raw)) if raw.strip() else None
    except (ValueError, TypeError):
        return None  # a record torn by a crash mid-write: its writer died, so the lock is free


def _write_holder(fd: int, holder: _Holder | None) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    if holder is not None:
        os.write(fd, json.dumps(holder.__dict__).encode())
    os.fsync(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
