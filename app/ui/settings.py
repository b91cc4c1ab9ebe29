"""The console's settings, persisted with QSettings (per user, per OS convention). One typed
wrapper so nobody spells a key twice; empty means "the embedded default"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.resources import demo_tasks_dir
from app.store import default_data_dir

ORGANISATION = "Flightdeck"
APPLICATION = "Flightdeck Console"


class ConsoleSettings:
    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings or QSettings(ORGANISATION, APPLICATION)

    def _str(self, key: str, default: str = "") -> str:
        value = self.q.value(key, default)
        return str(value) if value is not None else default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(str(self.q.value(key, default)))
        except (TypeError, ValueError):
            return default

    def _float(self, key: str, default: float) -> float:
        try:
            return float(str(self.q.value(key, default)))
        except (TypeError, ValueError):
            return default

    # Storage and browser: take effect at the next start (the engine is built once).
    @property
    def database_url(self) -> str:
        return self._str("engine/database_url")

    @database_url.setter
    def database_url(self, value: str) -> None:
        self.q.setValue("engine/database_url", value.strip())

    @property
    def browser_path(self) -> str:
        return self._str("engine/browser_path")

    @browser_path.setter
    def browser_path(self, value: str) -> None:
        self.q.setValue("engine/browser_path", value.strip())

    @property
    def data_dir(self) -> str:
        """Where screenshots and other artifacts go; empty: the user data dir."""
        return self._str("engine/data_dir")

    @data_dir.setter
    def data_dir(self, value: str) -> None:
        self.q.setValue("engine/data_dir", value.strip())

    @property
    def concurrency(self) -> int:
        return max(1, self._int("engine/concurrency", 4))

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self.q.setValue("engine/concurrency", int(value))

    @property
    def rate_per_second(self) -> float:
        """Per-site ceiling on actions per second for every task (0: only the tasks' own)."""
        return max(0.0, self._float("engine/rate_per_second", 0.0))

    @rate_per_second.setter
    def rate_per_second(self, value: float) -> None:
        self.q.setValue("engine/rate_per_second", float(value))

    @property
    def rate_burst(self) -> int:
        return max(1, self._int("engine/rate_burst", 20))

    @rate_burst.setter
    def rate_burst(self, value: int) -> None:
        self.q.setValue("engine/rate_burst", int(value))

    # The console itself.
    @property
    def library_folder(self) -> Path:
        text = self._str("console/library_folder")
        return Path(text) if text else default_library_folder()

    @library_folder.setter
    def library_folder(self, value: Path | str) -> None:
        self.q.setValue("console/library_folder", str(value))

    @property
    def theme(self) -> str:
        """ "system" (follow the OS), "light" or "dark"."""
        value = self._str("console/theme", "system")
        return value if value in ("system", "light", "dark") else "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self.q.setValue("console/theme", value)

    def window_state(self) -> tuple[bytes | None, bytes | None]:
        geometry = self.q.value("window/geometry")
        state = self.q.value("window/state")
        return (_bytes(geometry), _bytes(state))

    def save_window_state(self, geometry: bytes, state: bytes) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def sync(self) -> None:
        self.q.sync()


def _bytes(value: object) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    data = getattr(value, "data", None)  # QByteArray
    return bytes(data()) if callable(data) else None


def default_library_folder() -> Path:
    """The user's task folder if it has any task file, else the bundled demo tasks."""
    mine = default_data_dir() / "tasks"
    if mine.is_dir() and any(mine.glob("*.y*ml")):
        return mine
    return demo_tasks_dir()
