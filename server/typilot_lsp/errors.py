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
    "ApiKeyMissing",
    "AuthRejected",
    "BackendError",
    "CapabilityError",
    "CloudModelRefused",
    "ContextTooLong",
    "InvalidHost",
    "ModelLoading",
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
    "ServerRequestError",
    "ServerStalled",
    "ServerStreamError",
    "ServerUnreachable",
    "TypilotError",
    "UnknownModel",
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

    def __init__(
        self,
        host: str,
        detail: str = "",
        *,
        server: str = "Ollama",
        local_setting: str = "`typilot.ollama.host` = http://127.0.0.1:11434",
    ) -> None:
        self.host = host
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"refused to connect to {server} at {host}: it is not a loopback address{extra}, so "
            f"your prompts and code would leave this machine. Use a local {server} "
            f"({local_setting}), or set `{self.setting}` to true to allow it"
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


# --- backend-neutral (the OpenAI-compatible backend; names that fit any server) -------------


class ServerUnreachable(BackendError):
    """Nothing answers at the configured URL (refused, timed out, closed at once)."""

    def __init__(self, url: str, detail: str | None, start_hint: str, setting: str) -> None:
        self.url = url
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"cannot reach the model server at {url}{why}: is it running? {start_hint}, or set "
            f"`{setting}` to the URL it listens on"
        )


class UnknownModel(BackendError):
    """The server does not serve the configured model (or serves several and none is set)."""

    def __init__(self, model: str, url: str, served: list[str], setting: str) -> None:
        self.model = model
        self.served = served
        listed = ", ".join(served[:12]) if served else "nothing"
        if model:
            head = f"model {model} is not served at {url}"
        else:
            head = f"the server at {url} serves several models and none is chosen"
        super().__init__(f"{head} (its /models lists: {listed}): set `{setting}` to one of them")


class ModelLoading(BackendError):
    """503 while the model loads, for longer than the bound."""

    def __init__(self, url: str, seconds: float, setting: str) -> None:
        self.url = url
        super().__init__(
            f"the model server at {url} was still loading its model after {seconds:g} s: try "
            f"again in a moment, or raise `{setting}`"
        )


class ContextTooLong(BackendError):
    """400: the prompt does not fit the server's context window."""

    def __init__(self, server_message: str) -> None:
        super().__init__(
            f"the prompt does not fit the model's context ({server_message}): lower "
            "`typilot.context.maxChars` (how much surrounding code is sent), or give the server "
            "a larger context (llama-server: `-c 8192`)"
        )


class AuthRejected(BackendError):
    """401/403: the server wants an API key, or refused the one sent."""

    def __init__(self, url: str, status: int, server_message: str, key_env: str | None) -> None:
        self.status = status
        if key_env:
            fix = (
                f"check the key in ${key_env} (named by `typilot.openai.apiKeyEnv`) and that the "
                "variable is set where the editor starts"
            )
        else:
            fix = (
                "set `typilot.openai.apiKeyEnv` to the NAME of an environment variable that holds "
                "the key (e.g. OPENAI_API_KEY), and set that variable where the editor starts"
            )
        super().__init__(
            f"the model server at {url} refused access ({status}: {server_message}): {fix}"
        )


class ApiKeyMissing(BackendError):
    """`openai.apiKeyEnv` names a variable that is not set (checked before any request)."""

    def __init__(self, key_env: str) -> None:
        self.key_env = key_env
        super().__init__(
            f"`typilot.openai.apiKeyEnv` names ${key_env}, but that environment variable is not "
            "set for the language server: set it where the editor starts (then restart the "
            "editor), or clear `typilot.openai.apiKeyEnv` if the server needs no key"
        )


class ServerRequestError(BackendError):
    """Any other refusal or failure status from an OpenAI-compatible server."""

    def __init__(self, url: str, status: int, server_message: str) -> None:
        self.status = status
        hint = (
            "check `typilot.openai.options` and `typilot.openai.model`"
            if 400 <= status < 500
            else "check the model server's log and try again"
        )
        super().__init__(f"the model server at {url} answered {status} ({server_message}): {hint}")


class ServerStreamError(BackendError):
    """The stream broke after it had started (an `error` event, a dropped connection, garbage)."""

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        self.detail = detail
        super().__init__(
            f"the model server stopped in the middle of the answer from {model}: {detail}. The "
            "text streamed so far is kept; check the server's log and run it again"
        )


class ServerStalled(BackendError):
    """No token within the idle timeout (or the first-token timeout)."""

    def __init__(self, model: str, seconds: float, first: bool, section: str) -> None:
        self.model = model
        self.seconds = seconds
        self.first = first
        if first:
            message = (
                f"model {model} did not start answering within {seconds:g} s: try again, use a "
                f"smaller model, or raise `typilot.{section}.firstTokenTimeout`"
            )
        else:
            message = (
                f"model {model} stopped sending text for {seconds:g} s, so the run was stopped: "
                f"check the model server's log, or raise `typilot.{section}.idleTimeout`"
            )
        super().__init__(message)
