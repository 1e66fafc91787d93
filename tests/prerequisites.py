"""The one rule for tests that need something outside Python, and the tally of what ran.

A test that needs a tool, a model, a capability or a package the suite cannot provide by itself
(Neovim, Emacs, PulseAudio, the Whisper model, llama-server, root and network namespaces, strace,
a tmpfs...) says so through this module:

- ``require(problem, how)``: ``problem`` is None when everything is there, else what is missing;
- ``require_tools(*names, how=...)``: executables that must be on PATH;
- ``needs(problem, how)``: the same as a mark, for a whole module or test (``pytestmark``).

Under CI (``CI`` set to ``true``, ``1`` or ``yes``) a missing prerequisite **fails** the test with a
message that names it: CI installs everything (scripts/test.sh), so a missing piece there is a
broken CI, not a reason to prove less. Elsewhere the test is skipped with the command that gets
the piece. Never call ``pytest.skip`` or ``pytest.importorskip`` for a prerequisite directly.

The root conftest also counts every outcome; at the end of a run it prints how many tests ran and
were skipped, and why, and under CI it fails the run if anything was skipped, however the skip
came about. With ``TYPILOT_TEST_TALLY`` set, it appends the tally as one JSON line to that file
(scripts/test.sh collects every suite's there); ``python -m tests.prerequisites summary FILE``
prints the lot, ``python -m tests.prerequisites tap FILE`` adds a node --test TAP report to it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

INSTALL_TEST_DEPS = "run `bash scripts/install-test-deps.sh` (as root)"
PIP_TEST_EXTRAS = "run `pip install -e '.[voice,test]'` in the test environment"
TALLY_ENV = "TYPILOT_TEST_TALLY"
SUITE_ENV = "TYPILOT_TEST_SUITE"
MARK = "prerequisite"


def under_ci() -> bool:
    """True when CI is set to true, 1 or yes (any case): every test must then run."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, how: str) -> NoReturn:
    """`what` is not available here: fail under CI, skip elsewhere. `how` says how to get it."""
    if under_ci():
        pytest.fail(
            f"missing prerequisite under CI: {what} ({how}); CI must run every test",
            pytrace=False,
        )
    pytest.skip(f"missing prerequisite: {what} ({how})")


def require(problem: str | None, how: str = INSTALL_TEST_DEPS) -> None:
    """Go on when `problem` is None; else `missing(problem, how)`."""
    if problem is not None:
        missing(problem, how)


def absent_tools(*tools: str) -> list[str]:
    """The executables of `tools` that are not on PATH."""
    return [tool for tool in tools if shutil.which(tool) is None]


def require_tools(*tools: str, how: str = INSTALL_TEST_DEPS) -> None:
    """Every executable in `tools` must be on PATH."""
    absent = absent_tools(*tools)
    if absent:
        missing(f"{', '.join(absent)} not on PATH", how)


def require_root(why: str) -> None:
    """The test needs root (CAP_SYS_ADMIN and friends): `why` says what for."""
    if os.geteuid() != 0:
        missing(f"root, to {why}", "run the tests as root, as CI and the dev container do")


def needs(problem: str | None, how: str = INSTALL_TEST_DEPS) -> pytest.MarkDecorator:
    """A mark that applies `require(problem, how)` before each test it marks."""
    return getattr(pytest.mark, MARK)(problem, how)


def apply_marks(item: pytest.Item) -> None:
    """The `needs` marks of `item`, applied (the root conftest calls this at setup)."""
    for mark in item.iter_markers(MARK):
        require(*mark.args)


# -- the tally ---------------------------------------------------------------------------------


