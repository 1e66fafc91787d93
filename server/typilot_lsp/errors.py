"""User-facing errors.

Every :class:`TypilotError` carries a message that is shown to the user as is
(``window/showMessage``, ``typilot-lsp doctor``, the CLI): ``str(error)`` says what went
wrong and what to do about it. Code that catches a ``TypilotError`` never needs to add
wording of its own.

The messages never contain prompt, code or response text, so they are also safe to log.
"""

from __future__ import annotations

from pygls.exceptions import JsonRpcException

__all__ = [
    "BackendError",
    "CapabilityError",
    "CloudModelRefused",
    "InvalidHost",
    "ModelNotFound",
    "NotOllama",
    "OllamaAuthError",
    "OllamaBusy",
    "OllamaRequestError",
    "OllamaServerError",
    "OllamaStalled",
    "OllamaStreamError",
    "OllamaUnreachable",
    "PrivacyError",
    "RemoteHostRefused",
    "RequestFailed",
    "TypilotError",
]


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed (-32803): a valid request that could not be carried out.

    The one class every LSP handler raises for that; its message is the user-facing text.
    """

    CODE = -32803
    MESSAGE = "Request failed"


class TypilotError(Exception):
    """Base class: ``str(e)`` is the actionable message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- configuration ------------------------------------------------------------------------


class InvalidHost(TypilotError):
    """``ollama.host`` / ``$OLLAMA_HOST`` cannot be parsed."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        super().__init__(
            f"invalid Ollama host {value!r}: {reason}; set `typilot.ollama.host` (or $OLLAMA_HOST) "
            "to a URL such as http://127.0.0.1:11434"
        )


# --- privacy ------------------------------------------------------------------------------


class PrivacyError(TypilotError):
    """A guard refused to let a prompt leave the machine. ``setting`` allows it."""

    setting: str = ""


class RemoteHostRefused(PrivacyError):
    setting = "typilot.privacy.allowRemoteHost"

    def __init__(self, host: str, detail: str = "") -> None:
        self.host = host
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"refused to connect to Ollama at {host}: it is not a loopback address{extra}, so your "
            "prompts and code would leave this machine. Use a local Ollama "
            "(`typilot.ollama.host` = http://127.0.0.1:11434), or set "
            f"`{self.setting}` to true to allow it"
        )


class CloudModelRefused(PrivacyError):
    setting = "typilot.privacy.allowCloudModels"

    def __init__(self, model: str, where: str | None = None) -> None:
        self.model = model
        self.where = where
        runs_on = f"runs on {where}" if where else "is a cloud model"
        super().__init__(
            f"refused to use model {model}: it {runs_on}, so your prompts and code would leave "
            f"this machine. Pick a local model in `typilot.ollama.model` (see `ollama list`), or "
            f"set `{self.setting}` to true to allow it"
        )


# --- backend ------------------------------------------------------------------------------


class BackendError(TypilotError):
    """Anything that went wrong talking to the model server."""


class OllamaUnreachable(BackendError):
    def __init__(self, host: str, detail: str | None = None) -> None:
        self.host = host
        if detail:
            message = f"cannot reach Ollama at {host} ({detail}): is it running? Start it with `ollama serve`"
        else:
            message = f"Ollama is not running at {host}: start it with `ollama serve`"
        super().__init__(message)


class NotOllama(BackendError):
    """Something answers at the host, but it does not speak the Ollama API."""

    def __init__(self, host: str, detail: str) -> None:
        self.host = host
        super().__init__(
            f"the server at {host} does not look like Ollama ({detail}): check "
            "`typilot.ollama.host` / $OLLAMA_HOST points at Ollama (default http://127.0.0.1:11434)"
        )


class ModelNotFound(BackendError):
    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(f"model {model} is not installed: run `ollama pull {model}`")


class CapabilityError(BackendError):
    """The model cannot do what was asked (Ollama 400 ``... does not support X``)."""

    def __init__(self, model: str, capability: str, server_message: str) -> None:
        self.model = model
        self.capability = capability
        hint = {
            "thinking": "turn thinking off for this model or pick a thinking model",
        }.get(capability, f"pick a model that supports {capability} in `typilot.ollama.model`")
        super().__init__(
            f"model {model} does not support {capability} (Ollama said: {server_message}): {hint}"
        )


class OllamaRequestError(BackendError):
    """Ollama rejected the request (400 other than a capability error)."""

    def __init__(self, status: int, server_message: str) -> None:
        self.status = status
        super().__init__(
            f"Ollama rejected the request ({status}: {server_message}): check `typilot.ollama.options`"
            " and the model name"
        )


class OllamaBusy(BackendError):
    def __init__(self, host: str, server_message: str) -> None:
        self.host = host
        super().__init__(
            f"Ollama at {host} is busy ({server_message}): try again in a moment, or raise "
            "OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL on the Ollama server"
        )


class OllamaAuthError(BackendError):
    """401/403: a cloud model needs `ollama signin`, or cloud use is disabled on the server."""

    def __init__(self, model: str, status: int, server_message: str) -> None:
        self.model = model
        self.status = status
        if status == 401:
            message = (
                f"model {model} needs an ollama.com account and Ollama is not signed in "
                f"({server_message}): run `ollama signin`, or pick a local model"
            )
        else:
            message = (
                f"Ollama refused model {model} ({server_message}): cloud models are disabled on "
                "this Ollama server; pick a local model in `typilot.ollama.model`"
            )
        super().__init__(message)


class OllamaServerError(BackendError):
    """5xx and other unexpected statuses."""

    def __init__(self, status: int, server_message: str) -> None:
        self.status = status
        super().__init__(
            f"Ollama failed ({status}: {server_message}): check the Ollama server log "
            "(`journalctl -u ollama`, or the terminal running `ollama serve`) and try again"
        )


class OllamaStreamError(BackendError):
    """The stream broke after it had started (error line, dropped connection, garbage)."""

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        self.detail = detail
        super().__init__(
            f"Ollama stopped in the middle of the answer from {model}: {detail}. The text "
            "streamed so far is kept; check the Ollama server log and run it again"
        )


class OllamaStalled(BackendError):
    """No token within the idle timeout (or the first-token timeout for a cold load)."""

    def __init__(self, model: str, seconds: float, first: bool) -> None:
        self.model = model
        self.seconds = seconds
        self.first = first
        if first:
            message = (
                f"model {model} did not start answering within {seconds:g} s (a large model can "
                "take long to load): try again, use a smaller model, or raise "
                "`typilot.ollama.firstTokenTimeout`"
            )
        else:
            message = (
                f"model {model} stopped sending text for {seconds:g} s, so the run was stopped: "
                "check the Ollama server log, or raise `typilot.ollama.idleTimeout`"
            )
        super().__init__(message)
