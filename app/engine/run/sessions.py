"""A run's browser session and its session profile: opened scoped to the task's site (G7),
the profile's cookies loaded and saved back, the profile held by one run at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.domain.events import EventType
from app.domain.task import Task
from app.engine.ports import BrowserProvider, BrowserSession, ProfileBusy, SessionProfiles
from app.engine.recorder import RunRecorder

log = logging.getLogger("flightdeck.engine")


class RunBrowser:
    def __init__(
        self, run_id: str, provider: BrowserProvider, profiles: SessionProfiles | None, recorder: RunRecorder
    ) -> None:
        self.run_id = run_id
        self.provider = provider
        self.profiles = profiles
        self.recorder = recorder
        self.session: BrowserSession | None = None
        self.profile_cookies = 0  # cookies a session profile brought into this execution

    def profile_of(self, task: Task) -> str | None:
        """The session profile this run uses (None: none, or profiles are off here)."""
        return task.session if self.profiles is not None else None

    async def acquire(self, name: str) -> str | None:
        """None: this run holds the profile now; else why it cannot."""
        assert self.profiles is not None
        try:
            await asyncio.to_thread(self.profiles.acquire, name, self.run_id)
        except ProfileBusy as busy:
            return str(busy) or f"session profile '{name}' is in use by another run"
        return None

    async def release(self, name: str) -> None:
        if self.profiles is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.profiles.release, name, self.run_id)

    async def open(self, task: Task, profile: str | None) -> BrowserSession:
        session = await self.provider.open_session(base_url=task.site, timeout=task.policy.step_timeout)
        try:
            # Before the first navigation: a credential is never typed into another site (G7).
            await session.set_scope(task.scope())
            if profile is not None and self.profiles is not None:
                state = await asyncio.to_thread(self.profiles.load, profile)
                if state:
                    await session.load_state(state)
                    self.profile_cookies = len(state.get("cookies") or [])
                    self.recorder.emit(
                        EventType.PROFILE_LOADED, profile=profile, cookies=self.profile_cookies
                    )
        except BaseException:
            with contextlib.suppress(Exception):
                await session.close()
            raise
        self.session = session
        return session

    async def save(self, name: str) -> None:
        """Keep the session's cookies for the next run of this profile (a login done here is
        not done again there). Best effort: a browser that is gone has nothing to save."""
        if self.session is None or self.profiles is None:
            return
        try:
            state = await self.session.storage_state()
            await asyncio.to_thread(self.profiles.save, name, state)
        except Exception:
            log.warning("run %s: could not save session profile %s", self.run_id, name, exc_info=True)
            return
        self.recorder.emit(EventType.PROFILE_SAVED, profile=name, cookies=len(state.get("cookies") or []))
        with contextlib.suppress(Exception):
            await self.recorder.commit()

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
