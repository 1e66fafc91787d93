"""The voice command grammar, on the kind of text Whisper writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from typilot_lsp.voice_agent.grammar import COMMANDS, parse


@pytest.mark.parametrize(
    ("text", "command", "instruction"),
    [
        # gen and its verbs
        ("generate a function that adds two numbers", "gen", "a function that adds two numbers"),
        (" Generate a function that adds two numbers.", "gen", "a function that adds two numbers"),
        ("gen a parser for ISO dates", "gen", "a parser for ISO dates"),
        ("Gen: a parser for ISO dates", "gen", "a parser for ISO dates"),
        ("Gen colon a parser for ISO dates.", "gen", "a parser for ISO dates"),
        ("Jen, a quicksort in Rust.", "gen", "a quicksort in Rust"),
        ("Create a class for a bank account", "gen", "a class for a bank account"),
        ("Write a unit test for the parser!", "gen", "a unit test for the parser"),
        ("make a CLI with argparse", "gen", "a CLI with argparse"),
        ("GENERATE A HELLO WORLD", "gen", "A HELLO WORLD"),
        # fix
        ("fix the off by one error", "fix", "the off by one error"),
        ("Fix the off-by-one error.", "fix", "the off-by-one error"),
        ("Repair the date parsing", "fix", "the date parsing"),
        ("correct the typo in the loop", "fix", "the typo in the loop"),
        ("Fix.", "fix", ""),
        ("fix this", "fix", ""),
        ("Fix this function, please.", "fix", ""),
        ("fix colon handle empty input", "fix", "handle empty input"),
        # sum
        ("summarize this function", "sum", ""),
        ("Summarize this function.", "sum", ""),
        ("Summarise the module in one line", "sum", "the module in one line"),
        ("explain why this loop never ends", "sum", "why this loop never ends"),
        ("Sum.", "sum", ""),
        ("sum up", "sum", ""),
        ("Some.", "sum", ""),
        ("sum colon in French", "sum", "in French"),
        # cancel
        ("cancel", "cancel", ""),
        ("Cancel.", "cancel", ""),
        ("Stop!", "cancel", ""),
        ("stop it", "cancel", ""),
        ("cancel that please", "cancel", ""),
        ("Never mind.", "cancel", ""),
        ("abort the run", "cancel", ""),
        # "stop" that is an instruction
        (
            "stop the server when the queue is empty",
            "gen",
            "stop the server when the queue is empty",
        ),
        # anything else -> gen with the whole utterance
        ("a parser for ISO dates", "gen", "a parser for ISO dates"),
        ("Hello world in Go.", "gen", "Hello world in Go"),
        ("write", "gen", "write"),
        # filler words and politeness
        ("Um, fix the off-by-one error, please", "fix", "the off-by-one error"),
        ("Uh, generate, uh, a parser, um, for dates", "gen", "a parser for dates"),
        ("Okay so summarize this function", "sum", ""),
        ("OK, so, generate a stack class", "gen", "a stack class"),
        ("Please generate a stack class.", "gen", "a stack class"),
        ("Can you fix the bug? Thank you.", "fix", "the bug"),
        ("Could you please write a docstring", "gen", "a docstring"),
        ("Hey Typilot, cancel.", "cancel", ""),
        ("so, um, explain the regex", "sum", "the regex"),
        ("Alright, let's fix the tests", "fix", "the tests"),
        ("please", "gen", "please"),
    ],
)
def test_commands(text: str, command: str, instruction: str) -> None:
    parsed = parse(text)
    assert (parsed.command, parsed.instruction) == (command, instruction)
    assert parsed.text == text.strip()


@pytest.mark.parametrize("text", ["", "   ", "...", "Um.", "uh, um"])
def test_nothing_said_has_no_command(text: str) -> None:
    parsed = parse(text)
    assert parsed.command is None
    assert parsed.instruction == ""


def test_user_commands_are_first_words() -> None:
    parsed = parse("Test the parser with empty input.", user_commands=("test",))
    assert (parsed.command, parsed.instruction) == ("test", "the parser with empty input")
    # Without the user command it is an ordinary gen: instruction.
    assert parse("Test the parser").command == "gen"


def test_to_json_is_the_transcribe_output_shape() -> None:
    assert parse("fix the bug.").to_json() == {
        "text": "fix the bug.",
        "command": "fix",
        "instruction": "the bug",
    }


@given(st.text(max_size=200))
def test_any_text_parses(text: str) -> None:
    parsed = parse(text)
    assert parsed.command in (*COMMANDS, None)
    assert parsed.instruction == parsed.instruction.strip()
    if parsed.command is None:
        assert parsed.instruction == ""
    # The instruction is made of the speaker's own words.
    for word in parsed.instruction.split():
        assert word.strip(",.;:!?") in text


@given(
    st.sampled_from(["generate", "fix", "summarize", "cancel"]),
    st.sampled_from(["", "um ", "uh, ", "okay so ", "please ", "Okay, so, um, "]),
    st.sampled_from(["", ".", "!", "?", ","]),
    st.booleans(),
)
def test_fillers_punctuation_and_case_do_not_change_the_command(
    verb: str, filler: str, punct: str, upper: bool
) -> None:
    target = "that" if verb == "cancel" else "the parser"
    text = f"{filler}{verb} {target}{punct}"
    if upper:
        text = text.upper()
    expected = {"generate": "gen", "fix": "fix", "summarize": "sum", "cancel": "cancel"}[verb]
    if expected == "cancel":
        assert parse(text).command == "cancel"
    else:
        parsed = parse(text)
        assert parsed.command == expected
        assert parsed.instruction.lower() == "the parser"
