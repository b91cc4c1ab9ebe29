"""Tools ▸ Credentials and Tools ▸ Session profiles as an operator uses them: the real console
back end (its KeyringSecrets and ProfileStore, on a temporary data dir), real widgets typed into,
and every keyring or file call made on a worker thread through the bridge.

The OS keyring is the in-memory backend of tests/helpers/memkeyring.py (a real Secret Service
needs a D-Bus session: tests/integration/cli/test_credentials.py runs one), or keyring's own
`fail.Keyring` — the headless default — for the "no keyring" state."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QWidget,
)

from app.browser.profiles import ProfileStore
from app.cli.profilecmds import profile_store
from app.secrets import Credential, KeyringSecrets, Totp
from app.ui.console import Console, ConsoleOptions
from app.ui.dialogs.credential_form import CredentialForm
from app.ui.dialogs.credentials import CredentialsDialog
from app.ui.dialogs.profiles import ProfilesDialog
from app.ui.mainwindow import MainWindow
from app.ui.settings import ConsoleSettings
from tests.helpers.memkeyring import MemoryKeyring, using_keyring
from tests.ui.helpers import next_signal, running_console, until

PASSWORD = "correct-horse-battery"
PIN = "86420"
SEED = "JBSWY3DPEHPK3PXP"


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with using_keyring(MemoryKeyring()) as backend:
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with using_keyring(keyring.backends.fail.Keyring()):
        yield


@pytest.fixture
def options(console_options: ConsoleOptions, tmp_path: Path) -> ConsoleOptions:
    return dataclasses.replace(console_options, profiles_dir=tmp_path / "profiles", concurrency=0)


async def open_credentials(console: Console, qtbot: Any) -> CredentialsDialog:
    dialog = CredentialsDialog(console.bridge, console.secrets)
    qtbot.addWidget(dialog)
    dialog.show()
    await until(lambda: dialog.loaded and not dialog.busy, what="the keyring to be read")
    return dialog


async def open_profiles(console: Console, qtbot: Any) -> ProfilesDialog:
    dialog = ProfilesDialog(console.bridge, console.profiles)
    qtbot.addWidget(dialog)
    dialog.show()
    await until(lambda: dialog.loaded and not dialog.busy, what="the profiles to be read")
    return dialog


def rows(view: QAbstractItemView) -> list[list[str]]:
    model = view.model()
    return [
        [str(model.index(r, c).data()) for c in range(model.columnCount())] for r in range(model.rowCount())
    ]


def click_row(qtbot: Any, view: QAbstractItemView, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def everything_shown(top: QWidget) -> str:
    """Every piece of text a widget tree can put on screen or hand to assistive technology,
    including what a line edit holds (a password field's text is there even when dotted)."""
    parts: list[str] = []
    for widget in [top, *top.findChildren(QWidget)]:
        parts += [
            widget.windowTitle(),
            widget.toolTip(),
            widget.accessibleName(),
            widget.accessibleDescription(),
        ]
        if isinstance(widget, QLabel | QAbstractButton):
            parts.append(widget.text())
        if isinstance(widget, QLineEdit):
            parts += [widget.text(), widget.displayText(), widget.placeholderText()]
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            for r in range(model.rowCount()):
                for c in range(model.columnCount()):
                    index = model.index(r, c, QModelIndex())
                    parts += [
                        str(index.data(role))
                        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
                    ]
    return "\n".join(parts)


async def fill_form(qtbot: Any, form: CredentialForm, *, name: str | None, password: str = PASSWORD) -> None:
    if name is not None:
        qtbot.keyClicks(form.name, name)
    qtbot.keyClicks(form.username, "ada@example.com")
    qtbot.keyClicks(form.password, password)
    qtbot.keyClicks(form.confirm, password)


# ----------------------------------------------------------------- the console's wiring
async def test_the_console_engine_reads_the_keyring_and_keeps_profiles_where_the_cli_does(
    console_options: ConsoleOptions, memory_keyring: MemoryKeyring, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("FLIGHTDECK_DATA_DIR", str(tmp_path / "data"))
    task = tmp_path / "login.yaml"
    task.write_text(
        "name: login\nsite: http://127.0.0.1:9\nsteps:\n"
        "  - goto: /login\n  - fill: {target: {label: Password}, secret: shop.password}\n"
    )
    async with running_console(console_options) as console:
        assert isinstance(console.engine.secrets, KeyringSecrets)
        assert console.engine.profiles is console.profiles
        # One place for CLI runs and the console, so they exclude each other on the same locks.
        assert console.profiles.root == profile_store().root == tmp_path / "data" / "profiles"

        # A task that needs a credential nobody added is refused at once, saying how to add it.
        console.bridge.submit(str(task), {})
        what, details = await next_signal(console.bridge.failed)
        assert "login.yaml" in what
        assert "no credential named 'shop'" in details and "flightdeck credentials add shop" in details


# ----------------------------------------------------------------- credentials
async def test_a_credential_added_through_the_form_is_listed_by_its_fields_never_its_values(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    async with running_console(options) as console:
        dialog = await open_credentials(console, qtbot)
        assert dialog.status.text().startswith("No credentials yet")
        assert rows(dialog.view) == []
        assert not dialog.replace_button.isEnabled() and not dialog.remove_button.isEnabled()

        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
        form = dialog.form
        assert isinstance(form, CredentialForm) and form.isVisible()
        assert form.windowTitle() == "Add credential"
        for secret in (form.password, form.confirm, form.totp):
            assert secret.echoMode() is QLineEdit.EchoMode.Password
        assert not form.ok.isEnabled(), "nothing typed yet"

        qtbot.keyClicks(form.name, "shop")
        qtbot.keyClicks(form.username, "ada@example.com")
        qtbot.keyClicks(form.password, PASSWORD)
        assert not form.ok.isEnabled() and "password again" in form.ok.toolTip()
        qtbot.keyClicks(form.confirm, PASSWORD)
        assert form.ok.isEnabled()
        qtbot.keyClicks(form.totp, SEED.lower())  # as some sites show it
        qtbot.mouseClick(form.add_field_button, Qt.MouseButton.LeftButton)
        (pin,) = form.extras
        qtbot.keyClicks(pin.key, "pin")
        assert not form.ok.isEnabled() and "a value for pin" in form.ok.toolTip()
        assert pin.value.echoMode() is QLineEdit.EchoMode.Password
        qtbot.keyClicks(pin.value, PIN)
        assert form.ok.isEnabled()
        qtbot.mouseClick(form.secret_username, Qt.MouseButton.LeftButton)

        left_in_form: list[list[str]] = []
        edits = [form.username, form.password, form.confirm, form.totp, pin.value]
        form.finished.connect(lambda _: left_in_form.append([e.text() for e in edits]))
        qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
        await until(lambda: dialog.form is None, what="the form to close once stored")
        assert left_in_form == [["", "", "", "", ""]], "the form emptied its fields as it closed"
        await until(lambda: rows(dialog.view) and not dialog.busy, what="the list to show it")

        assert rows(dialog.view) == [["shop", "username, password, totp, pin"]]
        assert "✓ shop stored: refer to it as shop.username, shop.password, shop.totp, shop.pin" in (
            dialog.status.text()
        )
        shown = everything_shown(dialog)
        for value in (PASSWORD, PIN, SEED, SEED.lower(), "ada@example.com"):
            assert value not in shown
        # …and it is really in the OS keyring.
        stored = console.secrets.get("shop")
        assert (stored.username, stored.password, stored.extra) == ("ada@example.com", PASSWORD, {"pin": PIN})
        assert stored.secret_username  # the box was ticked: masked like the password
        assert stored.totp is not None and stored.totp.seed == SEED


async def test_the_form_says_next_to_each_field_what_is_wrong(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    KeyringSecrets().add("bank", Credential("ada@example.com", PASSWORD))
    async with running_console(options) as console:
        dialog = await open_credentials(console, qtbot)
        form = dialog.add()
        assert form is not None

        def problem(edit: QLineEdit) -> str:
            label = form.errors[edit]
            assert label.parentWidget() is edit.parentWidget(), "shown with its field"
            return label.text() if label.isVisible() else ""

        qtbot.keyClicks(form.name, "bank")
        assert "a credential named 'bank' exists" in problem(form.name)
        form.name.setText("my.bank")
        assert "not a valid credential name" in problem(form.name) and "no dots" in problem(form.name)
        form.name.setText("shop")
        assert problem(form.name) == ""
        qtbot.keyClicks(form.username, "bob")
        assert problem(form.username) == ""  # not secret by default: it may be short
        form.secret_username.setChecked(True)
        assert "username is shorter than 4 characters" in problem(form.username)
        form.secret_username.setChecked(False)
        form.username.setText("")

        await fill_form(qtbot, form, name=None, password="abc")
        assert "password is shorter than 4 characters" in problem(form.password)
        assert not form.ok.isEnabled()
        form.confirm.setText("abd")
        assert problem(form.confirm) == "the two passwords differ"

        qtbot.keyClicks(form.totp, "not a seed!")
        assert "the TOTP seed is not base32" in problem(form.totp)
        form.totp.setText("otpauth://totp/Shop?secret=JBSWY3DPEHPK3PXP&digits=9")
        assert "unsupported TOTP parameters: 9 digits" in problem(form.totp)

        form.password.setText(PASSWORD)
        form.confirm.setText(PASSWORD)
        form.totp.setText("")
        extra = form.add_extra()
        qtbot.keyClicks(extra.key, "password")
        qtbot.keyClicks(extra.value, "long enough")
        assert "'password' is a built-in field" in extra.error.text() and extra.error.isVisible()
        assert not form.ok.isEnabled()
        extra.key.setText("memorable")
        assert not extra.error.isVisible()
        assert problem(form.password) == problem(form.confirm) == problem(form.totp) == ""
        assert form.ok.isEnabled()

        # Cancel empties the fields too.
        edits = [form.username, form.password, form.confirm, extra.value]
        form.reject()
        assert [e.text() for e in edits] == ["", "", "", ""]
        assert not memory_keyring.entries.get(("flightdeck", "credential/shop"))


async def test_replace_starts_empty_and_stores_new_values(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    KeyringSecrets().add("bank", Credential("ada@example.com", "old-password", None, {"pin": "1357"}))
    async with running_console(options) as console:
        dialog = await open_credentials(console, qtbot)
        assert rows(dialog.view) == [["bank", "username, password, pin"]]
        click_row(qtbot, dialog.view, 0)
        assert dialog.selected() == "bank" and dialog.replace_button.isEnabled()

        qtbot.mouseClick(dialog.replace_button, Qt.MouseButton.LeftButton)
        form = dialog.form
        assert form is not None and form.windowTitle() == "Replace credential bank"
        assert form.name.text() == "bank" and form.name.isReadOnly()
        (pin,) = form.extras
        assert pin.key.text() == "pin", "field names are offered again"
        values = [form.username, form.password, form.confirm, form.totp, pin.value]
        assert [e.text() for e in values] == [""] * 5, "values are never read back"
        assert "old-password" not in everything_shown(form) and "1357" not in everything_shown(form)

        await fill_form(qtbot, form, name=None, password="new-password")
        qtbot.keyClicks(pin.value, "2468")
        qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
        await until(lambda: dialog.form is None and not dialog.busy, what="the new values to be stored")
        assert "✓ bank replaced" in dialog.status.text()
        stored = console.secrets.get("bank")
        assert (stored.password, stored.extra) == ("new-password", {"pin": "2468"})


async def test_a_keyring_that_refuses_keeps_the_form_open_with_the_reason(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any, monkeypatch: Any
) -> None:
    import keyring.errors

    def locked(*_: object) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    async with running_console(options) as console:
        dialog = await open_credentials(console, qtbot)
        form = dialog.add()
        assert form is not None
        await fill_form(qtbot, form, name="shop")
        monkeypatch.setattr(memory_keyring, "set_password", locked)
        qtbot.mouseClick(form.ok, Qt.MouseButton.LeftButton)
        await until(lambda: form.problem.isVisible(), what="the refusal to show")
        assert "credential 'shop' cannot be stored: the keyring refused" in form.problem.text()
        assert "locked" in form.problem.text()
        assert form.isVisible() and form.password.text() == PASSWORD, "kept so it can be tried again"
        assert form.ok.isEnabled() and not dialog.busy


async def test_remove_asks_first_then_deletes_it_from_the_keyring(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    KeyringSecrets().add("bank", Credential("ada@example.com", PASSWORD))
    KeyringSecrets().add("shop", Credential("ada@example.com", PASSWORD, Totp(SEED)))
    async with running_console(options) as console:
        dialog = await open_credentials(console, qtbot)
        assert [r[0] for r in rows(dialog.view)] == ["bank", "shop"]
        click_row(qtbot, dialog.view, 1)

        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
        box = dialog.confirmation
        assert isinstance(box, QMessageBox) and box.isVisible() and "“shop”" in box.text()
        box.button(QMessageBox.StandardButton.No).click()
        await console.bridge.settle()
        assert [r[0] for r in rows(dialog.view)] == ["bank", "shop"], "kept"

        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
        box = dialog.confirmation
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: [r[0] for r in rows(dialog.view)] == ["bank"], what="shop to leave the list")
        assert "✓ shop removed" in dialog.status.text()
        assert console.secrets.catalog() == {"bank": ["username", "password"]}
        assert ("flightdeck", "credential/shop") not in memory_keyring.entries


async def test_without_a_keyring_the_console_opens_and_the_manager_shows_the_fix(
    options: ConsoleOptions, no_keyring: None, qtbot: Any, tmp_path: Path
) -> None:
    settings = ConsoleSettings(QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    async with running_console(options) as console:
        window = MainWindow(console, settings)
        qtbot.addWidget(window)
        window.confirm_close = False
        window.show()
        try:
            tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
            entries = {a.text(): a for a in tools.actions()}
            assert entries["&Credentials…"].shortcut().toString() == "Ctrl+Shift+K"
            assert entries["Session &profiles…"].shortcut().toString() == "Ctrl+Shift+S"

            entries["&Credentials…"].trigger()
            dialog = window.open_credentials()  # the one the menu opened, brought forward
            assert isinstance(dialog, CredentialsDialog) and dialog.isVisible()
            assert len(window.findChildren(CredentialsDialog)) == 1
            await until(lambda: dialog.loaded and not dialog.busy, what="the keyring status")
            assert dialog.banner.isVisible()
            banner = dialog.banner.text()
            assert "Credentials are unavailable here: no OS keyring" in banner
            assert "keyring.backends.fail.Keyring" in banner
            assert "<b>Fix:</b> install a Secret Service (apt-get install gnome-keyring dbus-x11)" in banner
            for button in (dialog.add_button, dialog.replace_button, dialog.remove_button):
                assert not button.isEnabled()
            assert dialog.add() is None
            assert dialog.refresh_button.isEnabled()

            # Closed while the keyring is being read, then opened again: the same dialog reads
            # again, and the answer to the closed one is no error.
            errors: list[str] = []
            console.bridge.failed.connect(lambda what, _: errors.append(what))
            dialog.refresh()
            qtbot.mouseClick(
                dialog.close_buttons.button(QDialogButtonBox.StandardButton.Close), Qt.MouseButton.LeftButton
            )
            assert not dialog.isVisible()
            await console.bridge.settle()
            entries["&Credentials…"].trigger()
            assert dialog.isVisible() and dialog.busy, "reading the keyring again"
            assert window.open_credentials() is dialog
            await until(lambda: not dialog.busy, what="the second read")
            assert dialog.banner.isVisible() and errors == []

            # Session profiles are listed without a keyring (only their contents need the key).
            entries["Session &profiles…"].trigger()
            profiles = window.open_profiles()
            await until(lambda: profiles.loaded and not profiles.busy, what="the profiles")
            assert "No session profiles yet" in profiles.status.text()
        finally:
            window.close()
            await window.live.aclose()


# ----------------------------------------------------------------- session profiles
async def test_profiles_are_listed_and_cleared_after_asking(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    assert options.profiles_dir is not None
    store = ProfileStore(options.profiles_dir)
    store.save("bank", {"cookies": [], "origins": []})
    store.save("shop", {"cookies": [{"name": "sid", "value": "x" * 2000}], "origins": []})
    async with running_console(options) as console:
        dialog = await open_profiles(console, qtbot)
        table = rows(dialog.view)
        assert [r[0] for r in table] == ["bank", "shop"]
        assert table[1][1].endswith("KiB") and table[0][1].endswith(" B")
        saved = store.list_profiles()[1].saved_at
        assert saved is not None and table[1][2] == saved.astimezone().strftime("%Y-%m-%d %H:%M")
        assert table[1][3] == "—", "nobody uses it"
        assert dialog.status.text() == "2 session profiles."
        assert not dialog.clear_button.isEnabled(), "nothing selected"

        click_row(qtbot, dialog.view, 1)
        qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
        box = dialog.confirmation
        assert isinstance(box, QMessageBox) and "“shop”" in box.text() and "logged out" in box.text()
        box.button(QMessageBox.StandardButton.No).click()
        await console.bridge.settle()
        assert (options.profiles_dir / "shop.profile").exists()

        qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
        assert dialog.confirmation is not None
        dialog.confirmation.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: [r[0] for r in rows(dialog.view)] == ["bank"], what="shop to leave the list")
        assert dialog.status.text() == "✓ shop cleared: the next run that uses it starts logged out."
        assert not (options.profiles_dir / "shop.profile").exists()
        assert store.load("bank") == {"cookies": [], "origins": []}, "the other one is untouched"


async def test_a_profile_a_live_run_holds_is_not_cleared(
    options: ConsoleOptions, memory_keyring: MemoryKeyring, qtbot: Any
) -> None:
    assert options.profiles_dir is not None
    store = ProfileStore(options.profiles_dir)
    store.save("shop", {"cookies": [], "origins": []})
    store.save("bank", {"cookies": [], "origins": []})
    store.acquire("shop", "run-1a2b3c")  # this process is alive: the hold counts
    async with running_console(options) as console:
        dialog = await open_profiles(console, qtbot)
        assert rows(dialog.view)[1][0] == "shop" and rows(dialog.view)[1][3] == "run run-1a2b3c"
        click_row(qtbot, dialog.view, 1)
        assert not dialog.clear_button.isEnabled()
        assert dialog.clear_button.toolTip() == "In use by run run-1a2b3c: clear it after that run finishes"
        assert dialog.status.text() == (
            "shop is in use by run run-1a2b3c: it can be cleared after that run finishes."
        ), "the status says why Clear is disabled"

        # A run takes "bank" after the list was read: the store refuses, the dialog says why.
        click_row(qtbot, dialog.view, 0)
        assert dialog.clear_button.isEnabled()
        store.acquire("bank", "run-4d5e6f")
        qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
        assert dialog.confirmation is not None
        dialog.confirmation.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: "Not cleared" in dialog.status.text(), what="the refusal")
        assert dialog.status.text() == (
            "Not cleared: session profile 'bank' is in use by run run-4d5e6f: "
            "clear it after that run finishes."
        )
        await until(lambda: rows(dialog.view)[0][3] == "run run-4d5e6f", what="the list to show the holder")
        assert dialog.status.text().startswith("Not cleared"), "the re-read keeps the reason on screen"
        assert (options.profiles_dir / "bank.profile").exists()
        assert QApplication.activeModalWidget() is None, "no stray question left open"
