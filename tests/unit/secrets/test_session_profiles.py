"""Session profiles on disk: encrypted (the cookie is nowhere in the file), saved atomically,
held by one run at a time across processes, free again when the holder dies, and cleared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.browser.profiles import ProfileNameError, ProfileStore
from app.engine.ports import ProfileBusy
from app.secrets import encodings
from tests.helpers.memkeyring import MemoryKeyring

ROOT = Path(__file__).resolve().parents[3]
COOKIE = "sess-7f3a9c21e8b44d0f"


def state(cookie: str = COOKIE) -> dict[str, Any]:
    """A Playwright storage_state."""
    return {
        "cookies": [
            {
                "name": "sessionid",
                "value": cookie,
                "domain": "shop.example",
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": True,
                "sameSite": "Lax",
            }
        ],
        "origins": [{"origin": "https://shop.example", "localStorage": [{"name": "token", "value": cookie}]}],
    }


@pytest.fixture
def store(tmp_path: Path, memory_keyring: MemoryKeyring) -> ProfileStore:
    return ProfileStore(tmp_path / "profiles")


def test_saved_state_loads_back_in_a_new_process_and_the_file_hides_the_cookie(
    store: ProfileStore, tmp_path: Path
) -> None:
    assert store.load("shop") is None  # a new profile
    store.save("shop", state())
    # Another ProfileStore (as another process would have) with the key from the keyring.
    assert ProfileStore(tmp_path / "profiles").load("shop") == state()
    on_disk = (tmp_path / "profiles" / "shop.profile").read_bytes()
    for form in encodings(COOKIE):  # as typed, base64, URL- and JSON-encoded
        assert form.encode() not in on_disk
    assert b"sessionid" not in on_disk and b"shop.example" not in on_disk


def test_a_profile_from_another_keyring_or_another_name_starts_afresh(
    store: ProfileStore, tmp_path: Path
) -> None:
    store.save("shop", state())
    other_key = ProfileStore(tmp_path / "profiles", key=lambda: os.urandom(32))
    assert other_key.load("shop") is None  # like an expired session: the run logs in again
    profiles = tmp_path / "profiles"
    (profiles / "mail.profile").write_bytes((profiles / "shop.profile").read_bytes())
    assert store.load("mail") is None  # shop's cookies do not become mail's
    assert store.load("shop") == state()


def test_a_reader_sees_the_old_or_the_new_state_while_another_process_saves(
    store: ProfileStore, tmp_path: Path
) -> None:
    key = os.urandom(32)
    store = ProfileStore(tmp_path / "profiles", key=lambda: key)
    store.save("shop", state("old-cookie-value"))
    with _python(
        f"""
import sys
from pathlib import Path
from app.browser.profiles import ProfileStore
store = ProfileStore(Path({str(tmp_path / "profiles")!r}), key=lambda: bytes.fromhex({key.hex()!r}))
for i in range(80):
    store.save("shop", {_state_src()}("new-cookie-value" if i % 2 else "old-cookie-value"))
print("done", flush=True)
"""
    ) as writer:
        seen = set()
        while writer.poll() is None:
            loaded = store.load("shop")
            assert loaded is not None, "a torn or missing file was read mid-save"
            seen.add(loaded["cookies"][0]["value"])
        assert writer.returncode == 0, writer.communicate()[1]
    assert seen <= {"old-cookie-value", "new-cookie-value"}
    assert [p.name for p in (tmp_path / "profiles").iterdir() if p.suffix == ".tmp"] == []


def test_one_run_at_a_time_then_released(store: ProfileStore) -> None:
    store.acquire("shop", "run-a")
    with pytest.raises(ProfileBusy, match="in use by run run-a"):
        store.acquire("shop", "run-b")
    store.acquire("shop", "run-a")  # a resumed run takes its own profile again
    store.release("shop", "run-b")  # not b's to release
    with pytest.raises(ProfileBusy):
        store.acquire("shop", "run-b")
    store.release("shop", "run-a")
    store.acquire("shop", "run-b")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process (a CLI run, the console) holding profile `shop` for run-1."""
    with _python(
        f"""
import sys
from pathlib import Path
from app.browser.profiles import ProfileStore
ProfileStore(Path({str(tmp_path / "profiles")!r})).acquire("shop", "run-1")
print("acquired", flush=True)
sys.stdin.readline()
"""
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "acquired\n"
        yield proc
        proc.kill()


def test_another_process_holding_the_profile_excludes_this_one(
    store: ProfileStore, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(ProfileBusy, match=f"in use by run run-1 \\(pid {holder.pid}"):
        store.acquire("shop", "run-2")
    with pytest.raises(ProfileBusy):
        store.clear("shop")
    assert [(p.name, p.locked_by) for p in store.list_profiles()] == [("shop", "run-1")]


def test_a_holder_killed_mid_run_does_not_wedge_the_profile(
    store: ProfileStore, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert [p.locked_by for p in store.list_profiles()] == []  # nothing holds it any more
    store.acquire("shop", "run-1")  # the interrupted run, resumed here
    store.release("shop", "run-1")
    store.acquire("shop", "run-2")


def test_list_and_clear(store: ProfileStore, tmp_path: Path) -> None:
    store.save("shop", state())
    store.save("mail", state("mail-cookie-1234"))
    store.acquire("mail", "run-9")
    listed = {p.name: p for p in store.list_profiles()}
    assert sorted(listed) == ["mail", "shop"]
    assert listed["shop"].size == (tmp_path / "profiles" / "shop.profile").stat().st_size > 0
    assert listed["shop"].saved_at is not None and listed["shop"].locked_by is None
    assert listed["mail"].locked_by == "run-9"
    # A lock held in this very process by a live run counts as well.
    with pytest.raises(ProfileBusy):
        store.clear("mail")
    assert store.clear("shop") is True
    assert store.load("shop") is None
    assert store.clear("shop") is False
    assert [p.name for p in store.list_profiles()] == ["mail"]


def test_a_name_that_is_not_a_plain_file_name_is_refused(store: ProfileStore) -> None:
    for bad in ("../escape", "a.b", "", "x" * 65):
        with pytest.raises(ProfileNameError):
            store.save(bad, state())


def _state_src() -> str:
    return "(lambda c: {'cookies': [{'value': c}]})"


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
