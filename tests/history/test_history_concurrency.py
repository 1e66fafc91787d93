"""Several processes write to one history file at once: no error, no lost entry."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

from typilot_lsp.history import HistoryStore

WRITERS = 4
WRITES = 500

# Each writer waits for the go file so that all of them open a fresh file (creating the
# schema) and write at the same time. Half use HistoryStore directly (CLI, apply), half the
# server's AsyncHistory, whose warn callback must never be called.
WRITER = r"""
import asyncio, os, sys, time
from typilot_lsp.config import HistoryConfig
from typilot_lsp.history import AsyncHistory, HistoryStore, RunRecord

path, go, k, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
open(f"{go}.ready{k}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)

def rec(i):
    return RunRecord(source="cli", command="gen", instruction=f"w{k}-{i}", language_id="python",
                     uri=f"file:///w{k}.py", model="m", host="h", prompt=f"p{k}-{i}",
                     response=f"r{k}-{i}", outcome="done", token_count=i)

if mode == "sync":
    store = HistoryStore(path)
    for i in range(n):
        store.record(rec(i))
    store.close()
else:
    warnings = []
    async def main():
        history = AsyncHistory(HistoryConfig(path=path), warnings.append)
        await asyncio.gather(*(history.record(rec(i)) for i in range(n)))
        await history.aclose()
    asyncio.run(main())
    if warnings:
        sys.exit("warned: " + " | ".join(warnings))
print("ok", k)
"""


def test_four_processes_write_500_each_without_error_or_loss(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared" / "history.sqlite3"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(path),
                str(go),
                str(k),
                str(WRITES),
                "sync" if k % 2 == 0 else "async",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(WRITERS)
    ]
    deadline = time.monotonic() + 120
    while not all(go.with_name(f"go.ready{k}").exists() for k in range(WRITERS)):
        assert time.monotonic() < deadline, "writers did not start"
        assert all(p.poll() is None for p in procs), "a writer exited early"
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    for k, (code, out, err) in enumerate(results):
        assert code == 0, f"writer {k} failed ({code}): {err}"
        assert out.strip() == f"ok {k}"
        assert "locked" not in err and "Traceback" not in err, err

    with HistoryStore(path, retention_days=None) as store:
        entries = list(store.export())
    assert len(entries) == WRITERS * WRITES
    assert {e["instruction"] for e in entries} == {
        f"w{k}-{i}" for k in range(WRITERS) for i in range(WRITES)
    }
    assert all(e["response"] == "r" + e["instruction"][1:] for e in entries)
    assert len({e["id"] for e in entries}) == WRITERS * WRITES
