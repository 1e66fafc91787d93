"""The replies the server makes up when no rule scripts one: plausible, deterministic code for
the instruction it finds in the prompt (a ``gen:`` line, Typilot's ``Task:`` line, or the last
line), in the language the prompt names; the corrected code back for a ``fix:``; one sentence
for a ``sum:``. And ``plan_reply``: what a generation streams, after the request's ``stop`` and
``num_predict``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.replay.ollama.faults import RUNNER_CRASHED_ERROR
from tests.replay.ollama.rules import Rule
from tests.replay.tokens import tokenize

_PREFIX_RE = re.compile(
    r"(?im)^[ \t]*(?:#+|//+|--+|;+|%+|/\*+|\*|<!--)?[ \t]*(gen|fix|sum)[ \t]*:[ \t]*(.+?)[ \t]*(?:\*/|-->)?[ \t]*$"
)
_INSTRUCTION_RE = re.compile(r"(?im)^[ \t]*(?:instruction|task|request)[ \t]*:[ \t]*(.+?)[ \t]*$")
_STOPWORDS = frozenset(
    """a an the that which who to of for and or in on with from by me my please write create make
    implement define code function functions method def fn func python javascript typescript lua
    rust go golang program snippet small simple new given returns return it is are be this some
    using into as can should would could i you we want need let lets let's take takes if
    whether""".split()  # noqa: SIM905 - a word list reads better as text
)
_LANG_HINTS: tuple[tuple[str, str], ...] = (
    ("typescript", r"\btypescript\b|```ts\b|\.tsx?\b"),
    ("javascript", r"\bjavascript\b|```js\b|\.jsx?\b|\bnode\.?js\b"),
    ("lua", r"\blua\b|\.lua\b"),
    ("rust", r"\brust\b|```rs\b|\.rs\b"),
    ("go", r"\bgolang\b|```go\b|\.go\b|\bin go\b"),
    ("python", r"\bpython\b|```py|\.py\b"),
)


def extract_instruction(text: str) -> str:
    """The instruction inside a prompt: a ``gen:``/``fix:``/``sum:`` line, a ``Task:`` /
    ``Instruction:`` line (Typilot's own prompt: ``Task: write the python code that belongs at
    <<<CURSOR>>>: add two numbers. Reply with only that code.``), else the last non-empty line."""
    found = _PREFIX_RE.findall(text)
    if found:
        kind, rest = found[-1]
        return f"{kind.lower()}: {rest}" if kind.lower() != "gen" else rest
    found2 = _INSTRUCTION_RE.findall(text)
    if found2:
        task = str(found2[-1])
        task = re.sub(r"(?i)^write the .*? code that belongs at \S+?:\s*", "", task)
        task = re.sub(r"(?i)\.?\s*Reply (?:with|in) .*$", "", task)
        return task.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


_LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "typescript",
    "lua": "lua",
    "rust": "rust",
    "go": "go",
}


def _detect_language(text: str) -> str:
    header = re.search(r"(?im)^language:\s*([\w+-]+)", text)
    if header and header.group(1).lower() in _LANGUAGE_IDS:
        return _LANGUAGE_IDS[header.group(1).lower()]
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for lang, pattern in _LANG_HINTS:
        m = re.search(pattern, lowered)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), lang)
    return best[1] if best else "python"


def _words(instruction: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z0-9]*", instruction.lower()) if w not in _STOPWORDS]


# keyword -> (params, python body, js body, lua body)
_BODIES: tuple[tuple[tuple[str, ...], tuple[str, ...], str, str, str], ...] = (
    (("add", "adds", "sum", "plus"), ("a", "b"), "return a + b", "return a + b;", "return a + b"),
    (
        ("subtract", "subtracts", "difference", "minus"),
        ("a", "b"),
        "return a - b",
        "return a - b;",
        "return a - b",
    ),
    (
        ("multiply", "multiplies", "product", "times"),
        ("a", "b"),
        "return a * b",
        "return a * b;",
        "return a * b",
    ),
    (
        ("divide", "divides", "quotient"),
        ("a", "b"),
        'if b == 0:\n    raise ZeroDivisionError("b must not be zero")\nreturn a / b',
        'if (b === 0) {\n  throw new RangeError("b must not be zero");\n}\nreturn a / b;',
        'assert(b ~= 0, "b must not be zero")\nreturn a / b',
    ),
    (
        ("reverse", "reverses", "reversed"),
        ("text",),
        "return text[::-1]",
        'return [...text].reverse().join("");',
        "return text:reverse()",
    ),
    (
        ("fibonacci", "fib"),
        ("n",),
        "a, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nreturn a",
        "let [a, b] = [0, 1];\nfor (let i = 0; i < n; i++) {\n  [a, b] = [b, a + b];\n}\nreturn a;",
        "local a, b = 0, 1\nfor _ = 1, n do\n  a, b = b, a + b\nend\nreturn a",
    ),
    (
        ("factorial",),
        ("n",),
        "result = 1\nfor i in range(2, n + 1):\n    result *= i\nreturn result",
        "let result = 1;\nfor (let i = 2; i <= n; i++) {\n  result *= i;\n}\nreturn result;",
        "local result = 1\nfor i = 2, n do\n  result = result * i\nend\nreturn result",
    ),
    (
        ("prime", "primes"),
        ("n",),
        "if n < 2:\n    return False\ni = 2\nwhile i * i <= n:\n    if n % i == 0:\n        return False\n    i += 1\nreturn True",
        "if (n < 2) return false;\nfor (let i = 2; i * i <= n; i++) {\n  if (n % i === 0) return false;\n}\nreturn true;",
        "if n < 2 then\n  return false\nend\nlocal i = 2\nwhile i * i <= n do\n  if n % i == 0 then\n    return false\n  end\n  i = i + 1\nend\nreturn true",
    ),
    (
        ("sort", "sorts", "sorted"),
        ("items",),
        "return sorted(items)",
        "return [...items].sort((x, y) => x - y);",
        "local copy = { table.unpack(items) }\ntable.sort(copy)\nreturn copy",
    ),
    (
        ("max", "maximum", "largest", "biggest"),
        ("items",),
        "return max(items)",
        "return Math.max(...items);",
        "return math.max(table.unpack(items))",
    ),
    (
        ("min", "minimum", "smallest"),
        ("items",),
        "return min(items)",
        "return Math.min(...items);",
        "return math.min(table.unpack(items))",
    ),
    (
        ("palindrome",),
        ("text",),
        "cleaned = [c.lower() for c in text if c.isalnum()]\nreturn cleaned == cleaned[::-1]",
        'const cleaned = text.toLowerCase().replace(/[^a-z0-9]/g, "");\nreturn cleaned === [...cleaned].reverse().join("");',
        'local cleaned = text:lower():gsub("[^%w]", "")\nreturn cleaned == cleaned:reverse()',
    ),
    (
        ("hello", "greet", "greeting", "greets"),
        ("name",),
        'return f"Hello, {name}!"',
        "return `Hello, ${name}!`;",
        'return "Hello, " .. name .. "!"',
    ),
    (
        ("count", "counts", "words"),
        ("text",),
        "return len(text.split())",
        "return text.split(/\\s+/).filter(Boolean).length;",
        'local n = 0\nfor _ in text:gmatch("%S+") do\n  n = n + 1\nend\nreturn n',
    ),
    (
        ("upper", "uppercase", "capitalize", "shout"),
        ("text",),
        "return text.upper()",
        "return text.toUpperCase();",
        "return text:upper()",
    ),
    (
        ("average", "mean", "avg"),
        ("items",),
        'if not items:\n    raise ValueError("items must not be empty")\nreturn sum(items) / len(items)',
        'if (items.length === 0) throw new RangeError("items must not be empty");\nreturn items.reduce((s, x) => s + x, 0) / items.length;',
        "local total = 0\nfor _, x in ipairs(items) do\n  total = total + x\nend\nreturn total / #items",
    ),
)


def _indent(body: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in body.splitlines())


def default_reply(text: str) -> str:
    """Deterministic, plausible code for the instruction found in ``text``.

    ``sum:`` instructions get one sentence of prose, ``fix:`` returns the last fenced code block
    of the prompt when there is one; everything else becomes a small function in the language
    the prompt mentions (Python by default).
    """
    instruction = extract_instruction(text)
    lowered = instruction.lower()
    to_fix = re.search(r"(?s)Code to fix:\n(.*?)\nCode after it:", text)
    if to_fix:  # Typilot's fix prompt: the target back, as the corrected replacement
        return to_fix.group(1).rstrip("\n") + "\n"
    to_sum = re.search(r"(?s)Code to summarize:\n(.*?)\n\s*Task:", text)
    if to_sum or lowered.startswith("sum:") or lowered.startswith("summar"):
        return _summary(to_sum.group(1) if to_sum else text)
    if lowered.startswith("fix:"):
        fences = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
        if fences:
            return str(fences[-1])
        instruction = instruction[4:].strip()
    return _function_for(instruction, _detect_language(text))


def _summary(code: str) -> str:
    """One sentence that names the functions ``code`` defines."""
    names = re.findall(
        r"(?m)^\s*(?:async\s+)?(?:def|function|fn|func|local function)\s+(\w+)", code
    )
    if names:
        listed = ", ".join(f"`{n}`" for n in dict.fromkeys(names))
        return f"Defines {listed}. It takes its inputs and returns the computed result.\n"
    return "This code defines a small helper function and returns its result to the caller.\n"


def _function_for(instruction: str, language: str) -> str:
    """A small function in ``language``, named after the instruction's words, with the body
    of the first ``_BODIES`` entry one of those words names."""
    words = _words(instruction) or ["result"]
    if words[0].endswith("s") and len(words[0]) > 3 and not words[0].endswith("ss"):
        words[0] = words[0][:-1]
    words = words[:4]
    params: tuple[str, ...] = ("value",)
    py_body, js_body, lua_body = "return value", "return value;", "return value"
    for keys, p, py, js, lua in _BODIES:
        if any(w in keys for w in words):
            params, py_body, js_body, lua_body = p, py, js, lua
            break
    doc = instruction.strip().rstrip(".") or "Compute the result"
    doc = doc[0].upper() + doc[1:]
    snake = "_".join(words)
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    args = ", ".join(params)
    if language in ("javascript", "typescript"):
        if language == "typescript":
            args = ", ".join(f"{p}: any" for p in params)
        return f"/** {doc}. */\nfunction {camel}({args}) {{\n{_indent(js_body, '  ')}\n}}\n"
    if language == "lua":
        return f"--- {doc}.\nlocal function {snake}({args})\n{_indent(lua_body, '  ')}\nend\n"
    if language == "rust":
        return f"/// {doc}.\nfn {snake}(value: i64) -> i64 {{\n    value\n}}\n"
    if language == "go":
        return f"// {camel} does this: {doc}.\nfunc {camel}(value int) int {{\n\treturn value\n}}\n"
    return f'def {snake}({args}):\n    """{doc}."""\n{_indent(py_body, "    ")}\n'


def default_thinking(text: str) -> str:
    instruction = extract_instruction(text) or "some code"
    return (
        f"The user wants: {instruction}. I should answer with just the code, "
        "keep it short and correct, and not add explanations.\n"
    )


def instruction_source(body: dict[str, Any], is_chat: bool) -> str:
    """The text a default reply is made from: generate's system + prompt; chat's messages up to
    the last user one (language hints can sit in the system message, the instruction in the
    last user message)."""
    if not is_chat:
        return f"{body.get('system') or ''}\n{body.get('prompt') or ''}"
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    parts = [str(m.get("content") or "") for m in messages]
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    if not users:
        return "\n".join(parts)
    return "\n".join([*parts[:-1], users[-1]])


def prompt_text(body: dict[str, Any], is_chat: bool) -> str:
    """What rules match against: the prompt (generate) or the last user message (chat)."""
    if not is_chat:
        return body.get("prompt") or ""
    messages = body.get("messages") or []
    users = (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user")
    return next((str(m.get("content") or "") for m in users), "")


def prompt_token_count(body: dict[str, Any], is_chat: bool) -> int:
    """The prompt's size in tokens, for prefill pacing and ``prompt_eval_count``."""
    if is_chat:
        return sum(
            len(tokenize(str(msg.get("content") or ""))) + 4
            for msg in body.get("messages") or []
            if isinstance(msg, dict)
        )
    fields = ("prompt", "system", "suffix")
    return sum(len(tokenize(str(body.get(f) or ""))) for f in fields) + 6


