"""`flightdeck credentials add|list|remove`: named logins in the OS keyring.

Values are never taken from the command line (they would land in shell history and `ps`): they
are asked for with hidden prompts on a terminal, or read one per line from standard input when
it is not a terminal (a script, a password manager's CLI piping into it).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from app.cli import exitcodes
from app.cli.output import print_json
from app.secrets import (
    Credential,
    CredentialError,
    KeyringSecrets,
    Totp,
    check_credential_name,
    check_extra_fields,
    keyring_status,
)


class Prompter:
    """Asks for one value at a time: hidden on a terminal, else the next line of `stdin` (its
    prompt still goes to stderr, so a script's log shows what was asked)."""

    def __init__(self, stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stderr = stderr or sys.stderr
        self.interactive = self.stdin.isatty()

    def ask(self, label: str, *, required: bool = True, confirm: bool = False) -> str:
        while True:
            value = self._read(f"{label}: ")
            if not value and required:
                if not self.interactive:
                    raise CredentialError(f"{label} is required (standard input gave an empty line)")
                print(f"{label} is required", file=self.stderr)
                continue
            if confirm and value and self.interactive and self._read(f"{label} again: ") != value:
                print("they differ; once more", file=self.stderr)
                continue
            return value

    def _read(self, prompt: str) -> str:
        if self.interactive:
            return getpass.getpass(prompt, stream=self.stderr)
        print(prompt, end="", file=self.stderr, flush=True)
        line = self.stdin.readline()
        if not line:
            raise CredentialError(f"standard input ended before {prompt.rstrip(': ')} was given")
        return line.rstrip("\r\n")  # only the line end: spaces may belong to a password


def cmd_add(args: argparse.Namespace) -> int:
    ask = Prompter()
    secrets = KeyringSecrets()
    fields = list(dict.fromkeys(args.field or []))
    public = frozenset(args.public or [])
    # Everything that can be refused is checked before any prompt: typing a password only to
    # be told the name is wrong is no fun.
    check_credential_name(args.name)
    check_extra_fields(fields)
    if not public <= set(fields):
        raise CredentialError(
            f"--public {', '.join(sorted(public - set(fields)))}: only an extra field can be public; "
            "give it with --field too"
        )
    if not args.replace and args.name in secrets.catalog():
        raise CredentialError(
            f"a credential named {args.name!r} exists: remove it first, or add it again with --replace"
        )
    if not ask.interactive:
        order = ["username", "password", *([] if args.no_totp else ["TOTP seed (empty line: none)"]), *fields]
        print(f"reading {', '.join(order)} from standard input, one per line", file=ask.stderr)
    username = ask.ask("username")
    password = ask.ask("password", confirm=True)
    seed = "" if args.no_totp else ask.ask("TOTP seed or otpauth:// URI (empty: none)", required=False)
    extra = {key: ask.ask(key) for key in fields}
    credential = Credential(
        username,
        password,
        Totp.parse(seed) if seed else None,
        extra,
        secret_username=args.secret_username,
        public=public,
    )
    secrets.add(args.name, credential, replace=args.replace)
    refs = ", ".join(f"{args.name}.{f}" for f in credential.fields)
    shown = [f for f in credential.fields if not credential.is_secret(f)]
    print(f"✓ credential {args.name} stored in the OS keyring ({keyring_status().backend})")
    print(f"  refer to it as {refs}")
    print(
        f"  masked in everything Flightdeck writes: {', '.join(credential.secret_fields())}"
        + (f"; not masked: {', '.join(shown)}" if shown else "")
    )
    return exitcodes.OK


def cmd_list(args: argparse.Namespace) -> int:
    catalog = KeyringSecrets().catalog()
    if args.json:
        print_json([{"name": name, "fields": fields} for name, fields in catalog.items()])
        return exitcodes.OK
    if not catalog:
        print("no credentials yet: add one with `flightdeck credentials add NAME`")
    for name, fields in catalog.items():
        print(f"{name:<24} {', '.join(fields)}")
    return exitcodes.OK


def cmd_remove(args: argparse.Namespace) -> int:
    KeyringSecrets().remove(args.name)
    print(f"✓ credential {args.name} removed from the OS keyring")
    return exitcodes.OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "named logins in the OS keyring (values never printed)"
    p = sub.add_parser("credentials", help=text, description=text)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="store a credential (values are prompted for, never taken from the command line)",
        description="Store a credential: username, password, an optional TOTP seed and extra fields, "
        "asked with hidden prompts — or read one per line from standard input when it is not a "
        "terminal, in this order: username, password, TOTP seed (an empty line for none), then "
        "each --field in the order given.",
    )
    add.add_argument("name", metavar="NAME", help="tasks refer to it as NAME.username, NAME.password, …")
    add.add_argument(
        "--field", action="append", metavar="KEY", help="also ask for an extra field KEY (repeatable)"
    )
    add.add_argument("--no-totp", action="store_true", help="do not ask for a TOTP seed")
    add.add_argument(
        "--secret-username",
        action="store_true",
        help="mask the username in everything written, like the password (by default it is an "
        "identifier, kept readable where the site shows it: URLs, greetings)",
    )
    add.add_argument(
        "--public",
        action="append",
        metavar="KEY",
        help="an extra field (given with --field) that is not secret: not masked in what is "
        "written (extra fields are secret by default; repeatable)",
    )
    add.add_argument("--replace", action="store_true", help="replace a credential of the same name")
    add.set_defaults(func=cmd_add)

    ls = actions.add_parser("list", help="credential names and their fields (never values)")
    ls.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    ls.set_defaults(func=cmd_list)

    rm = actions.add_parser("remove", help="delete a credential from the OS keyring")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=cmd_remove)
