#!/usr/bin/env python3
"""Notes: a small notes manager built with NiceGUI, the way NiceGUI's own examples build one.

- Sign-in follows NiceGUI's authentication example: a middleware sends every page request of a
  visitor who is not signed in to /login; signing in is a websocket event that puts the user in
  `app.storage.user` (kept server-side, tied to the browser by a signed cookie) and navigates on.
- The notes live in a SQLite file (`NOTES_DB`): a table of them, an "Add" dialog, and a delete
  button on each row that asks for confirmation in a second dialog.
- Users and their salted PBKDF2 hashes live in the same file: `main.py add-user NAME` reads the
  password from standard input. An activity table records every add and every confirmed delete.

Everything after the page load happens over NiceGUI's websocket (Socket.IO): typing, clicking
"Save" or "Delete" sends no HTTP request at all.

    NOTES_DB=notes.db python main.py add-user alice < password.txt
    NOTES_DB=notes.db NOTES_SECRET=... python main.py serve --port 8080
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import Client, app, ui
from starlette.middleware.base import BaseHTTPMiddleware

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL REFERENCES users(username),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    note_id INTEGER NOT NULL,
    title TEXT NOT NULL
);
"""
ROUNDS = 200_000
unrestricted_page_routes = {"/login"}


# ---------------------------------------------------------------------------- the store
def connect() -> sqlite3.Connection:
    db = sqlite3.connect(os.environ["NOTES_DB"], timeout=10)
    db.row_factory = sqlite3.Row
    return db


def init_db() -> None:
    with connect() as db:
        db.executescript(SCHEMA)


def add_user(username: str, password: str) -> None:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ROUNDS)
    with connect() as db:
        db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?)", (username, salt, digest))