# ----------------------------------------------------------------------------------------------
# What a generation streams


@dataclass(frozen=True)
class Piece:
    """One token of a reply, streamed as one chunk: answer text, or reasoning (``thinking``)."""

    text: str
    thinking: bool = False


@dataclass(frozen=True)
class ReplyPlan:
    """Everything a generation sends, decided before the first byte: the pieces (thinking
    first), the text on the ``done:true`` line, why it ends, and the scripted faults."""

    pieces: list[Piece]
    final_text: str
    done_reason: str
    error_after: int | None = None
    error_message: str = RUNNER_CRASHED_ERROR
    stall_after: int | None = None

    @property
    def fault_limits(self) -> tuple[int | None, int | None]:
        """The token counts at which the stream stops for a scripted error or stall."""
        return (self.error_after, self.stall_after)


def plan_reply(rule: Rule | None, body: dict[str, Any], is_chat: bool, thinking: bool) -> ReplyPlan:
    """The reply to a generation: the rule's, else the default one; cut at the first of the
    request's ``options.stop`` strings and to ``options.num_predict`` tokens (``"length"``)."""
    content = _continuing(_content_tokens(rule, body, is_chat), body, is_chat)
    thoughts: list[str] = []
    if thinking:
        scripted = rule.thinking if rule is not None else None
        thoughts = tokenize(
            scripted if scripted is not None else default_thinking(prompt_text(body, is_chat))
        )
    done_reason = (rule.done_reason if rule is not None else None) or "stop"
    options = body.get("options") or {}
    content = _cut_at_stop(content, options.get("stop"))
    num_predict = options.get("num_predict")
    if isinstance(num_predict, int) and 0 <= num_predict < len(thoughts) + len(content):
        keep_thinking = min(num_predict, len(thoughts))
        thoughts, content = thoughts[:keep_thinking], content[: num_predict - keep_thinking]
        done_reason = "length"
    pieces = [Piece(t, thinking=True) for t in thoughts] + [Piece(t) for t in content]
    if rule is None:
        return ReplyPlan(pieces, "", done_reason)
    return ReplyPlan(
        pieces,
        rule.final_text if rule.final_text is not None else "",
        done_reason,
        error_after=rule.error_after_tokens,
        error_message=rule.error or RUNNER_CRASHED_ERROR,
        stall_after=rule.stall_after_tokens,
    )


