"""The `flightdeck` command line. Exit codes are in `exitcodes`."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.cli import exitcodes
from app.domain.errors import FlightdeckError, TaskValidationError
from app.domain.states import RunStatus


def _common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL (default: SQLite in the user data dir; env FLIGHTDECK_DATABASE_URL)",
    )
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def _browser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument(
        "--artifacts",
        metavar="DIR",
        help="where screenshots go (default: <data dir>/artifacts; env FLIGHTDECK_ARTIFACTS_DIR)",
    )


def build_parser() -> argparse.ArgumentParser:
    from app.cli import (
        checkcmd,
        consolecmd,
        credentialcmds,
        handoffcmds,
        infocmds,
        profilecmds,
        recordcmds,
        runcmds,
    )

    parser = argparse.ArgumentParser(
        prog="flightdeck", description="Run web tasks in real Chromium, judged by evidence."
    )
    parser.add_argument("--version", action="version", version=f"flightdeck {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("run", runcmds.cmd_run, "run a task file")
    p.add_argument("task", metavar="TASK.yaml")
    p.add_argument("--input", "-i", action="append", metavar="NAME=VALUE", help="a task input (repeatable)")
    p.add_argument("--site", metavar="URL", help="run against this base URL instead of the task's site")
    p.add_argument(
        "--wait",
        action="store_true",
        help="keep waiting while a handoff is open (answer from another terminal)",
    )
    p.add_argument(
        "--ask-missing",
        action="store_true",
        help="start without the required inputs not given; the run asks for them when it needs them",
    )
    p.add_argument(
        "--trace",
        choices=["on", "retain-on-failure", "off"],
        help="record a Playwright trace (overrides the task's policy.trace; costs time per action)",
    )
    _common(p)
    _browser(p)
    checkcmd.register(sub)

    p = command(
        "resume",
        runcmds.cmd_resume,
        "continue an interrupted, paused or waiting run from its last checkpoint",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--wait", action="store_true", help="keep waiting while a handoff is open")
    _common(p)
    _browser(p)

    for name, decision, text in (
        ("approve", "approve", "approve the pending action of a run (or a handoff) and continue it"),
        ("deny", "deny", "deny the pending action of a run (or a handoff)"),
    ):
        p = command(name, functools.partial(runcmds.cmd_answer_like, decision=decision), text)
        p.add_argument("target", metavar="RUN|HANDOFF")
        p.add_argument("--comment", help="recorded with the decision")
        if decision == "approve":
            p.add_argument(
                "--set",
                action="append",
                metavar="FIELD=VALUE",
                help="edit a value before approving (a form field by name, or `value` of a fill)",
            )
        p.add_argument("--by", help="who decides (default: the OS user)")
        p.add_argument("--no-resume", action="store_true", help="only record the decision")
        _common(p)
        _browser(p)

    p = command(
        "answer",
        functools.partial(runcmds.cmd_answer_like, decision="answer"),
        "answer a question (clarification handoff) and continue",
    )
    p.add_argument("target", metavar="RUN|HANDOFF")
    p.add_argument("value", nargs="?", help="the answer: a choice, a value, or a new target selector")
    p.add_argument("--point", metavar="X,Y", help="missing target: the element at these page coordinates")
    p.add_argument("--target", dest="new_target", metavar="SELECTOR", help="missing target: use this one")
    p.add_argument("--by", help="who answers (default: the OS user)")
    p.add_argument("--no-resume", action="store_true", help="only record the answer")
    _common(p)
    _browser(p)

    p = command("runs", infocmds.cmd_runs, "list runs, newest first")
    p.add_argument("--status", action="append", choices=[s.value for s in RunStatus])
    p.add_argument("--limit", type=int, default=30)
    _common(p)

    p = command("show", infocmds.cmd_show, "show a run: steps, evidence, open handoffs")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--verify", action="store_true", help="verify the run's event hash chain (exit 1 if broken)"
    )
    p.add_argument("--events", action="store_true", help="list every event")
    _common(p)

    p = command("cancel", infocmds.cmd_cancel, "cancel a run")
    p.add_argument("run", metavar="RUN")
    _common(p, json_flag=False)

    p = command("pause", infocmds.cmd_pause, "pause a run at the next step boundary")
    p.add_argument("run", metavar="RUN")
    _common(p, json_flag=False)

    p = command("inbox", handoffcmds.cmd_inbox, "list open handoffs: what is waiting for a person")
    _common(p)

    p = command("takeover", handoffcmds.cmd_takeover, "take over a run's page at its next safe point")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--by", help="who takes over (default: the OS user)")
    _common(p, json_flag=False)

    p = command("handback", handoffcmds.cmd_handback, "hand a taken-over run back to the engine")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--by", help="who hands back (default: the OS user)")
    _common(p, json_flag=False)

    p = command("learned", handoffcmds.cmd_learned, "list (or forget) targets people chose for tasks")
    p.add_argument("task", nargs="?", help="only this task")
    p.add_argument("--forget", metavar="TASK", help="forget what was learned for TASK")
    p.add_argument("--step", help="with --forget: only this step")
    _common(p)

    p = command(
        "doctor", infocmds.cmd_doctor, "check browser, database, keyring, credentials and display, with fixes"
    )
    _common(p)

    credentialcmds.register(sub)
    profilecmds.register(sub)
    from app.cli import agentcmds

    agentcmds.register(sub, _common, _browser)
    recordcmds.register(sub)

    p = command("console", consolecmd.cmd_console, "open the desktop console (the default command)")
    _console_flags(p)

    p = command(
        "demo",
        _demo,
        "open the console with the bundled demo site running and the demo tasks queued "
        "(--headless: run them in this terminal instead)",
    )
    p.add_argument("--port", type=int, default=0, help="demo site port (default: any free port)")
    p.add_argument("--headless", action="store_true", help="no console: run the demo here, print outcomes")
    p.add_argument("--no-input", action="store_true", help="--headless: never ask on the terminal")
    _console_flags(p)
    return parser


def _console_flags(p: argparse.ArgumentParser) -> None:
    _common(p)
    _browser(p)
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)


def _demo(args: argparse.Namespace) -> int:
    from app.cli import consolecmd, demo

    if args.headless:
        return demo.cmd_demo(args)
    return consolecmd.cmd_demo_console(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        # No command: the console, on the embedded defaults.
        args = parser.parse_args([*(["--verbose"] if args.verbose else []), "console"])
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except Exception as exc:
        return _report(exc)


def _report(exc: Exception) -> int:
    """An error as the user should see it, and the exit code that goes with it."""
    if isinstance(exc, TaskValidationError):
        print(f"invalid task — nothing was run:\n{exc}", file=sys.stderr)
        return exitcodes.INVALID
    from app.engine.ports import ProfileBusy, SecretUnavailable
    from app.secrets import CredentialError

    # Looked up, not imported: importing app.browser loads Playwright; if the error came from
    # there, the module is loaded already.
    profiles = sys.modules.get("app.browser.profiles")
    bad_profile_name = profiles is not None and isinstance(exc, profiles.ProfileNameError)
    if isinstance(exc, SecretUnavailable | CredentialError) or bad_profile_name:
        # Unknown credential or field, no usable keyring, a value refused: nothing was written.
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    if isinstance(exc, ProfileBusy):
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    if isinstance(exc, LookupError) and not isinstance(exc, (IndexError, KeyError)):
        # Unknown run or handoff ids (IndexError/KeyError are bugs, reported below).
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return exitcodes.INVALID
    if isinstance(exc, FlightdeckError):
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    # Never a silent death: say what happened; the run record stays resumable.
    logging.getLogger("flightdeck").error("internal error", exc_info=exc)
    print("flightdeck hit an internal error (details above); runs stay resumable", file=sys.stderr)
    return exitcodes.FAILED
