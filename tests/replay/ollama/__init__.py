"""A replay server that speaks Ollama's HTTP API, for Typilot LSP's tests.

It is a test instrument, not part of the product. It reproduces the wire protocol described
in ``docs/protocols/ollama-api.md`` (sections 1, 2, 4, 6 and 7): chunked NDJSON streams with
one JSON object per chunk, real status codes and error bodies, mid-stream ``{"error": ...}``
lines, load-only replies, thinking chunks, ``/api/tags`` and ``/api/show`` with local and cloud
models, and realistic pacing (first-token delay, then one token per chunk at the decode rate).
It records an event log (``request``, ``complete``, ``disconnect``, ``stall``, ``error``) that
tests assert on, including how many tokens had been sent when a client hung up.

Use it in-process::

    with ReplayOllama() as ollama:
        ollama.add_rule(match="add two numbers", reply="def add(a, b):\\n    return a + b\\n")
        ...  # point the code under test at ollama.url
        ollama.wait_for("complete")

or as a process (for editor tests), from the repository root::

    python -m tests.replay.ollama --port 0
    # prints: LISTENING http://127.0.0.1:PORT

and script it through the control API (``control.py``). It only ever binds loopback addresses.

The modules, in the order a request meets them: ``connection`` (HTTP/1.1), ``server``
(routes, settings, rules, events), ``wire`` (Go's JSON, durations, body decoding),
``discovery`` (tags, ps, show), ``faults`` (Ollama's errors and refusals), ``rules`` (scripted
replies), ``replies`` (default replies, what a generation streams), ``slots`` (parallel and
queued generations), ``generation`` (the stream itself), ``events`` (the log), ``models``.
"""

from __future__ import annotations

from tests.replay.ollama.faults import BUSY_ERROR, RUNNER_CRASHED_ERROR
from tests.replay.ollama.models import DEFAULT_MODELS
from tests.replay.ollama.replies import default_reply, extract_instruction
from tests.replay.ollama.rules import Rule
from tests.replay.ollama.server import ReplayOllama
from tests.replay.ollama.wire import parse_keep_alive
from tests.replay.tokens import tokenize

__all__ = [
    "BUSY_ERROR",
    "DEFAULT_MODELS",
    "RUNNER_CRASHED_ERROR",
    "ReplayOllama",
    "Rule",
    "default_reply",
    "extract_instruction",
    "parse_keep_alive",
    "tokenize",
]