def check_password(username: str, password: str) -> bool:
    with connect() as db:
        row = db.execute("SELECT salt, hash FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), row["salt"], ROUNDS)
    return hmac.compare_digest(digest, row["hash"])


def list_notes(owner: str) -> list[dict[str, object]]:
    with connect() as db:
        rows = db.execute(
            "SELECT id, title, body, created_at FROM notes WHERE owner = ? ORDER BY id", (owner,)
        ).fetchall()
    return [dict(row) for row in rows]


def add_note(owner: str, title: str, body: str) -> None:
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    with connect() as db:
        cursor = db.execute(
            "INSERT INTO notes (title, body, owner, created_at) VALUES (?, ?, ?, ?)",
            (title, body, owner, created),
        )
        _record(db, owner, "add", int(cursor.lastrowid or 0), title)


def delete_note(owner: str, note_id: int, title: str) -> None:
    """Every confirmed delete is recorded, whether or not the note was still there."""
    with connect() as db:
        db.execute("DELETE FROM notes WHERE id = ? AND owner = ?", (note_id, owner))
        _record(db, owner, "delete", note_id, title)


def _record(db: sqlite3.Connection, who: str, action: str, note_id: int, title: str) -> None:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    db.execute(
        "INSERT INTO activity (at, who, action, note_id, title) VALUES (?, ?, ?, ?, ?)",
        (at, who, action, note_id, title),
    )


# ---------------------------------------------------------------------------- sign-in
class AuthMiddleware(BaseHTTPMiddleware):
    """Restricts every NiceGUI page to signed-in users: others are sent to the login page."""

    async def dispatch(self, request: Request, call_next: Callable) -> object:
        if not app.storage.user.get("authenticated", False):
            path = request.url.path
            if path in Client.page_routes.values() and path not in unrestricted_page_routes:
                app.storage.user["referrer_path"] = path  # where to go once signed in
                return RedirectResponse("/login")
        return await call_next(request)


app.add_middleware(AuthMiddleware)

# A connection log, as a deployment keeps one: each browser tab is a NiceGUI client, held by a
# websocket; a client whose socket stays away longer than the reconnect timeout is deleted.
app.on_connect(lambda client: print(f"client {client.id} connected", flush=True))
app.on_disconnect(lambda client: print(f"client {client.id} disconnected", flush=True))
app.on_delete(lambda client: print(f"client {client.id} deleted", flush=True))


@ui.page("/login")
def login() -> RedirectResponse | None:
    def try_login() -> None:
        if check_password(username.value, password.value):
            app.storage.user.update({"username": username.value, "authenticated": True})
            ui.navigate.to(app.storage.user.get("referrer_path", "/"))
        else:
            ui.notify("Wrong username or password", color="negative")

    if app.storage.user.get("authenticated", False):
        return RedirectResponse("/")
    with ui.card().classes("absolute-center"):
        ui.label("Notes").classes("text-h5")
        username = ui.input("Username").on("keydown.enter", try_login)
        password = ui.input("Password", password=True, password_toggle_button=True).on(
            "keydown.enter", try_login
        )
        ui.button("Log in", on_click=try_login)
    return None


def logout() -> None:
    app.storage.user.clear()
    ui.navigate.to("/login")


# ---------------------------------------------------------------------------- the notes
@ui.page("/")
def notes_page() -> None:
    owner = app.storage.user["username"]

    with ui.header().classes("items-center justify-between"):
        ui.label("Notes").classes("text-h6")
        with ui.row().classes("items-center"):
            ui.label(f"Signed in as {owner}")
            ui.button("Log out", on_click=logout).props("flat color=white")

    columns = [
        {"name": "title", "label": "Title", "field": "title", "align": "left", "sortable": True},
        {"name": "body", "label": "Notes", "field": "body", "align": "left"},
        {"name": "created_at", "label": "Created", "field": "created_at", "align": "left"},
        {"name": "actions", "label": "", "field": "id"},
    ]
    table = ui.table(columns=columns, rows=list_notes(owner), row_key="id").classes("w-full")
    table.props('no-data-label="No notes yet"')
    table.add_slot(
        "body-cell-actions",
        r"""
        <q-td :props="props" auto-width>
            <q-btn flat round dense icon="delete" color="negative"
                   :aria-label="'Delete ' + props.row.title"
                   @click="() => $parent.$emit('delete', props.row)" />
        </q-td>
        """,
    )

    def refresh() -> None:
        table.rows = list_notes(owner)
        table.update()

    # The "Add" dialog
    with ui.dialog() as add_dialog, ui.card().classes("w-96"):
        ui.label("New note").classes("text-h6")
        title = ui.input("Title").classes("w-full")
        body = ui.textarea("Notes").classes("w-full")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=add_dialog.close).props("flat")
            save = ui.button("Save")

    def save_note() -> None:
        if not title.value.strip():
            ui.notify("A note needs a title", color="negative")
            return
        add_note(owner, title.value.strip(), body.value or "")
        add_dialog.close()
        ui.notify(f"Added “{title.value.strip()}”")
        title.value, body.value = "", ""
        refresh()

    save.on_click(save_note)

    # The confirmation before a delete
    doomed: dict[str, object] = {}
    with ui.dialog() as confirm_dialog, ui.card():
        question = ui.label()
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=confirm_dialog.close).props("flat")
            ui.button("Delete", on_click=lambda: confirm_dialog.submit(True)).props("color=negative")

    async def ask_delete(row: dict[str, object]) -> None:
        doomed.clear()
        doomed.update(row)
        question.text = f"Delete “{row['title']}”? This cannot be undone."
        if await confirm_dialog:
            delete_note(owner, int(str(doomed["id"])), str(doomed["title"]))
            ui.notify(f"Deleted “{doomed['title']}”")
            refresh()

    table.on("delete", lambda e: ask_delete(e.args))

    with ui.row().classes("w-full justify-end q-mt-md"):
        ui.button("Add", icon="add", on_click=add_dialog.open)


# ---------------------------------------------------------------------------- command line
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    user = sub.add_parser("add-user", help="add a user (password read from standard input)")
    user.add_argument("username")
    serve = sub.add_parser("serve", help="serve the app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    init_db()
    if args.command == "add-user":
        add_user(args.username, sys.stdin.readline().rstrip("\n"))
        return
    ui.run(
        host=args.host,
        port=args.port,
        title="Notes",
        reload=False,
        show=False,
        show_welcome_message=False,
        storage_secret=os.environ["NOTES_SECRET"],
    )


if __name__ in {"__main__", "__mp_main__"}:
    main()
