"""Tests of the Ollama replay server itself, with raw sockets and httpx as the clients."""

from __future__ import annotations

import calendar
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import REPO_ROOT
from tests.replay import ollama_process
from tests.replay.ollama import (
    BUSY_ERROR,
    RUNNER_CRASHED_ERROR,
    ReplayOllama,
    Rule,
    default_reply,
    extract_instruction,
    parse_keep_alive,
    tokenize,
)

CODER = "qwen2.5-coder:1.5b"
THINKER = "qwen3:1.7b"
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


# ----------------------------------------------------------------------------------------------
# A raw HTTP/1.1 client, so the framing on the wire is what gets checked


_OPEN_SOCKETS: list[socket.socket] = []


def connect(server: ReplayOllama) -> socket.socket:
    """A raw TCP connection to the server, closed after the test at the latest."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    _OPEN_SOCKETS.append(sock)
    return sock


@pytest.fixture(autouse=True)
def _close_raw_sockets() -> Iterator[None]:
    yield
    while _OPEN_SOCKETS:
        _OPEN_SOCKETS.pop().close()


class RawResponse:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before the end of a line")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_head(self) -> None:
        status_line = self._line().decode()
        self.status = int(status_line.split(" ")[1])
        while line := self._line():
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def next_chunk(self) -> bytes | None:
        """One chunk of a chunked body exactly as framed by the server (None: last chunk)."""
        size = int(self._line().split(b";")[0], 16)
        if size == 0:
            assert self._line() == b""
            return None
        while len(self.buf) < size + 2:
            if not self._fill():
                raise EOFError("connection closed inside a chunk")
        data, rest = self.buf[:size], self.buf[size:]
        assert rest[:2] == b"\r\n"
        self.buf = rest[2:]
        return data

    def chunks(self) -> list[bytes]:
        out = []
        while (chunk := self.next_chunk()) is not None:
            out.append(chunk)
        return out

    def body(self) -> bytes:
        length = int(self.headers["content-length"])
        while len(self.buf) < length:
            if not self._fill():
                raise EOFError("connection closed inside the body")
        data, self.buf = self.buf[:length], self.buf[length:]
        return data


def raw_request(
    server: ReplayOllama, method: str, path: str, body: bytes | dict[str, Any] | None = None
) -> RawResponse:
    payload = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    sock = connect(server)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    resp = RawResponse(sock)
    resp.read_head()
    return resp


def stream_lines(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json=body) as resp:
        assert resp.status_code == 200, resp.read()
        return [json.loads(line) for line in resp.iter_lines() if line]


def created_ns(stamp: str) -> int:
    """created_at (RFC 3339, trailing zeros trimmed as Go does) as integer nanoseconds."""
    assert RFC3339_NS.match(stamp), stamp
    base, _, frac = stamp.rstrip("Z").partition(".")
    seconds = int(calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")))
    return seconds * 1_000_000_000 + int(frac.ljust(9, "0") or 0)


@pytest.fixture
def client(replay_ollama: ReplayOllama) -> httpx.Client:
    with httpx.Client(base_url=replay_ollama.url, timeout=10) as c:
        yield c


# ----------------------------------------------------------------------------------------------
# Discovery endpoints


def test_root_version_and_head(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    root = client.get("/")
    assert root.status_code == 200
    assert root.text == "Ollama is running"
    assert root.headers["content-type"].startswith("text/plain")
    assert client.head("/").status_code == 200
    version = client.get("/api/version")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version.json()["version"])
    assert client.get("/api/nope").status_code == 404
    wrong_method = client.get("/api/generate")
    assert (wrong_method.status_code, wrong_method.text) == (405, "405 method not allowed")


def test_tags_has_local_and_cloud_models(client: httpx.Client) -> None:
    models = {m["name"]: m for m in client.get("/api/tags").json()["models"]}
    assert list(models) == [CODER, THINKER, "gpt-oss:120b-cloud", "deepseek-v4-pro:cloud"]
    for local in (CODER, THINKER):
        assert "remote_host" not in models[local]
        assert models[local]["details"]["format"] == "gguf"
        assert re.fullmatch(r"[0-9a-f]{64}", models[local]["digest"])
    for cloud in ("gpt-oss:120b-cloud", "deepseek-v4-pro:cloud"):
        assert models[cloud]["remote_host"] == "https://ollama.com:443"
        assert models[cloud]["remote_model"]
    assert "insert" in models[CODER]["capabilities"]
    assert "thinking" in models[THINKER]["capabilities"]
    assert "thinking" not in models[CODER]["capabilities"]


def test_show_capabilities_context_and_remote(client: httpx.Client) -> None:
    coder = client.post("/api/show", json={"model": CODER}).json()
    assert coder["capabilities"] == ["completion", "tools", "insert"]
    arch = coder["model_info"]["general.architecture"]
    assert coder["model_info"][f"{arch}.context_length"] == 32768
    assert coder["details"]["family"] == arch
    assert ".Suffix" in coder["template"]
    assert "remote_host" not in coder

    legacy = client.post("/api/show", json={"name": THINKER}).json()
    assert "thinking" in legacy["capabilities"]

    cloud = client.post("/api/show", json={"model": "gpt-oss:120b-cloud"}).json()
    assert (cloud["remote_host"], cloud["remote_model"]) == (
        "https://ollama.com:443",
        "gpt-oss:120b",
    )
    assert cloud["model_info"]["gptoss.context_length"] == 131072

    missing = client.post("/api/show", json={"model": "llama9:70b"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'llama9:70b' not found"})
    assert client.post("/api/show", json={}).json() == {"error": "model is required"}


def test_model_list_can_be_changed(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    replay_ollama.set_models(
        ["codellama:7b", {"name": "big-model:cloud", "capabilities": ["completion"]}]
    )
    models = {m["name"]: m for m in client.get("/api/tags").json()["models"]}
    assert set(models) == {"codellama:7b", "big-model:cloud"}
    assert models["big-model:cloud"]["remote_host"] == "https://ollama.com:443"
    gone = client.post("/api/generate", json={"model": CODER, "prompt": "x"})
    assert gone.status_code == 404
    with ReplayOllama(models=["only:one"]) as other:
        names = [m["name"] for m in httpx.get(f"{other.url}/api/tags").json()["models"]]
        assert names == ["only:one"]


# ----------------------------------------------------------------------------------------------
# Streaming


def test_generate_streams_one_json_object_per_chunk(replay_ollama: ReplayOllama) -> None:
    reply = "def add(a, b):\n    return a + b\n"
    replay_ollama.add_rule(match="add two numbers", reply=reply)
    resp = raw_request(
        replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "gen: add two numbers"}
    )
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    assert resp.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in resp.headers
    chunks = resp.chunks()
    for chunk in chunks:  # exactly one JSON object and its newline per chunk
        assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1
        json.loads(chunk)
    objs = [json.loads(c) for c in chunks]
    *pieces, last = objs
    assert len(pieces) == len(tokenize(reply)) > 5
    for piece in pieces:
        assert list(piece) == ["model", "created_at", "response", "done"]
        assert piece["model"] == CODER and piece["done"] is False
        assert RFC3339_NS.match(piece["created_at"])
    assert "".join(p["response"] for p in pieces) == reply
    assert last["done"] is True and last["done_reason"] == "stop" and last["response"] == ""
    assert last["eval_count"] == len(pieces)
    assert last["context"] and all(isinstance(t, int) for t in last["context"])
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(last[key], int) and last[key] > 0
    assert last["total_duration"] >= (
        last["load_duration"] + last["prompt_eval_duration"] + last["eval_duration"]
    )
    event = replay_ollama.wait_for("complete")
    assert (event["tokens_sent"], event["text"], event["done_reason"]) == (
        len(pieces),
        reply,
        "stop",
    )
    resp.sock.close()


def test_chunks_are_flushed_one_by_one_not_buffered(replay_ollama: ReplayOllama) -> None:
    # The server stops after two tokens; if it buffered, nothing would arrive at all.
    replay_ollama.add_rule(reply="one two three four", stall_after_tokens=2)
    resp = raw_request(replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "x"})
    first, second = resp.next_chunk(), resp.next_chunk()
    assert first is not None and json.loads(first)["response"] == "one"
    assert second is not None and json.loads(second)["response"] == " two"
    stall = replay_ollama.wait_for("stall")
    assert stall["tokens_sent"] == 2
    assert not replay_ollama.events_of("complete")
    resp.sock.close()
    assert replay_ollama.wait_for("disconnect")["tokens_sent"] == 2


def test_pacing_order_and_reported_rate(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    replay_ollama.add_rule(reply="alpha beta gamma delta eta zeta", tokens_per_second=40)
    lines = stream_lines(client, "/api/generate", {"model": CODER, "prompt": "x"})
    stamps = [created_ns(line["created_at"]) for line in lines]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    final = lines[-1]
    assert final["eval_count"] == len(lines) - 1 == 6
    # The server never runs faster than asked (sleeping can only make it slower).
    assert final["eval_count"] / final["eval_duration"] * 1e9 <= 40 * 1.2


def test_chat_streams_message_content(client: httpx.Client, replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="hello", reply="Hi there!", path="chat")
    lines = stream_lines(
        client,
        "/api/chat",
        {"model": CODER, "messages": [{"role": "user", "content": "say hello"}]},
    )
    *pieces, last = lines
    assert all(list(p) == ["model", "created_at", "message", "done"] for p in pieces)
    assert all(p["message"]["role"] == "assistant" for p in pieces)
    assert "".join(p["message"]["content"] for p in pieces) == "Hi there!"
    assert last["message"] == {"role": "assistant", "content": ""}
    assert last["done_reason"] == "stop" and "context" not in last


def test_thinking_model_thinks_unless_told_not_to(
    client: httpx.Client, replay_ollama: ReplayOllama
) -> None:
    replay_ollama.add_rule(reply="x = 1\n", thinking="Let me think.")
    chat = stream_lines(
        client, "/api/chat", {"model": THINKER, "messages": [{"role": "user", "content": "go"}]}
    )
    thinking = [c["message"]["thinking"] for c in chat if "thinking" in c["message"]]
    content = [c["message"]["content"] for c in chat[:-1] if "thinking" not in c["message"]]
    assert "".join(thinking) == "Let me think."
    assert "".join(content) == "x = 1\n"
    first_content = next(i for i, c in enumerate(chat) if c["message"]["content"])
    assert all("thinking" in c["message"] for c in chat[:first_content])

    gen = stream_lines(client, "/api/generate", {"model": THINKER, "prompt": "go"})
    assert "".join(c.get("thinking", "") for c in gen) == "Let me think."
    assert all(c["response"] == "" for c in gen if c.get("thinking"))

    off = stream_lines(client, "/api/generate", {"model": THINKER, "prompt": "go", "think": False})
    assert not any("thinking" in c for c in off)
    assert "".join(c["response"] for c in off) == "x = 1\n"


def test_text_on_the_final_line(client: httpx.Client, replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="abc", final_text=" tail")
    lines = stream_lines(client, "/api/generate", {"model": CODER, "prompt": "x"})
    assert lines[-1]["done"] is True and lines[-1]["response"] == " tail"
    assert "".join(line["response"] for line in lines) == "abc tail"
    assert replay_ollama.wait_for("complete")["text"] == "abc tail"


def test_stream_false_returns_one_object(client: httpx.Client, replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="print('hi')\n", thinking="hmm")
    resp = client.post("/api/generate", json={"model": CODER, "prompt": "x", "stream": False})
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert body["response"] == "print('hi')\n" and body["done"] is True
    assert "thinking" not in body  # the coder model cannot think
    chat = client.post(
        "/api/chat",
        json={"model": THINKER, "stream": False, "messages": [{"role": "user", "content": "x"}]},
    ).json()
    assert chat["message"] == {"role": "assistant", "content": "print('hi')\n", "thinking": "hmm"}
    assert chat["eval_count"] == len(tokenize("print('hi')\n")) + len(tokenize("hmm"))


def test_load_only_and_unload(client: httpx.Client) -> None:
    gen = client.post("/api/generate", json={"model": CODER, "prompt": ""})
    assert gen.status_code == 200
    assert gen.headers["content-type"].startswith("application/json")
    body = gen.json()
    assert (body["done"], body["done_reason"], body["response"]) == (True, "load", "")
    chat = client.post("/api/chat", json={"model": CODER, "messages": []}).json()
    assert chat["done_reason"] == "load" and chat["message"] == {"role": "assistant", "content": ""}
    assert [m["name"] for m in client.get("/api/ps").json()["models"]] == [CODER]
    unload = client.post("/api/generate", json={"model": CODER, "keep_alive": 0}).json()
    assert unload["done_reason"] == "unload"
    assert client.get("/api/ps").json()["models"] == []


def test_options_num_predict_and_stop(client: httpx.Client, replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="one two three four five")
    short = stream_lines(
        client, "/api/generate", {"model": CODER, "prompt": "x", "options": {"num_predict": 2}}
    )
    assert "".join(c["response"] for c in short) == "one two"
    assert short[-1]["done_reason"] == "length"
    stopped = stream_lines(
        client, "/api/generate", {"model": CODER, "prompt": "x", "options": {"stop": [" four"]}}
    )
    assert "".join(c["response"] for c in stopped) == "one two three"
    assert stopped[-1]["done_reason"] == "stop"


def test_go_style_json_escaping(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="<a & b>")
    chunks = raw_request(
        replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "x"}
    ).chunks()
    assert b"\\u003c" in chunks[0] and b"<" not in b"".join(chunks)
    assert "".join(json.loads(c)["response"] for c in chunks) == "<a & b>"


# ----------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        (
            "/api/generate",
            {"model": "nope:1b", "prompt": "x"},
            404,
            {"error": "model 'nope:1b' not found"},
        ),
        ("/api/chat", {"model": "nope", "messages": []}, 404, {"error": "model 'nope' not found"}),
        ("/api/generate", b"", 400, {"error": "missing request body"}),
        ("/api/chat", b"   ", 400, {"error": "missing request body"}),
        (
            "/api/generate",
            b"{bad json",
            400,
            {"error": "invalid character 'b' looking for beginning of object key string"},
        ),
        ("/api/generate", b'{"model": "x"', 400, {"error": "unexpected EOF"}),
        (
            "/api/generate",
            b'{"model": "qwen2.5-coder:1.5b", "stream": "yes"}',
            400,
            {
                "error": "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool"
            },
        ),
        ("/api/chat", {"messages": []}, 400, {"error": "model is required"}),
        (
            "/api/generate",
            {"model": CODER, "prompt": "x", "think": True},
            400,
            {"error": '"qwen2.5-coder:1.5b" does not support thinking'},
        ),
        (
            "/api/chat",
            {"model": CODER, "messages": [{"role": "user", "content": "x"}], "think": "high"},
            400,
            {"error": '"qwen2.5-coder:1.5b" does not support thinking'},
        ),
        (
            "/api/generate",
            {"model": THINKER, "prompt": "x", "suffix": "y"},
            400,
            {"error": "registry.ollama.ai/library/qwen3:1.7b does not support insert"},
        ),
        (
            "/api/generate",
            {"model": CODER, "prompt": "x", "top_logprobs": 21},
            400,
            {"error": "top_logprobs must be between 0 and 20"},
        ),
    ],
)
def test_request_errors(
    replay_ollama: ReplayOllama,
    path: str,
    body: bytes | dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    resp = raw_request(replay_ollama, "POST", path, body)
    assert resp.status == status
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(resp.body()) == expected
    resp.sock.close()
    event = replay_ollama.wait_for("error")
    assert event["status"] == status


@pytest.mark.parametrize(
    ("rule", "status", "expected"),
    [
        ({"status": 503}, 503, {"error": BUSY_ERROR}),
        ({"status": 500}, 500, {"error": RUNNER_CRASHED_ERROR}),
        (
            {"error": "timed out waiting for llama runner to start - progress 0.00 - "},
            500,
            {"error": "timed out waiting for llama runner to start - progress 0.00 - "},
        ),
        ({"status": 404}, 404, {"error": "model 'qwen2.5-coder:1.5b' not found"}),
        ({"status": 429, "error": "rate limited"}, 429, {"error": "rate limited"}),
    ],
)
def test_scripted_status_errors(
    replay_ollama: ReplayOllama,
    client: httpx.Client,
    rule: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    replay_ollama.add_rule(**rule, once=True)
    resp = client.post("/api/generate", json={"model": CODER, "prompt": "x"})
    assert (resp.status_code, resp.json()) == (status, expected)
    # one-shot: the next request works
    assert client.post("/api/generate", json={"model": CODER, "prompt": "x"}).status_code == 200


def test_cloud_unauthorized_and_disabled(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    req = {"model": "gpt-oss:120b-cloud", "messages": [{"role": "user", "content": "hi"}]}
    ok = stream_lines(client, "/api/chat", req)
    assert all(
        (c["remote_host"], c["remote_model"]) == ("https://ollama.com:443", "gpt-oss:120b")
        for c in ok
    )
    replay_ollama.set_cloud("unauthorized")
    unauthorized = client.post("/api/chat", json=req)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"] == "unauthorized"
    assert unauthorized.json()["signin_url"].startswith("https://ollama.com/connect?name=")
    replay_ollama.set_cloud("disabled")
    disabled = client.post("/api/chat", json=req)
    assert (disabled.status_code, disabled.json()) == (
        403,
        {"error": "ollama cloud is disabled: remote model is unavailable"},
    )
    assert client.get("/api/status").json()["cloud"]["disabled"] is True
    # local models are not affected
    assert client.post("/api/generate", json={"model": CODER, "prompt": "x"}).status_code == 200


def test_mid_stream_error_line(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="a b c d e f", error_after_tokens=3)
    resp = raw_request(replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "x"})
    assert resp.status == 200
    chunks = [json.loads(c) for c in resp.chunks()]  # ends with the terminating chunk
    assert [c["response"] for c in chunks[:3]] == ["a", " b", " c"]
    assert chunks[3] == {"error": RUNNER_CRASHED_ERROR}
    assert len(chunks) == 4
    event = replay_ollama.wait_for("error")
    assert (event["status"], event["tokens_sent"]) == (200, 3)
    assert not replay_ollama.events_of("complete")


def test_mid_stream_error_without_streaming_is_a_500(
    replay_ollama: ReplayOllama, client: httpx.Client
) -> None:
    replay_ollama.add_rule(reply="a b c", error_after_tokens=1, error="boom")
    resp = client.post("/api/generate", json={"model": CODER, "prompt": "x", "stream": False})
    assert (resp.status_code, resp.json()) == (500, {"error": "boom"})


# ----------------------------------------------------------------------------------------------
# Hang-up detection


def test_disconnect_mid_stream_records_tokens_sent(replay_ollama: ReplayOllama) -> None:
    reply = " ".join(f"w{i}" for i in range(200))
    replay_ollama.add_rule(reply=reply, tokens_per_second=100)
    with (
        httpx.Client(base_url=replay_ollama.url) as c,
        c.stream("POST", "/api/generate", json={"model": CODER, "prompt": "x"}) as resp,
    ):
        lines = resp.iter_lines()
        received = [next(lines) for _ in range(3)]
    assert len(received) == 3
    event = replay_ollama.wait_for("disconnect")
    assert 3 <= event["tokens_sent"] < len(tokenize(reply))
    assert event["path"] == "/api/generate" and event["model"] == CODER
    assert not replay_ollama.events_of("complete")


def test_disconnect_before_first_token(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="never", first_token_delay=30)
    sock = connect(replay_ollama)
    payload = json.dumps({"model": CODER, "prompt": "x"}).encode()
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(payload), payload)
    )
    replay_ollama.wait_for("request")
    sock.close()
    assert replay_ollama.wait_for("disconnect")["tokens_sent"] == 0


def test_stall_keeps_connection_open_until_client_leaves(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="a b c d", stall_after_tokens=1)
    resp = raw_request(replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "x"})
    assert json.loads(resp.next_chunk() or b"")["response"] == "a"
    replay_ollama.wait_for("stall")
    resp.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):  # open, but silent
        resp.next_chunk()
    resp.sock.close()
    assert replay_ollama.wait_for("disconnect")["tokens_sent"] == 1


def test_connection_is_reused_after_a_stream(replay_ollama: ReplayOllama) -> None:
    sock = connect(replay_ollama)
    resp = RawResponse(sock)
    for _ in range(2):
        payload = json.dumps({"model": CODER, "prompt": "gen: reverse a string"}).encode()
        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )
        resp.headers.clear()
        resp.read_head()
        assert json.loads(resp.chunks()[-1])["done"] is True
    sock.close()
    second = replay_ollama.wait_for("complete", lambda e: e["id"] == 2)
    assert second["done_reason"] == "stop"
    assert not replay_ollama.events_of("disconnect")


# ----------------------------------------------------------------------------------------------
# Rules and the default reply


def test_rules_newest_first_once_sticky_and_filters(
    replay_ollama: ReplayOllama, client: httpx.Client
) -> None:
    def text(path: str, model: str = CODER, prompt: str = "gen: add two numbers") -> str:
        if path == "/api/chat":
            body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
            return "".join(c["message"]["content"] for c in stream_lines(client, path, body))
        body = {"model": model, "prompt": prompt, "think": False}
        return "".join(c["response"] for c in stream_lines(client, path, body))

    replay_ollama.add_rule(match="add", reply="sticky")
    replay_ollama.add_rule(match="add", reply="first only", once=True)
    replay_ollama.add_rule(match="add", reply="chat only", path="chat")
    replay_ollama.add_rule(match="add", reply="qwen3 only", model=THINKER)
    replay_ollama.add_rule(match=lambda body: body.get("suffix") == "END", reply="by predicate")
    assert text("/api/generate") == "first only"
    assert text("/api/generate") == "sticky"
    assert text("/api/chat") == "chat only"
    assert text("/api/generate", model=THINKER) == "qwen3 only"
    suffixed = {"model": CODER, "prompt": "x", "suffix": "END"}
    assert "".join(c["response"] for c in stream_lines(client, "/api/generate", suffixed)) == (
        "by predicate"
    )
    assert replay_ollama.rules[1].used == 1
    unmatched = text("/api/generate", prompt="gen: reverse a string")
    assert unmatched.startswith("def reverse_string(text):")


def test_gap_rules_match_the_line_at_a_fill_in_the_middle_gap(
    replay_ollama: ReplayOllama, client: httpx.Client
) -> None:
    replay_ollama.add_rule(gap="gen: first", reply="FIRST = 1\n")
    replay_ollama.add_rule(gap="gen: second", reply="SECOND = 2\n")

    def fim(prompt: str, suffix: str | None) -> str:
        body: dict[str, object] = {"model": CODER, "prompt": prompt}
        if suffix is not None:
            body["suffix"] = suffix
        return "".join(c["response"] for c in stream_lines(client, "/api/generate", body))

    # the line at the gap decides, not an earlier prefixed line of the context
    assert fim("# gen: first\n\n# gen: second\n", "end = 1\n") == "SECOND = 2\n"
    assert fim("# gen: first\n", "\n# gen: second\n") == "FIRST = 1\n"
    # no suffix (or an empty one, which turns Ollama's FIM template off): not a FIM request
    assert not fim("# gen: first\n", None).startswith("FIRST")
    assert not fim("# gen: first\n", "").startswith("FIRST")
    # chat requests never match a gap rule
    chat = {"model": CODER, "messages": [{"role": "user", "content": "# gen: first\n"}]}
    text = "".join(c["message"]["content"] for c in stream_lines(client, "/api/chat", chat))
    assert not text.startswith("FIRST")
    # and the rule works from JSON (the demo's rules file)
    assert Rule.from_dict({"gap": "gen: x", "reply": "y"}).gap == "gen: x"
    request = replay_ollama.events_of("request")[0]
    assert request["body"]["suffix"] == "end = 1\n"  # what the client sent is recorded


def test_explicit_tokens(client: httpx.Client, replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(tokens=["de", "f f", "()"])
    lines = stream_lines(client, "/api/generate", {"model": CODER, "prompt": "x"})
    assert [c["response"] for c in lines[:-1]] == ["de", "f f", "()"]


def test_default_reply_is_code_for_the_instruction() -> None:
    py = default_reply("# gen: write a function that adds two numbers")
    assert py.startswith("def add_two_numbers(a, b):") and "return a + b" in py
    compile(py, "<reply>", "exec")
    js = default_reply("// gen: reverse a string\nlanguage: javascript")
    assert "function reverseString(text)" in js
    lua = default_reply("-- gen: fibonacci in lua")
    assert lua.startswith("--- ") and "local function fibonacci(n)" in lua
    assert default_reply("sum: what does this do").endswith(".\n")
    assert default_reply("fix: broken\n```python\nx = 1\n```\n") == "x = 1\n"
    assert default_reply("anything at all") == default_reply("anything at all")
    assert extract_instruction("context\n# gen: sort a list\nmore") == "sort a list"
    assert extract_instruction("Instruction: make tea") == "make tea"


def test_default_reply_understands_typilot_prompts() -> None:
    header = "File: a.ts\nLanguage: typescript\n\n"
    gen = (
        f"{header}import x\n<<<CURSOR>>>\nexport {{}}\n\n"
        "Task: write the typescript code that belongs at <<<CURSOR>>>: check if a number is "
        "prime. Reply with only that code."
    )
    assert extract_instruction(gen) == "check if a number is prime"
    assert "function checkNumberPrime(n: any) {" in default_reply(gen)
    fix = (
        "File: a.py\nLanguage: python\n\nCode before it:\n\nCode to fix:\n"
        "def add(a, b):\n    return a - b\n\nCode after it:\n\n\nTask: Fix the bugs. Reply "
        "with the complete corrected replacement for the code to fix, nothing else."
    )
    assert default_reply(fix) == "def add(a, b):\n    return a - b\n"
    summary = (
        "File: a.py\nLanguage: python\n\nCode to summarize:\ndef add(a, b):\n    return a + b\n"
        "\n\nTask: Summarize what this code does. Reply with 1-3 short plain sentences."
    )
    assert default_reply(summary).startswith("Defines `add`.")


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="unknown rule keys"):
        Rule.from_dict({"mach": "x"})
    assert Rule.from_dict({"_comment": "why", "match": "x"}).match == "x"
    with pytest.raises(ValueError, match="path"):
        Rule(path="embed")
    with pytest.raises(ValueError, match="tokens_per_second"):
        Rule(tokens_per_second=0)
    with pytest.raises(ValueError, match="loopback"):
        ReplayOllama("0.0.0.0")


@given(st.text())
def test_tokenize_round_trips(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokenize_makes_word_pieces() -> None:
    tokens = tokenize("def internationalization(x):\n    return x")
    assert tokens[:3] == ["def", " intern", "ationa"]
    assert "\n   " in tokens and " return" in tokens
    assert all(tokens)


# ----------------------------------------------------------------------------------------------
# Event log, control API, async use, CLI


def test_request_events_and_wait_for(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    client.post(
        "/api/generate",
        json={"model": CODER, "prompt": "x", "options": {"temperature": 0}},
        headers={"Authorization": "Bearer k"},
    )
    request = replay_ollama.wait_for("request", lambda e: e["path"] == "/api/generate")
    assert request["body"]["options"] == {"temperature": 0}
    assert request["headers"]["authorization"] == "Bearer k"
    assert request["method"] == "POST"
    done = replay_ollama.wait_for("complete")
    assert done["id"] == request["id"]
    with pytest.raises(TimeoutError, match="no 'disconnect' event"):
        replay_ollama.wait_for("disconnect", timeout=0.05)
    replay_ollama.reset()
    assert replay_ollama.events == []


def test_control_api(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    added = client.post(
        "/_replay/rules", json=[{"match": "ping", "reply": "pong"}, {"match": "x", "status": 503}]
    )
    assert added.json() == {"rules": 2}
    assert client.post("/_replay/rules", json={"nope": 1}).status_code == 400
    body = {"model": CODER, "prompt": "ping"}
    assert "".join(c["response"] for c in stream_lines(client, "/api/generate", body)) == "pong"
    waited = client.get("/_replay/wait", params={"kind": "complete", "timeout": 5}).json()
    assert waited["text"] == "pong"
    events = client.get("/_replay/events").json()["events"]
    assert [e["kind"] for e in events] == ["request", "complete"]
    only = client.get("/_replay/events", params={"kind": "request"}).json()["events"]
    assert only[0]["body"] == body
    assert client.get("/_replay/wait", params={"kind": "stall", "timeout": 0.05}).status_code == 408
    client.post("/_replay/models", json={"models": ["tiny:1b"]})
    assert [m["name"] for m in client.get("/api/tags").json()["models"]] == ["tiny:1b"]
    client.post("/_replay/settings", json={"cloud": "disabled", "tokens_per_second": 500})
    assert replay_ollama.settings()["tokens_per_second"] == 500
    assert client.post("/_replay/reset").json() == {"ok": True}
    assert client.get("/_replay/events").json() == {"events": []}
    assert replay_ollama.rules == []
    assert len(client.get("/api/tags").json()["models"]) == 4


async def test_async_client_and_wait_for_async(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(reply="async ok")
    async with (
        httpx.AsyncClient(base_url=replay_ollama.url) as c,
        c.stream("POST", "/api/chat", json={"model": CODER, "messages": []}) as load,
    ):
        assert (await load.aread()) and load.status_code == 200
    async with (
        httpx.AsyncClient(base_url=replay_ollama.url) as c,
        c.stream("POST", "/api/generate", json={"model": CODER, "prompt": "x"}) as resp,
    ):
        text = "".join([json.loads(line)["response"] async for line in resp.aiter_lines()])
    assert text == "async ok"
    event = await replay_ollama.wait_for_async("complete", lambda e: e["text"] == "async ok")
    assert event["path"] == "/api/generate"


def test_cli_prints_listening_and_stops_on_sigterm(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "hello", "reply": "from file"}]))
    with subprocess.Popen(
        ollama_process("--port", "0", "--rules", str(rules), "--tps", "500", "--log-events"),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            _check_cli(proc)
        finally:
            if proc.poll() is None:
                proc.kill()


def _check_cli(proc: subprocess.Popen[str]) -> None:
    """Talk to the CLI server, stop it with SIGTERM, read its event log."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.fullmatch(r"LISTENING (http://127\.0\.0\.1:\d+)\n", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    url = match.group(1)
    assert httpx.get(url).text == "Ollama is running"
    with httpx.Client(base_url=url) as c:
        lines = stream_lines(c, "/api/generate", {"model": CODER, "prompt": "hello"})
    assert "".join(x["response"] for x in lines) == "from file"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None
    logged = [json.loads(line) for line in proc.stderr.read().splitlines()]
    assert [e["kind"] for e in logged] == ["request", "request", "complete"]
    assert logged[-1]["text"] == "from file"


def test_concurrent_streams_and_stop_while_clients_hang(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="stall", reply="a b c", stall_after_tokens=1)
    replay_ollama.add_rule(match="fast", reply="quick reply")
    stalled = raw_request(
        replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "stall"}
    )
    assert stalled.next_chunk() is not None
    replay_ollama.wait_for("stall")
    with httpx.Client(base_url=replay_ollama.url) as c:  # a second stream is not held up
        lines = stream_lines(c, "/api/generate", {"model": CODER, "prompt": "fast"})
    assert "".join(x["response"] for x in lines) == "quick reply"
    replay_ollama.stop()  # must not hang on the stalled connection
    stalled.sock.settimeout(5)
    with pytest.raises((EOFError, ConnectionError)):
        stalled.next_chunk()
    stalled.sock.close()


