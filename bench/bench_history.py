"""History store latency with a full store: insert and list-recent, p50/p99.

    .venv/bin/python -m bench.bench_history [--entries 100000] [--samples 2000] [--prompt-chars 1200]

Fills a fresh history file in a tmp dir with ``--entries`` runs (one bulk transaction),
then times, one call at a time:

* ``HistoryStore.record`` (one run = one commit, as the server does it),
* ``AsyncHistory.record`` awaited from an event loop (worker-thread hop included),
* ``HistoryStore.list_recent(50)`` (what `typilot/history` and `history list` do),
* ``HistoryStore.get`` of a random id,
* retention over the full store and ``purge_all`` (delete + VACUUM + checkpoint), once each.

Prints the figures; nothing is asserted (speed is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import attrs

from bench.stats import percentile
from typilot_lsp.config import HistoryConfig
from typilot_lsp.history import AsyncHistory, HistoryStore, RunRecord

DAY = 86400.0


def report(name: str, samples_s: list[float]) -> None:
    ms = [s * 1000 for s in samples_s]
    print(
        f"{name:<34} n={len(ms):>6}  p50={percentile(ms, 50):8.3f} ms  "
        f"p99={percentile(ms, 99):8.3f} ms  mean={statistics.fmean(ms):8.3f} ms  "
        f"max={max(ms):8.3f} ms"
    )


def make_record(i: int, prompt_chars: int, created_at: float) -> RunRecord:
    words = f"run {i} parses an ISO date and handles the timezone offset "
    return RunRecord(
        source=("editor", "voice", "cli")[i % 3],
        command=("gen", "fix", "sum")[i % 3],
        instruction=f"parse an ISO date, variant {i}",
        language_id="python",
        uri=f"file:///home/user/project/module_{i % 200}.py",
        model="qwen2.5-coder:1.5b",
        host="http://127.0.0.1:11434",
        prompt=(words * (prompt_chars // len(words) + 1))[:prompt_chars],
        response=(words * (prompt_chars // (2 * len(words)) + 1))[: prompt_chars // 2],
        outcome="done" if i % 10 else "cancelled",
        first_token_ms=150.0 + i % 50,
        total_ms=900.0 + i % 300,
        token_count=120 + i % 80,
        created_at=created_at,
    )


def fill(store: HistoryStore, entries: int, prompt_chars: int, now: float) -> float:
    """Bulk-insert ``entries`` runs spread over the last 29 days; returns seconds taken."""
    started = time.perf_counter()
    table = store._table.table  # one transaction: the prefill is setup, not what is measured
    conn = store.db.executable
    batch: list[dict[str, object]] = []
    for i in range(entries):
        created = now - 29 * DAY * (entries - i) / entries
        batch.append(attrs.asdict(make_record(i, prompt_chars, created)))
        if len(batch) == 5000:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    conn.commit()
    return time.perf_counter() - started


async def async_records(path: Path, samples: int, prompt_chars: int) -> list[float]:
    history = AsyncHistory(HistoryConfig(path=str(path)), warn=lambda m: print("WARN", m))
    await history.list_recent(1)  # opened
    times = []
    for i in range(samples):
        rec = make_record(i, prompt_chars, time.time())
        started = time.perf_counter()
        await history.record(rec)
        times.append(time.perf_counter() - started)
    await history.aclose()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument(
        "--prompt-chars", type=int, default=1200, help="prompt size (the response is half)"
    )
    parser.add_argument("--dir", default=None, help="where to put the file (default: a tmp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="typilot-bench-", dir=args.dir) as tmp:
        path = Path(tmp) / "history.sqlite3"
        now = time.time()
        print(f"python {sys.version.split()[0]}, sqlite file in {tmp}")
        with HistoryStore(path, retention_days=30) as store:
            took = fill(store, args.entries, args.prompt_chars, now)
            db_mb = os.path.getsize(path) / 1e6
            wal = Path(f"{path}-wal")
            wal_mb = os.path.getsize(wal) / 1e6 if wal.exists() else 0.0
            print(
                f"prefill: {args.entries} entries in {took:.1f} s (one transaction); "
                f"file {db_mb:.1f} MB + WAL {wal_mb:.1f} MB (prompt {args.prompt_chars} chars)"
            )

            times = []
            for i in range(args.samples):
                rec = make_record(args.entries + i, args.prompt_chars, time.time())
                started = time.perf_counter()
                store.record(rec)
                times.append(time.perf_counter() - started)
            report("HistoryStore.record", times)

            times = []
            for _ in range(args.samples):
                started = time.perf_counter()
                rows = store.list_recent(50)
                times.append(time.perf_counter() - started)
            assert len(rows) == 50
            report("HistoryStore.list_recent(50)", times)

            rng = random.Random(5)
            top = store.count()
            times = []
            for _ in range(args.samples):
                started = time.perf_counter()
                store.get(rng.randint(1, top))
                times.append(time.perf_counter() - started)
            report("HistoryStore.get(id)", times)

        times = asyncio.run(async_records(path, args.samples, args.prompt_chars))
        report("AsyncHistory.record (awaited)", times)

        # Retention a day later: the oldest day's share of the entries goes.
        with HistoryStore(path, retention_days=None, clock=lambda: now + DAY) as store:
            started = time.perf_counter()
            removed = store.purge_older_than(29)
            print(
                f"retention (29 days, clock +1 day): removed {removed} in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
            total = store.count()
            started = time.perf_counter()
            purged = store.purge_all()
            print(
                f"purge_all: {purged} of {total} entries in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms (delete + VACUUM + checkpoint)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
