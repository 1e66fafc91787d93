"""Hypothesis: user edits interleaved with stream chunks never lose a keystroke.

Invariant: every marker the user typed is in the final buffer, the generated
block is contiguous, and removing the markers gives exactly the expected file.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor

REPLY = "".join(f"item_{i} = {i}\n" for i in range(60))
BEFORE, AFTER = "before = 1\n", "after = 2\n"

actions = st.lists(
    st.tuples(
        st.sampled_from(["top", "bottom", "next_line", "region_start", "blank_above"]),
        st.integers(min_value=0, max_value=40),
    ),
    min_size=1,
    max_size=8,
)


def locate(doc_text: str, kind: str) -> int:
    if kind == "top":
        return 0
    if kind == "bottom":
        return len(doc_text)
    if kind == "next_line":
        return doc_text.index(AFTER)
    if kind == "region_start":
        # Column 0 of the first generated line, or of the prefix line before the first token.
        for first in ("item_0 = 0", "# gen: items"):
            if first in doc_text:
                return doc_text.index(first)
    return doc_text.index(BEFORE)  # blank_above


@settings(
    max_examples=12,
    deadline=None,
    # Each example is a real run (about a second); shrinking would take minutes.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=actions, echo_mode=st.sampled_from(["same", "diff"]), tps=st.sampled_from([80, 300]))
async def test_keystrokes_survive_and_generated_block_stays_whole(
    replay_ollama, typilot_home, plan, echo_mode, tps
) -> None:
    replay_ollama.clear_rules()
    replay_ollama.add_rule(match="items", reply=REPLY, tokens_per_second=tps)
    editor: Editor = await start_editor(server_env(typilot_home, replay_ollama.url))
    try:
        editor.echo_mode = echo_mode
        doc = editor.open("h.py", BEFORE + "# gen: items\n" + AFTER)
        await editor.run_line(doc, 1)
        markers = []
        for number, (kind, delay_ms) in enumerate(plan):
            await asyncio.sleep(delay_ms / 1000)
            marker = f"#u{number}#\n"
            markers.append(marker)
            editor.type_at(doc, locate(doc.text, kind), marker)
        await editor.wait_runs_done()
        final = doc.text
        for marker in markers:
            assert marker in final, (marker, final)
        assert REPLY in final, final
        stripped = final
        for marker in markers:
            stripped = stripped.replace(marker, "", 1)
        assert stripped == BEFORE + REPLY + AFTER
    finally:
        await stop_editor(editor)
