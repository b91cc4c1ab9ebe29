"""Event append throughput on a real SQLite file (WAL, synchronous=FULL).

    .venv/bin/python tests/bench/bench_events.py

(a) one transaction per event via append_event, (b) append_events in batches of 500.
Exits 1 if (b) is below 5 000 events/s (DESIGN.md: the engine writes events in small batches).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.store import Database, append_event, append_events, create_run, verify_events

SINGLE_EVENTS = 400  # ~0.6 s at the ~640/s PLATFORM.md measured for one commit per row
BATCH = 500
BATCHES = 40
MINIMUM_BATCHED = 5_000.0

DATA = {
    "step": 3,
    "action": "click",
    "target": 'role=button name="Save"',
    "requests": [{"method": "POST", "url": "https://example.test/api/save", "status": 200}],
}


def _new_run(db: Database) -> str:
    with db.session() as s, s.begin():
        run = create_run(s, task_name="bench", task_source=None, task_text="", inputs={}, site=None, steps=[])
    return run.id


def one_commit_per_event(db: Database) -> float:
    run_id = _new_run(db)
    start = time.perf_counter()
    for i in range(SINGLE_EVENTS):
        with db.session() as s, s.begin():
            append_event(s, run_id, "bench.single", {**DATA, "i": i})
    return SINGLE_EVENTS / (time.perf_counter() - start)


def batched(db: Database) -> float:
    run_id = _new_run(db)
    start = time.perf_counter()
    for b in range(BATCHES):
        with db.session() as s, s.begin():
            append_events(s, run_id, [("bench.batch", {**DATA, "i": b * BATCH + i}) for i in range(BATCH)])
    rate = BATCH * BATCHES / (time.perf_counter() - start)
    with db.session(readonly=True) as s:
        assert verify_events(s, run_id) is None, "the batched chain does not verify"
    return rate


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            single = one_commit_per_event(db)
            batch = batched(db)
        finally:
            db.dispose()
    print(f"{'mode':<34}{'events':>8}{'events/s':>12}")
    print(f"{'(a) append_event, 1 commit each':<34}{SINGLE_EVENTS:>8}{single:>12,.0f}")
    print(f"{f'(b) append_events, batches of {BATCH}':<34}{BATCH * BATCHES:>8}{batch:>12,.0f}")
    print(f"batched / single: {batch / single:.1f}x")
    if batch < MINIMUM_BATCHED:
        print(f"FAIL: batched rate below {MINIMUM_BATCHED:,.0f} events/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