def test_connection_close_and_expect_continue(replay_ollama: ReplayOllama) -> None:
    sock = connect(replay_ollama)
    payload = json.dumps({"model": CODER, "prompt": "x"}).encode()
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(payload)
    )
    resp = RawResponse(sock)
    resp.read_head()
    assert resp.status == 100
    sock.sendall(payload)
    resp.headers.clear()
    resp.read_head()
    assert resp.status == 200 and resp.headers["connection"] == "close"
    assert json.loads(resp.chunks()[-1])["done"] is True
    assert sock.recv(1) == b""  # the server closed its side
    sock.close()


def test_reset_restores_constructor_state(replay_ollama: ReplayOllama) -> None:
    replay_ollama.set_models(["a:1b"])
    replay_ollama.set_cloud("disabled")
    replay_ollama.configure(tokens_per_second=10, version="0.1.0")
    replay_ollama.add_rule(reply="x")
    replay_ollama.reset()
    settings = replay_ollama.settings()
    assert settings["models"][0] == CODER and len(settings["models"]) == 4
    assert (settings["cloud"], settings["tokens_per_second"]) == ("ok", 150.0)
    assert settings["version"] != "0.1.0"
    assert replay_ollama.rules == []


def test_cold_load_then_warm(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    replay_ollama.configure(load_delay=0.3)
    body = {"model": CODER, "prompt": "x"}
    cold = stream_lines(client, "/api/generate", body)[-1]
    warm = stream_lines(client, "/api/generate", body)[-1]
    second = replay_ollama.wait_for("complete", lambda e: e["id"] == 2)
    first = replay_ollama.wait_for("complete", lambda e: e["id"] == 1)
    assert (first["cold"], second["cold"]) == (True, False)
    assert cold["load_duration"] >= 0.3e9
    assert warm["load_duration"] < cold["load_duration"]
    ps = client.get("/api/ps").json()["models"]
    assert [m["name"] for m in ps] == [CODER]
    # keep_alive 0 unloads once the request is done; the next request is cold again
    stream_lines(client, "/api/generate", {**body, "keep_alive": 0})
    replay_ollama.wait_for("complete", lambda e: e["id"] == 4)
    assert client.get("/api/ps").json()["models"] == []
    forever = stream_lines(client, "/api/generate", {**body, "keep_alive": -1})
    assert forever[-1]["load_duration"] >= 0.3e9
    replay_ollama.wait_for("complete", lambda e: e["id"] == 6)
    expires = client.get("/api/ps").json()["models"][0]["expires_at"]
    assert int(expires[:4]) > 2100


def test_queue_and_server_busy(replay_ollama: ReplayOllama, client: httpx.Client) -> None:
    replay_ollama.configure(num_parallel=1, max_queue=1)
    replay_ollama.add_rule(match="hold", reply="a b c", stall_after_tokens=1)
    holder = raw_request(replay_ollama, "POST", "/api/generate", {"model": CODER, "prompt": "hold"})
    assert holder.next_chunk() is not None
    sock = connect(replay_ollama)
    payload = json.dumps({"model": CODER, "prompt": "second"}).encode()
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(payload), payload)
    )
    assert replay_ollama.wait_for("queued")["position"] == 1
    busy = client.post("/api/generate", json={"model": CODER, "prompt": "third"})
    assert (busy.status_code, busy.json()) == (503, {"error": BUSY_ERROR})
    holder.sock.close()  # frees the slot: the queued request runs
    second = RawResponse(sock)
    second.read_head()
    assert second.status == 200
    final = json.loads(second.chunks()[-1])
    assert final["done"] is True
    sock.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 300.0),
        (0, 0.0),
        ("0", 0.0),
        (30, 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("300ms", 0.3),
        (-1, float("inf")),
        ("-1m", float("inf")),
    ],
)
def test_parse_keep_alive(value: object, seconds: float) -> None:
    assert parse_keep_alive(value) == pytest.approx(seconds)