class Tally:
    """Outcomes of one pytest session, counted from its reports."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.skips: Counter[str] = Counter()

    def add(self, report: pytest.TestReport) -> None:
        """Count a test's outcome once: from its call, or from a setup that did not pass."""
        if (report.when == "setup" and report.failed) or (
            report.when == "teardown" and report.failed
        ):
            self.outcomes["errors"] += 1
        elif hasattr(report, "wasxfail") and (report.when == "call" or report.skipped):
            self.outcomes["xfailed" if report.skipped else "xpassed"] += 1
            if report.skipped:
                self.skips[f"xfail: {report.wasxfail}"] += 1
        elif report.skipped:
            self.outcomes["skipped"] += 1
            self.skips[_skip_reason(report)] += 1
        elif report.when == "call":
            self.outcomes[report.outcome] += 1

    def as_json(self, suite: str) -> dict[str, Any]:
        return {"suite": suite, "outcomes": dict(self.outcomes), "skips": dict(self.skips)}


RAN = ("passed", "failed", "xpassed")
NOT_RUN = ("skipped", "xfailed")


def count(entry: dict[str, Any], kinds: Sequence[str]) -> int:
    """How many tests of `entry` (Tally.as_json) ended in one of `kinds`."""
    return sum(int(entry["outcomes"].get(kind, 0)) for kind in kinds)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def summary_lines(entry: dict[str, Any]) -> list[str]:
    """`entry` (Tally.as_json) as the lines the end of a run prints."""
    outcomes = entry["outcomes"]
    counts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()) if n)
    lines = [f"{entry['suite']}: {count(entry, RAN)} tests ran ({counts or 'nothing'})"]
    skipped = count(entry, NOT_RUN)
    if skipped:
        lines.append(f"  {skipped} did not run:")
        lines.extend(f"    {n} x {reason}" for reason, n in sorted(entry["skips"].items()))
    return lines


def record(entry: dict[str, Any]) -> None:
    """Append `entry` to $TYPILOT_TEST_TALLY when scripts/test.sh collects tallies."""
    path = os.environ.get(TALLY_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


# -- the command line: scripts/test.sh and scripts/test-vscode.sh ------------------------------


def tap_tally(lines: Iterable[str], suite: str) -> dict[str, Any]:
    """The tally of a node --test TAP report: its `# pass/fail/skipped/todo` totals, and the
    reason of every skipped or todo test (`ok N - name # SKIP reason`)."""
    totals: dict[str, int] = {}
    skips: Counter[str] = Counter()
    for line in lines:
        text = line.strip()
        for directive in ("# SKIP", "# TODO"):
            if text.startswith("ok ") and directive in text:
                name, _, reason = text.partition(directive)
                test = name.split(" - ", 1)[-1].strip()
                skips[f"{reason.strip() or 'no reason given'} ({test})"] += 1
        parts = text.split()
        if len(parts) == 3 and parts[0] == "#" and parts[2].isdigit():
            totals[parts[1]] = int(parts[2])
    outcomes = {
        "passed": totals.get("pass", 0),
        "failed": totals.get("fail", 0) + totals.get("cancelled", 0),
        "skipped": totals.get("skipped", 0) + totals.get("todo", 0),
    }
    return {"suite": suite, "outcomes": outcomes, "skips": dict(skips)}


def main(argv: Sequence[str]) -> int:
    """`summary FILE`: print every suite's tally, exit 1 under CI if anything did not run.
    `tap FILE [SUITE]`: add a node --test TAP report's tally to $TYPILOT_TEST_TALLY, print it,
    exit 1 under CI if anything was skipped."""
    if len(argv) >= 2 and argv[0] == "tap":
        suite = argv[2] if len(argv) > 2 else "node --test"
        entry = tap_tally(Path(argv[1]).read_text(encoding="utf-8").splitlines(), suite)
        record(entry)
        entries = [entry]
    elif len(argv) == 2 and argv[0] == "summary":
        path = Path(argv[1])
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        print("\n==> what ran (every suite)")
        if not entries:
            print("no suite reported a tally")
    else:
        print(main.__doc__, file=sys.stderr)
        return 2
    for entry in entries:
        print("\n".join(summary_lines(entry)))
    skipped = sum(count(e, NOT_RUN) for e in entries)
    if skipped and under_ci():
        print(f"FAILED: {skipped} test(s) did not run under CI (CI must run every test)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
