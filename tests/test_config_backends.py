"""The settings of the backends: `backend`, `openai.*`, `gen.fim`, the reply-length bounds;
and the fill-in-the-middle prompt they feed."""

from __future__ import annotations

from typilot_lsp.config import Config
from typilot_lsp.runs.prompt import PromptInput, build_fim, build_prompt


def test_defaults() -> None:
    config = Config()
    assert config.backend == "ollama" and config.model == "qwen2.5-coder:1.5b"
    assert config.openai.base_url == "http://127.0.0.1:8080/v1"
    assert config.openai.model == "" and config.openai.api_key_env is None
    assert config.gen.fim == "auto"
    assert config.max_tokens_for("gen", "insert") == (1024, "typilot.gen.maxTokens")
    assert config.max_tokens_for("fix", "replace") == (2048, "typilot.fix.maxTokens")
    assert config.max_tokens_for("sum", "comment") == (256, "typilot.sum.maxTokens")
    # a user command takes the bound of the built-in command with its mode
    assert config.max_tokens_for("test:", "replace") == (2048, "typilot.fix.maxTokens")
    assert config.max_tokens_for("doc:", "comment") == (256, "typilot.sum.maxTokens")


def test_openai_settings_parse() -> None:
    config, errors = Config.from_dict(
        {
            "backend": "openai",
            "openai": {
                "baseUrl": "http://127.0.0.1:1234/v1",
                "model": "qwen2.5-coder-7b-instruct",
                "apiKeyEnv": "LMSTUDIO_KEY",
                "options": {"temperature": 0.1},
            },
            "gen": {"fim": "off", "maxTokens": 300},
            "fix": {"maxTokens": 0},
        }
    )
    assert errors == []
    assert config.model == "qwen2.5-coder-7b-instruct"
    assert config.generation_options == {"temperature": 0.1}
    assert config.openai.api_key_env == "LMSTUDIO_KEY"
    assert config.gen.fim == "off" and config.gen.max_tokens == 300
    assert config.max_tokens_for("fix", "replace")[0] == 0  # 0: no bound


def test_a_bad_value_costs_only_itself() -> None:
    config, errors = Config.from_dict(
        {
            "backend": "llamacpp",
            "openai": {"baseUrl": "localhost:8080", "model": "m", "idleTimeout": 0},
            "gen": {"fim": "always", "maxTokens": -1},
            "sum": {"maxTokens": 100},
        }
    )
    assert config.backend == "ollama"
    assert config.openai.base_url == "http://127.0.0.1:8080/v1" and config.openai.model == "m"
    assert config.openai.idle_timeout == 30.0
    assert config.gen.fim == "auto" and config.gen.max_tokens == 1024
    assert config.sum.max_tokens == 100
    text = "\n".join(errors)
    for key in ("typilot.backend", "openai.baseUrl", "idleTimeout", "gen.fim", "gen.maxTokens"):
        assert key in text, text
    assert "'ollama', 'openai'" in text and "'auto', 'off'" in text


def test_api_key_env_never_echoes_a_pasted_key() -> None:
    key = "sk-proj-abc123/DEF+456=="
    config, errors = Config.from_dict({"openai": {"apiKeyEnv": key}})
    assert config.openai.api_key_env is None
    assert len(errors) == 1 and "openai.apiKeyEnv" in errors[0]
    assert key not in errors[0] and "NAME of an environment variable" in errors[0]


def test_command_line_overrides_go_to_the_selected_backend() -> None:
    config = Config().with_overrides(backend="openai", host="http://127.0.0.1:9/v1", model="x")
    assert config.backend == "openai"
    assert config.openai.base_url == "http://127.0.0.1:9/v1" and config.openai.model == "x"
    assert config.ollama == Config().ollama
    ollama = Config().with_overrides(host="http://127.0.0.1:11435", model="y:1b")
    assert ollama.ollama.host == "http://127.0.0.1:11435" and ollama.model == "y:1b"


def prompt_input(lines: list[str], line: int) -> PromptInput:
    return PromptInput(
        command="gen",
        mode="insert",
        instruction="add two numbers",
        language_id="python",
        file_name="calc.py",
        lines=lines,
        prefix_line=line,
        target=None,
    )


def test_fim_prefix_and_suffix_around_the_gen_line() -> None:
    lines = ["import math\n", "\n", "    # gen: add two numbers\n", "print(1)\n", "x = 2"]
    fim = build_fim(prompt_input(lines, 2), 1000)
    assert fim.prefix == "import math\n\n    # gen: add two numbers\n"
    assert fim.suffix == "print(1)\nx = 2"


def test_fim_shares_the_context_budget_nearest_lines_first() -> None:
    before = [f"a_{i} = {i}\n" for i in range(100)]
    after = [f"b_{i} = {i}\n" for i in range(100)]
    lines = [*before, "# gen: add two numbers\n", *after]
    budget = 200
    fim = build_fim(prompt_input(lines, 100), budget)
    assert len(fim.prefix) + len(fim.suffix) <= budget
    assert fim.prefix.endswith("a_99 = 99\n# gen: add two numbers\n")
    assert fim.suffix.startswith("b_0 = 0\n")
    # the chat prompt gets the same code within the same budget
    _system, user = build_prompt(prompt_input(lines, 100), budget)
    assert "a_99 = 99" in user and "b_0 = 0" in user and "a_0 = 0\n" not in user


def test_fim_on_a_last_line_without_line_break() -> None:
    fim = build_fim(prompt_input(["x = 1\n", "# gen: add two numbers"], 1), 1000)
    assert fim.prefix == "x = 1\n# gen: add two numbers\n" and fim.suffix == ""
