"""A to-do list kept in a JSON file: tasks with due dates, priorities and tags."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import Enum
from pathlib import Path

DEFAULT_PATH = Path.home() / ".tasks.json"


class Priority(int, Enum):
    LOW = 1
    NORMAL = 2
    HIGH = 3


@dataclass
class Task:
    title: str
    due: date | None = None
    priority: Priority = Priority.NORMAL
    tags: list[str] = field(default_factory=list)
    done: bool = False

    def overdue(self, today: date) -> bool:
        return not self.done and self.due is not None and self.due < today

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["due"] = self.due.isoformat() if self.due else None
        data["priority"] = int(self.priority)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Task:
        due = data.get("due")
        return cls(
            title=str(data["title"]),
            due=date.fromisoformat(str(due)) if due else None,
            priority=Priority(int(data.get("priority", 2))),  # type: ignore[arg-type]
            tags=list(data.get("tags", [])),  # type: ignore[arg-type]
            done=bool(data.get("done", False)),
        )


class TaskList:
    def __init__(self, tasks: list[Task] | None = None) -> None:
        self.tasks = tasks or []

    def add(self, title: str, **fields: object) -> Task:
        task = Task(title=title, **fields)  # type: ignore[arg-type]
        self.tasks.append(task)
        return task

    def complete(self, title: str) -> bool:
        for task in self.tasks:
            if task.title == title and not task.done:
                task.done = True
                return True
        return False

    def open_tasks(self) -> list[Task]:
        return [task for task in self.tasks if not task.done]

    def due_within(self, days: int, today: date) -> list[Task]:
        limit = today + timedelta(days=days)
        return [
            task
            for task in self.open_tasks()
            if task.due is not None and today <= task.due <= limit
        ]

    def by_tag(self, tag: str) -> list[Task]:
        return [task for task in self.tasks if tag in task.tags]

    def sorted_for_today(self, today: date) -> list[Task]:
        def key(task: Task) -> tuple[int, int, date]:
            return (
                0 if task.overdue(today) else 1,
                -int(task.priority),
                task.due or date.max,
            )

        return sorted(self.open_tasks(), key=key)


def load(path: Path = DEFAULT_PATH) -> TaskList:
    if not path.exists():
        return TaskList()
    raw = json.loads(path.read_text(encoding="utf-8"))
    return TaskList([Task.from_json(entry) for entry in raw])


def save(tasks: TaskList, path: Path = DEFAULT_PATH) -> None:
    """Write atomically: a crash never leaves half a file."""
    data = json.dumps([task.to_json() for task in tasks.tasks], indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tasks-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(data)
    os.replace(tmp, path)


def parse_due(text: str, today: date) -> date | None:
    text = text.strip().lower()
    if not text:
        return None
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text.startswith("+") and text[1:].isdigit():
        return today + timedelta(days=int(text[1:]))
    return date.fromisoformat(text)


def format_task(task: Task, today: date) -> str:
    box = "[x]" if task.done else "[ ]"
    due = ""
    if task.due is not None:
        days = (task.due - today).days
        due = " (overdue)" if days < 0 else f" (in {days} days)"
    tags = " ".join(f"#{tag}" for tag in task.tags)
    return f"{box} {task.title}{due} {tags}".rstrip()


def agenda(tasks: TaskList, today: date) -> str:
    lines = [format_task(task, today) for task in tasks.sorted_for_today(today)]
    return "\n".join(lines) if lines else "Nothing to do."
