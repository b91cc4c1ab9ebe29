"""The parts one console process runs on Qt's loop: the database, the browser, the engine, the
scheduler, the change feed, and the bridge the widgets use. Built once, passed down (no global
registry); the tests build the same thing against a temporary database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.changes import ChangeFeed
from app.engine.dispatch import Dispatcher
from app.engine.ports import BrowserProvider, BrowserSession
from app.engine.service import Engine
from app.secrets import KeyringSecrets
from app.store import ArtifactStore, Database, default_data_dir
from app.ui.bridge import Bridge

if TYPE_CHECKING:
    from app.browser.profiles import ProfileInfo, ProfileStore


@dataclass
class ConsoleOptions:
    database_url: str | None = None  # None: SQLite in the user data dir
    artifacts_dir: Path | None = None  # None: <data dir>/artifacts
    browser_path: str | None = None  # None: discovery (FLIGHTDECK_BROWSER, Playwright's, system)
    concurrency: int = 4
    headless: bool = True  # the console shows pages itself (live views)
    site_limit: tuple[float, int] | None = None  # per-site (actions per second, burst) cap
    profiles_dir: Path | None = None  # None: <data dir>/profiles, shared with the CLI's runs


BROWSER_NICENESS = 8


class LazyBrowser:
    """The browser provider, imported and built when the first run needs a page: importing
    Playwright costs ~0.4 s the window need not wait for (cold start target: 1.5 s)."""

    def __init__(self, headless: bool, browser_path: str | None) -> None:
        self.headless = headless
        self.browser_path = browser_path
        self._provider: BrowserProvider | None = None

    def _get(self) -> BrowserProvider:
        if self._provider is None:
            from app.browser import PlaywrightProvider

            # The operator's window before page rendering: see app/browser/priority.py.
            self._provider = PlaywrightProvider(
                headless=self.headless, browser_path=self.browser_path, niceness=BROWSER_NICENESS
            )
        return self._provider

    async def open_session(self, *, base_url: str | None, timeout: float) -> BrowserSession:
        return await self._get().open_session(base_url=base_url, timeout=timeout)

    async def close(self) -> None:
        if self._provider is not None:
            await self._provider.close()


def default_profiles_dir() -> Path:
    """Where the CLI keeps session profiles too (app.cli.profilecmds.profile_store): one place,
    so a CLI run and the console exclude each other through the same lock files."""
    return default_data_dir() / "profiles"


class LazyProfiles:
    """The session profiles (`ProfileStore`), imported and built on first use: `app.browser`
    imports Playwright (~0.4 s) which the window need not wait for. Every call is blocking file
    (and, for states, keyring) I/O: the engine and the bridge make them on worker threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store: ProfileStore | None = None

    def store(self) -> ProfileStore:
        if self._store is None:
            from app.browser.profiles import ProfileStore

            self._store = ProfileStore(self.root)
        return self._store

    # SessionProfiles (the engine's port)
    def load(self, name: str) -> dict[str, Any] | None:
        return self.store().load(name)

    def save(self, name: str, state: dict[str, Any]) -> None:
        self.store().save(name, state)

    def acquire(self, name: str, owner: str) -> None:
        self.store().acquire(name, owner)

    def release(self, name: str, owner: str) -> None:
        self.store().release(name, owner)

    # managing them (the session profiles dialog)
    def list_profiles(self) -> list[ProfileInfo]:
        return self.store().list_profiles()

    def clear(self, name: str) -> bool:
        return self.store().clear(name)


class Console:
    def __init__(self, options: ConsoleOptions) -> None:
        from app.store import default_artifacts_dir

        self.options = options
        self.db = Database(options.database_url)
        self.provider = LazyBrowser(options.headless, options.browser_path)
        self.artifacts = ArtifactStore(options.artifacts_dir or default_artifacts_dir())
        # As the CLI builds its engine (app/cli/context.py): always the OS keyring, usable or not —
        # constructing either touches nothing, so the console opens without a keyring, and a task
        # that needs a credential is then refused with the fix instead of a bare "no store".
        self.secrets = KeyringSecrets()
        self.profiles = LazyProfiles(options.profiles_dir or default_profiles_dir())
        self.engine = Engine(
            self.db,
            self.provider,
            self.artifacts,
            concurrency=options.concurrency,
            site_limit=options.site_limit,
            secrets=self.secrets,
            profiles=self.profiles,
        )
        self.feed = ChangeFeed(self.db)
        self.dispatcher = Dispatcher(self.engine)
        self.bridge = Bridge(self.engine, self.dispatcher, self.feed)

    def start(self) -> list[str]:
        """Start watching the database and scheduling runs (needs the running loop). Runs left
        running by a dead process become interrupted and are resumed; returns their ids."""
        found = self.engine.recover()
        self.feed.start()
        self.dispatcher.start()
        return found

    async def close(self) -> None:
        """Stop scheduling; runs in flight stay resumable (interrupted), waiting runs stay waiting."""
        await self.bridge.close()
        await self.dispatcher.stop()
        await self.feed.close()
        try:
            await self.engine.close()
        finally:
            await self.provider.close()
            self.db.dispose()
