from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.memkeyring import MemoryKeyring, using_keyring


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The process's keyring is an empty in-memory one for the test."""
    with using_keyring(MemoryKeyring()) as backend:
        yield backend
