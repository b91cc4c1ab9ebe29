"""The crash matrix (G1, G3): a real `flightdeck` process SIGKILLed before and after every durable
commit it makes (`app/store/commits.py` names them), then resumed by an operator who answers
what is asked by looking at the site. Judged by the hostile site's own counts.

The points are not chosen here: a clean run of the task traces every commit of each process
(`FLIGHTDECK_COMMIT_TRACE`), and each traced commit becomes two cases, `@before` (it never
landed) and `@after` (it did, and nothing after it). Recovery gets the same treatment: after a
crash that leaves an action in doubt, the resuming process is traced, and killed at each of
the commits it makes while it settles that action.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from app.store.commits import UNNUMBERED
from tests.helpers.cli import ROOT, Cli, Result
from tests.helpers.postgres import PostgresCluster

TASK = """
name: crash-matrix
site: {site}
policy: {{screenshots: auto}}
login:
  at_start: true
  steps:
    - goto: /login
    - fill: {{target: {{label: Username}}, value: demo}}
    - fill: {{target: {{label: Password}}, value: demo-password}}
    - click: {{role: button, name: Sign in}}
steps:
  - goto: /issues/new
  - fill: {{target: {{label: Title}}, value: Printer jam}}
  - id: create
    click: {{role: button, name: Create issue}}
    effect: write
    expect:
      url: "re:/issues/\\\\d+$"
      after_reload: {{text: {{target: {{test_id: issue-title}}, equals: Printer jam}}}}
  - goto: /items
  - click: {{test_id: delete-1}}
    effect: read
  - id: delete
    click: {{role: button, name: "Yes, delete"}}
    effect: irreversible
    expect:
      after_reload: {{goto: /items, hidden: {{text: Invoice 1001, exact: true}}}}
"""

# The commits a resuming process makes while it settles an action in doubt, up to and with
# the one that decides it (completes the step, asks a person, or opens the next attempt).
DELETE_STEP = 5

DECIDING = ("book:StepBook.complete", "desk:HandoffDesk.open", "attempts:StepExecutor._attempt")


@dataclass(frozen=True)
class Case:
    phase: str  # "run" (the first process), "approve" (the one the approval continues in),
    #             or "recovery after PHASE POINT" (the process resuming after that crash)
    point: str  # NAME#N
    when: str  # before | after
    carries: str = ""
    first: tuple[str, str, str] | None = None  # recovery: the crash before it (phase, point, when)

    @property
    def crash(self) -> str:
        return f"{self.point}@{self.when}"


@dataclass
class Outcome:
    case: Case
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)


def trace(lines: str) -> list[tuple[str, str]]:
    """The commits a traced process made, in order. Lease heartbeats are left out: they come
    when the clock says (a slower machine has more of them), and change only a lease's expiry,
    which the crash itself makes moot."""
    points = []
    for line in lines.splitlines():
        name, _, carries = line.partition("\t")
        if name and name.split("#")[0] not in UNNUMBERED:
            points.append((name, carries))
    return points


class World:
    """One lane of the matrix: a hostile site, a Flightdeck home and database, the task file.
    `save()`/`load()` put both the site and the store back where a case starts from."""

    def __init__(self, cli: Cli, site: Any, store: Any, task: Path) -> None:
        self.cli, self.site, self.store, self.task = cli, site, store, task

    def save(self) -> Any:
        return self.store.save(), self.site.snapshot()

    def load(self, saved: Any) -> None:
        stored, site = saved
        self.store.load(stored)
        self.site.restore(site)


class SqliteStore:
    """The home directory (database file, its WAL, artifacts) copied aside and back."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.url = f"sqlite:///{home / 'flightdeck.db'}"
        self._saved = 0
        home.mkdir(parents=True)

    def save(self) -> Path:
        self._saved += 1
        copy = self.home.with_name(f"{self.home.name}-saved{self._saved}")
        shutil.copytree(self.home, copy)
        return copy

    def load(self, saved: Path) -> None:
        shutil.rmtree(self.home)
        shutil.copytree(saved, self.home)

    def close(self) -> None:
        pass


class PostgresStore:
    """The database copied with CREATE DATABASE … TEMPLATE, and the home directory beside it."""

    def __init__(self, cluster: PostgresCluster, home: Path) -> None:
        self.cluster = cluster
        self.home = home
        self.name = f"fd_{uuid4().hex[:16]}"
        self.url = cluster.create_database(self.name)
        self._saved: list[str] = []
        home.mkdir(parents=True)

    def save(self) -> tuple[str, Path]:
        name = f"{self.name}_s{len(self._saved)}"
        self.cluster.create_database(name, template=self.name)
        self._saved.append(name)
        copy = self.home.with_name(f"{self.home.name}-{name}")
        shutil.copytree(self.home, copy)  # the artifacts the database refers to
        return name, copy

    def load(self, saved: tuple[str, Path]) -> None:
        name, copy = saved
        self.cluster.drop_database(self.name)
        self.cluster.create_database(self.name, template=name)
        shutil.rmtree(self.home)
        shutil.copytree(copy, self.home)

    def close(self) -> None:
        for name in [self.name, *self._saved]:
            self.cluster.drop_database(name)


