"""bench/bench_context.py's tasks are sound without a model: in every task the gather puts the
needed definitions within a run's share of the default budget (the benchmark's target: all),
no `needed` snippet is already in the target file, and the judge fails the file as it is (so a
pass is the model's doing). The real-model figures live in docs/quality.md."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bench.bench_context import Task, judge, load_tasks

from bench import bench_quality as quality
from tests.context.workspace import gather
from tests.prerequisites import require_tools
from typilot_lsp.config import Config
from typilot_lsp.context.for_run import choose
from typilot_lsp.context.gather import ContextGatherer
from typilot_lsp.runs.prompt import context_budget

TASKS = load_tasks()


def test_thirty_tasks_in_four_languages() -> None:
    assert len(TASKS) >= 30
    assert {t.language for t in TASKS} == {"python", "javascript", "typescript", "go"}


@pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])
def test_the_needed_definitions_fit_a_run_s_share(task: Task) -> None:
    target_text = (task.folder / task.target).read_text()
    assert not [s for s in task.needed if s in target_text]
    result = gather(task.folder, task.target, gatherer=ContextGatherer())
    budget = context_budget(Config().context.max_chars, None, None)
    text = choose(result, budget).text
    assert [s for s in task.needed if s not in text] == [], text


@pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])
def test_the_judge_fails_the_task_as_given(task: Task, tmp_path: Path) -> None:
    if task.judge == "node":
        require_tools("node")
    copy = tmp_path / task.name
    shutil.copytree(task.folder, copy)
    landed = (copy / task.target).read_text()
    assert judge(task, copy, landed) is False


def test_humaneval_files_get_no_other_files(tmp_path: Path) -> None:
    """HumanEval's figures stay as they were with `context.otherFiles` on: its files import
    only the standard library, so a run's prompt gets no definitions (the same prompt)."""
    gatherer = ContextGatherer()
    for problem in quality.load_problems():
        case = quality.gen_case(problem, "body")
        (tmp_path / f"{case.name}.py").write_text(case.text)
        result = gather(tmp_path, f"{case.name}.py", gatherer=gatherer)
        assert result.definitions == (), case.name
