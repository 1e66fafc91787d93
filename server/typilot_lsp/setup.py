"""The composition root: the one place that knows every feature of the server.

`create_server` makes a `TypilotServer` and adds one object of each class in `FEATURES`, in
that order. Each feature declares what it needs in its constructor, by type: a parameter
annotated `TypilotServer` gets the server, one annotated with a `Feature` class gets that
feature (added earlier in `FEATURES`); any other parameter keeps its default. So a feature never
looks another one up, and neither the server nor a feature imports this module.
"""

from __future__ import annotations

import inspect
import logging
import sys
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.history import HistoryFeature
from typilot_lsp.features.runs import RunsFeature
from typilot_lsp.features.settings import SettingsFeature
from typilot_lsp.features.voice import VoiceFeature
from typilot_lsp.server import TypilotServer

FeatureT = TypeVar("FeatureT", bound=Feature)

FEATURES: tuple[type[Feature], ...] = (
    SettingsFeature,
    HistoryFeature,
    DocumentsFeature,
    RunsFeature,
    VoiceFeature,
)
"""Every feature, in the order their hooks run (`shutdown` in reverse: runs stop before the
history they record into closes). A feature comes after the features it takes."""


def create_server(features: Iterable[type[Feature]] = FEATURES) -> TypilotServer:
    """A server with one feature of each class in `features`, built and added in order."""
    server = TypilotServer()
    for kind in features:
        server.add_feature(build_feature(kind, server))
    return server


def build_feature(kind: type[FeatureT], server: TypilotServer) -> FeatureT:
    """A `kind` feature, its constructor given what it asks for by type (see the module)."""
    try:
        hints = typing.get_type_hints(kind.__init__, localns={"TypilotServer": TypilotServer})
    except NameError as exc:
        raise TypeError(
            f"{kind.__name__}: a parameter's type is unknown ({exc}); import it at run time"
        ) from exc
    arguments: dict[str, Any] = {}
    for name, parameter in list(inspect.signature(kind.__init__).parameters.items())[1:]:
        wanted = hints.get(name)
        if typing.get_origin(wanted) is not None:
            wanted = None  # `list[str]` and the like: Python 3.10 takes them for classes
        if isinstance(wanted, type) and issubclass(TypilotServer, wanted):
            arguments[name] = server
        elif isinstance(wanted, type) and issubclass(wanted, Feature):
            try:
                arguments[name] = server.get_feature(wanted)
            except KeyError:
                raise TypeError(
                    f"{kind.__name__} needs {wanted.__name__}: add that feature before it"
                ) from None
        elif parameter.default is inspect.Parameter.empty:
            raise TypeError(f"{kind.__name__}: nothing to give its parameter `{name}`")
    return kind(**arguments)


def serve(*, tcp: bool = False, port: int = 2087, log_level: str = "WARNING") -> int:
    """`typilot-lsp serve`: the language server over stdio (or TCP on 127.0.0.1)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = create_server()
    # No prompt, code or model output in logs unless `typilot.trace` (read live).
    from typilot_lsp.logging_utils import install_content_filter

    install_content_filter(lambda: server.config.trace)
    if tcp:
        server.start_tcp("127.0.0.1", port)
    else:
        server.start_io()
    return 0