def _content_tokens(rule: Rule | None, body: dict[str, Any], is_chat: bool) -> list[str]:
    if rule is not None and rule.tokens is not None:
        return list(rule.tokens)
    if rule is not None and rule.reply is not None:
        return tokenize(rule.reply)
    return tokenize(default_reply(instruction_source(body, is_chat)))


def _continuing(tokens: list[str], body: dict[str, Any], is_chat: bool) -> list[str]:
    """A chat ending in an assistant message is continued (Ollama's templates leave the last
    assistant turn open): the reply is what comes after that text, which it does not repeat."""
    messages = body.get("messages") or [] if is_chat else []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    start = str(last.get("content") or "") if last.get("role") == "assistant" else ""
    text = "".join(tokens)
    if not start or not text.startswith(start):
        return tokens
    return tokenize(text[len(start) :])


def _cut_at_stop(tokens: list[str], stops: Any) -> list[str]:
    """The tokens up to the earliest stop string in their text (re-tokenized), else as given."""
    if isinstance(stops, str):
        stops = [stops]
    if not stops:
        return tokens
    joined = "".join(tokens)
    cut = min(
        (joined.find(s) for s in stops if isinstance(s, str) and s and s in joined),
        default=-1,
    )
    return tokenize(joined[:cut]) if cut >= 0 else tokens