class Matrix:
    """Runs the cases for one database backend. `new_world(dir)` gives a fresh World."""

    def __init__(self, new_world: Callable[[Path], Any], tmp: Path) -> None:
        self.new_world = new_world
        self.tmp = tmp
        self._n = 0
        self._lock = threading.Lock()
        self._judged: dict[Any, Future[Outcome]] = {}

    # ------------------------------------------------------------------ enumerating
    def cases(self) -> list[Case]:
        """Every commit of a clean run (both processes) × before/after, and every commit of
        recovery after each crash that leaves an action in doubt."""
        with self.world() as w:
            run_points = trace(self._traced(w, "run", ["run", str(w.task)]))
            run_id = self._run_ids(w.cli)[-1]
            approve_points = trace(self._traced(w, "approve", ["approve", run_id]))
            assert w.site.truth()["deletions"] == {"1": 1}
        found = [Case("run", p, w, c) for p, c in run_points for w in ("before", "after")]
        found += [Case("approve", p, w, c) for p, c in approve_points for w in ("before", "after")]
        for doubt in self._in_doubt(run_points, approve_points):
            found += self._recovery_cases(doubt)
        return found

    def _in_doubt(
        self, run_points: list[tuple[str, str]], approve_points: list[tuple[str, str]]
    ) -> list[tuple[str, str, str]]:
        """Crashes after which an action may have fired and its outcome is not recorded: right
        after an intent committed (the action then went out or not), and right before its
        outcome did (it went out), for the write and the irreversible action."""
        doubts = []
        for phase, points in (("run", run_points), ("approve", approve_points)):
            for point, carries in points:
                if "action.intent" in carries.split(","):
                    doubts.append((phase, point, "after"))
                if "action.done" in carries.split(","):
                    doubts.append((phase, point, "before"))
        return doubts

    def _recovery_cases(self, doubt: tuple[str, str, str]) -> list[Case]:
        phase, point, when = doubt
        with self.world() as w:
            run_id = self._crash_at(w, phase, f"{point}@{when}")
            traced = trace(self._traced(w, "resume", ["resume", run_id]))
        recovering: list[tuple[str, str]] = []
        for name, carries in traced:
            recovering.append((name, carries))
            if name.split("#")[0] in DECIDING:
                break
        label = f"recovery after {phase} {point}@{when}"
        return [Case(label, p, w, c, first=doubt) for p, c in recovering for w in ("before", "after")]

    # ------------------------------------------------------------------ running
    def run_all(self, cases: list[Case], workers: int, lane_size: int = 7) -> list[Outcome]:
        """Cases that start from the same point share a lane: the point is reached once, saved,
        and put back before each case (the site's state and the store's)."""
        lanes: list[list[Case]] = []
        for phase in dict.fromkeys(c.phase for c in cases):
            group = [c for c in cases if c.phase == phase]
            lanes += [group[i : i + lane_size] for i in range(0, len(group), lane_size)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = [outcome for lane in pool.map(self._lane, lanes) for outcome in lane]
        order = {c: i for i, c in enumerate(cases)}
        return sorted(done, key=lambda o: order[o.case])

    def _lane(self, lane: list[Case]) -> list[Outcome]:
        with self.world() as w:
            first = lane[0]
            if first.first is not None:
                phase, point, when = first.first
                self._crash_at(w, phase, f"{point}@{when}")
            elif first.phase == "approve":
                self._waiting_for_approval(w)
            else:
                w.cli("runs")  # a migrated, empty store
            start = w.save()
            outcomes = []
            for case in lane:
                w.load(start)
                try:
                    outcomes.append(self._run(case, w))
                except Exception as exc:  # one case's surprise fails that case, not the matrix
                    outcomes.append(Outcome(case, False, f"error: {type(exc).__name__}: {exc}", [str(exc)]))
            return outcomes

    def _run(self, case: Case, w: World) -> Outcome:
        if case.first is not None:
            run_id = self._run_ids(w.cli)[-1]
            died = self._with_crash(w, case.crash, "resume", run_id)
        elif case.phase == "approve":
            died = self._with_crash(w, case.crash, "approve", self._run_ids(w.cli)[-1])
        else:
            died = self._with_crash(w, case.crash, "run", str(w.task))
        if died.code != -signal.SIGKILL:
            return Outcome(case, False, f"not reached (exit {died.code})", [died.out[-400:], died.err[-800:]])
        ids = self._run_ids(w.cli)
        # Crashes that leave the same record and the same server state are the same case to
        # resume from: it is judged once (both are still killed, and listed).
        key = crash_state(w.cli, w.site, ids[-1] if ids else None)
        with self._lock:
            judged = self._judged.get(key)
            mine = judged is None
            if judged is None:
                judged = self._judged[key] = Future()
        if not mine:
            same = judged.result()
            return Outcome(case, same.ok, f"as {same.case.crash}: {same.summary}", same.problems)
        try:
            asked = self._operate(w, ids[-1] if ids else None)
            outcome = self._judge(case, w, asked)
        except BaseException as exc:
            judged.set_exception(exc)
            raise
        judged.set_result(outcome)
        return outcome

    def _operate(self, w: World, run_id: str | None) -> list[str]:
        """What a person does after the crash: start the task again if no run was recorded,
        resume it, approve what is asked, and answer "did it happen?" by looking at the site."""
        cli, site = w.cli, w.site
        did: list[str] = []
        if run_id is None:
            did.append("no run recorded: started again")
            cli("run", str(w.task))
            run_id = self._run_ids(cli)[-1]
        for _ in range(10):
            shown = cli("show", run_id, "--json").json()
            if shown["status"] in ("succeeded", "failed", "cancelled"):
                return did
            if shown["open_handoffs"]:
                handoff = shown["open_handoffs"][0]
                kind = handoff["kind"]
                if kind == "verification":
                    truth = site.truth()
                    happened = (
                        "1" in truth["deletions"]
                        if handoff["step_index"] == DELETE_STEP
                        else any(i["title"] == "Printer jam" for i in truth["issues"])
                    )
                    did.append(f"verification asked (answered {'done' if happened else 'not done'})")
                    cli("approve" if happened else "deny", handoff["id"])
                elif kind == "approval":
                    did.append("approval")
                    cli("approve", handoff["id"])
                else:
                    did.append(f"{kind} asked: {handoff.get('question', '')[:80]}")
                    cli("deny", handoff["id"])
            else:
                did.append("resumed")
                cli("resume", run_id)
        did.append("did not finish")
        return did

    def _judge(self, case: Case, w: World, did: list[str]) -> Outcome:
        truth = w.site.truth()
        problems = []
        ids = self._run_ids(w.cli)
        final = w.cli("show", ids[-1], "--json", "--verify").json() if ids else {}
        if final.get("status") != "succeeded":
            problems.append(f"run ended {final.get('status')}: {final.get('error')}")
        stored = [i for i in truth["issues"] if i["title"] == "Printer jam"]
        if len(stored) != 1:
            problems.append(f"the issue was stored {len(stored)} times")
        if truth["issue_posts"] != 1:
            problems.append(f"the write was sent {truth['issue_posts']} times")
        if truth["deletions"] != {"1": 1}:
            problems.append(f"the irreversible delete was sent {truth['deletions'].get('1', 0)} times")
        if final.get("verified") is not True:
            problems.append("the record does not verify")
        if any(d.startswith(("did not finish", "clarification", "takeover", "recovery")) for d in did):
            problems.append("; ".join(did))
        summary = ", ".join(_collapse(did)) or "nothing to do"
        return Outcome(case, not problems, summary, problems)

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def world(self) -> Iterator[World]:
        with self._lock:
            self._n += 1
            n = self._n
        where = self.tmp / f"lane{n}"
        where.mkdir(parents=True)
        with self.new_world(where) as w:
            yield w

    def _traced(self, w: World, name: str, args: list[str]) -> str:
        out = w.task.with_name(f"trace-{name}.txt")
        result = self._env(w.cli, {"FLIGHTDECK_COMMIT_TRACE": str(out)}, *args)
        assert result.code in (0, 3), result.out + result.err
        return out.read_text()

    def _with_crash(self, w: World, crash: str, *args: str) -> Result:
        return self._env(w.cli, {"FLIGHTDECK_CRASH_AT_COMMIT": crash}, *args)

    def _env(self, cli: Cli, extra: dict[str, str], *args: str) -> Result:
        try:
            proc = subprocess.run(
                cli.argv(*args),
                env={**cli.env, **extra},
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
            )
        except subprocess.TimeoutExpired as exc:
            return Result(-1, str(exc.stdout), str(exc.stderr))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def _waiting_for_approval(self, w: World) -> str:
        first = w.cli("run", str(w.task), "--json")
        assert first.code == 3, first.out + first.err
        return str(first.json()["run_id"])

    def _crash_at(self, w: World, phase: str, crash: str) -> str:
        run_id = self._waiting_for_approval(w) if phase == "approve" else ""
        died = self._with_crash(w, crash, *(["approve", run_id] if run_id else ["run", str(w.task)]))
        assert died.code == -signal.SIGKILL, died.out + died.err
        return self._run_ids(w.cli)[-1]

    def _run_ids(self, cli: Cli) -> list[str]:
        runs = cli("runs", "--json").json()
        return [r["run_id"] for r in sorted(runs, key=lambda r: r["created_at"])]


def _collapse(did: list[str]) -> list[str]:
    out: list[str] = []
    for d in did:
        if out and out[-1].split(" ×")[0] == d:
            n = int(out[-1].split(" ×")[1]) + 1 if " ×" in out[-1] else 2
            out[-1] = f"{d} ×{n}"
        else:
            out.append(d)
    return out


def crash_state(cli: Cli, site: Any, run_id: str | None) -> Any:
    """What a resuming process starts from: the run's durable state as recovery reads it (not
    the events' times and ids) and what the server has."""
    from sqlalchemy import select

    from app.store import Database
    from app.store.models import Attempt, Handoff, Run, StepRecord

    truth = site.truth()
    server = (
        truth["issue_posts"],
        len([i for i in truth["issues"] if i["title"] == "Printer jam"]),
        tuple(sorted(truth["deletions"].items())),
    )
    if run_id is None:
        return ("no run", server)
    db = Database(cli.db_url, migrate=False)
    try:
        with db.session(readonly=True) as s:
            run = s.get(Run, run_id)
            assert run is not None
            cp = run.checkpoint or {}
            steps = sorted(
                (r.index, str(r.status))
                for r in s.scalars(select(StepRecord).where(StepRecord.run_id == run_id))
            )
            tried = sorted(
                (a.step_index, a.number, a.intent_at is not None, str(a.outcome))
                for a in s.scalars(select(Attempt).where(Attempt.run_id == run_id))
            )
            asked = sorted(
                str((h.kind, h.step_index, str(h.status), (h.answer or {}).get("decision")))
                for h in s.scalars(select(Handoff).where(Handoff.run_id == run_id))
            )
            return (str(run.status), cp.get("next_step"), tuple(steps), tuple(tried), tuple(asked), server)
    finally:
        db.dispose()


def render(title: str, outcomes: list[Outcome]) -> str:
    rows = [f"{title}: {sum(o.ok for o in outcomes)}/{len(outcomes)} cases hold"]
    width = max((len(f"{o.case.point}@{o.case.when}") for o in outcomes), default=10)
    phase = None
    for o in outcomes:
        if o.case.phase != phase:
            phase = o.case.phase
            rows.append(f"  [{phase}]")
        mark = "✓" if o.ok else "✗"
        carries = f"  ({o.case.carries})" if o.case.carries and o.case.when == "before" else ""
        rows.append(f"  {mark} {o.case.point + '@' + o.case.when:<{width}}  {o.summary}{carries}")
        for p in o.problems:
            rows.append(f"      ! {p}")
    return "\n".join(rows)


@contextmanager
def sqlite_world(where: Path) -> Iterator[World]:
    with hostile_site() as site:
        store = SqliteStore(where / "home")
        cli = Cli(store.home)
        task = where / "task.yaml"
        task.write_text(TASK.format(site=site.base_url))
        yield World(cli, site, store, task)


@contextmanager
def postgres_world(cluster: PostgresCluster, where: Path) -> Iterator[World]:
    store = PostgresStore(cluster, where / "home")
    cli = Cli(store.home)
    cli.db_url = store.url
    cli.env["FLIGHTDECK_DATABASE_URL"] = store.url
    try:
        with hostile_site() as site:
            task = where / "task.yaml"
            task.write_text(TASK.format(site=site.base_url))
            yield World(cli, site, store, task)
    finally:
        store.close()


WORKERS = 3  # lanes at once: each is mostly waiting on its browser and its site
# Both processes' commits and recovery's (104 when this was written): never a chosen few.
MIN_CASES = 100


def check(
    title: str, new_world: Callable[[Path], Any], tmp: Path, record: Callable[[str, object], None]
) -> None:
    """Enumerate, run and judge the whole matrix; its table goes to the end of the test run."""
    matrix = Matrix(new_world, tmp)
    cases = matrix.cases()
    outcomes = matrix.run_all(cases, WORKERS)
    report = render(title, outcomes)
    record("crash_matrix", report)  # printed at the end of the run (tests/conftest.py)
    assert len(cases) >= MIN_CASES, report
    assert all(o.ok for o in outcomes), report


@contextmanager
def hostile_site() -> Iterator[Any]:
    """A fresh hostile site that wants a sign-in, without the cookie banner (so that every
    attempt is a real dispatch and the counts are exact)."""
    from app.cli.demo import load_site_module

    site = load_site_module().HostileSite(delay_ms=400)
    site.start(host="127.0.0.1", port=0)
    site.configure(cookie_banner=False, require_login=True)
    try:
        yield site
    finally:
        site.stop()
