"""Logging hygiene: no prompt, code or response text in logs unless ``typilot.trace`` is true.

Two tools:

- :func:`redact` for our own log calls: ``log.debug("prompt: %s", redact(prompt, trace))``
  logs ``<1234 chars hidden; set typilot.trace to log them>`` unless trace is on.
  :class:`Content` does the same lazily, deciding when the record is formatted, under the
  :class:`ContentFilter` installed on the handler.
- :class:`ContentFilter`, installed on every log handler with :func:`install_content_filter`:
  hides :class:`Content` arguments and the message bodies that pygls logs ("Sending data:
  {...}" carries every ``workspace/applyEdit`` with model output, and every incoming
  ``didChange`` with the user's code) unless trace is on. Identifiers (ints, short strings
  such as method names and message ids) stay readable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Content", "ContentFilter", "install_content_filter", "redact"]

_SHORT = 64  # strings up to this length in pygls records are identifiers, not content


def _hidden(size: int) -> str:
    return f"<{size} chars hidden; set typilot.trace to log them>"


def redact(text: str | None, trace: bool) -> str:
    """``text`` when tracing, otherwise a placeholder that gives only its length."""
    if text is None:
        return "<none>"
    return text if trace else _hidden(len(text))


class Content:
    """A log argument that is user content; shown only when the handler's filter allows it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:  # only reached when no ContentFilter hid it: stay safe
        return _hidden(len(self.text))

    __repr__ = __str__


def _hide_arg(arg: Any) -> Any:
    if isinstance(arg, (int, float, bool)) or arg is None:
        return arg
    text = arg if isinstance(arg, str) else None
    if text is not None and len(text) <= _SHORT and "\n" not in text:
        return text
    try:
        size = len(text if text is not None else str(arg))
    except Exception:
        size = 0
    return _hidden(size)


class ContentFilter(logging.Filter):
    """Hides content in log records unless ``trace()`` is true (a callable, read per record,
    so a settings change applies at once)."""

    def __init__(self, trace: Callable[[], bool] | bool = False) -> None:
        super().__init__()
        self._trace: Callable[[], bool] = trace if callable(trace) else (lambda: bool(trace))

    def filter(self, record: logging.LogRecord) -> bool:
        trace = self._trace()
        args = record.args
        if not args:
            return True
        from_pygls = record.name == "pygls" or record.name.startswith("pygls.")
        if isinstance(args, dict):
            record.args = {k: self._one(v, trace, from_pygls) for k, v in args.items()}
        else:
            record.args = tuple(self._one(a, trace, from_pygls) for a in args)
        return True

    @staticmethod
    def _one(arg: Any, trace: bool, from_pygls: bool) -> Any:
        if isinstance(arg, Content):
            return arg.text if trace else _hidden(len(arg.text))
        if from_pygls and not trace:
            return _hide_arg(arg)
        return arg


def install_content_filter(
    trace: Callable[[], bool] | bool = False, logger: logging.Logger | None = None
) -> ContentFilter:
    """Add one :class:`ContentFilter` to every handler of ``logger`` (default: the root logger).

    Call it after the handlers are set up (and again for a handler added later); it replaces
    a ContentFilter installed before.
    """
    target = logger or logging.getLogger()
    content_filter = ContentFilter(trace)
    for handler in target.handlers:
        for old in [f for f in handler.filters if isinstance(f, ContentFilter)]:
            handler.removeFilter(old)
        handler.addFilter(content_filter)
    return content_filter