def test_bad_keep_alive_is_a_400(client: httpx.Client) -> None:
    resp = client.post("/api/generate", json={"model": CODER, "prompt": "x", "keep_alive": "5"})
    assert (resp.status_code, resp.json()) == (400, {"error": 'time: missing unit in duration "5"'})
    resp = client.post("/api/chat", json={"model": CODER, "messages": [], "keep_alive": "soon"})
    assert resp.json() == {"error": 'time: invalid duration "soon"'}


def test_cli_refuses_non_loopback_and_busy_port(replay_ollama: ReplayOllama) -> None:
    public = subprocess.run(
        ollama_process("--host", "0.0.0.0"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert public.returncode == 2 and "loopback" in public.stderr
    taken = subprocess.run(
        ollama_process("--port", str(replay_ollama.port)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taken.returncode == 1 and "could not listen" in taken.stderr
    assert "LISTENING" not in taken.stdout


def test_error_before_the_first_token_gets_a_real_status(
    replay_ollama: ReplayOllama, client: httpx.Client
) -> None:
    replay_ollama.add_rule(reply="a b", error_after_tokens=0)
    resp = client.post("/api/generate", json={"model": CODER, "prompt": "x"})
    assert (resp.status_code, resp.json()) == (500, {"error": RUNNER_CRASHED_ERROR})
    assert resp.headers["content-type"] == "application/json"


def test_chunked_request_body_and_head_tags(replay_ollama: ReplayOllama) -> None:
    payload = json.dumps({"model": CODER, "prompt": "gen: sort a list", "stream": False}).encode()
    half = len(payload) // 2
    sock = connect(replay_ollama)
    sock.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (half, payload[:half])
        + b"%x\r\n%s\r\n" % (len(payload) - half, payload[half:])
        + b"0\r\n\r\n"
    )
    resp = RawResponse(sock)
    resp.read_head()
    assert resp.status == 200
    assert json.loads(resp.body())["response"].startswith("def sort_list(items):")
    sock.sendall(b"HEAD /api/tags HTTP/1.1\r\nHost: x\r\n\r\n")
    resp.headers.clear()
    resp.read_head()
    assert resp.status == 200 and int(resp.headers["content-length"]) > 0
    sock.close()


def test_stop_then_start_again_on_the_same_port() -> None:
    server = ReplayOllama().start()
    url, port = server.url, server.port
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    server.start()
    try:
        assert server.port == port and httpx.get(url).text == "Ollama is running"
    finally:
        server.stop()
