"""`flightdeck profiles list|clear`: the saved browser sessions runs reuse."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from app.cli import exitcodes
from app.cli.output import print_json
from app.store import default_data_dir

if TYPE_CHECKING:
    from app.browser.profiles import ProfileStore


def profile_store() -> ProfileStore:
    """Session profiles live beside the database in the data dir (FLIGHTDECK_DATA_DIR)."""
    # Imported here: `app.browser` loads Playwright, which every other command would pay for.
    from app.browser.profiles import ProfileStore

    return ProfileStore(default_data_dir() / "profiles")


def cmd_list(args: argparse.Namespace) -> int:
    infos = profile_store().list_profiles()
    if args.json:
        print_json(
            [
                {
                    "name": i.name,
                    "size": i.size,
                    "saved_at": i.saved_at.isoformat() if i.saved_at else None,
                    "locked_by": i.locked_by,
                }
                for i in infos
            ]
        )
        return exitcodes.OK
    if not infos:
        print("no session profiles yet: a task with a session profile saves one when it runs")
        return exitcodes.OK
    print(f"{'PROFILE':<24} {'SIZE':>9}  {'SAVED (UTC)':<19}  IN USE BY")
    for i in infos:
        saved = i.saved_at.strftime("%Y-%m-%d %H:%M:%S") if i.saved_at else "never"
        print(f"{i.name:<24} {_size(i.size):>9}  {saved:<19}  {f'run {i.locked_by}' if i.locked_by else ''}")
    return exitcodes.OK


def cmd_clear(args: argparse.Namespace) -> int:
    if profile_store().clear(args.name):
        print(f"✓ session profile {args.name} cleared: the next run starts logged out")
        return exitcodes.OK
    print(f"error: no session profile named {args.name!r}", file=sys.stderr)
    return exitcodes.INVALID


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "saved browser sessions (cookies, storage), encrypted at rest"
    p = sub.add_parser("profiles", help=text, description=text)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="profiles with size, when saved, and the run using one")
    ls.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    ls.set_defaults(func=cmd_list)
    clear = actions.add_parser("clear", help="forget a profile's saved session (refused while a run uses it)")
    clear.add_argument("name", metavar="NAME")
    clear.set_defaults(func=cmd_clear)
