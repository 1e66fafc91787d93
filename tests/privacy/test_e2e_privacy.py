"""Nothing leaves the machine: the proof, end to end, with the real server over stdio.

The network tests run the language server under ``strace -f`` inside a network namespace
that has nothing but loopback (``unshare -n``, then ``ip link set lo up``), with the replay
Ollama listening inside the same namespace. Every socket address the server's processes hand
to ``connect()`` (or ``sendto``/``sendmsg``, which UDP can use without connecting) is read back
from the trace, and any address that is not loopback fails the test: the same proof a packet
capture gives, and stronger, since a refused attempt shows up too. The namespace also has
its own ``/etc/hosts`` (a private mount namespace) naming ``ollama-box.test`` -> 127.0.0.1: a
host the guard must treat as remote, yet one that only ever reaches this machine, so that
``privacy.allowRemoteHost`` can be shown to work without any traffic leaving the machine.

The cloud-model tests need no namespace: they check that no generate/chat request reaches the
replay server.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests import prerequisites
from tests.e2e import harness
from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.replay.ollama import ReplayOllama
from tests.replay.openai import ReplayOpenAI

REPLY = "def add(a, b):\n    return a + b\n"
SOURCE = "import math\n# gen: add two numbers\nprint(1)\n"
EXPECTED = "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"
REMOTE_NAME = "ollama-box.test"  # resolves to 127.0.0.1 only inside the test namespace
CLONE_NEWNET = 0x40000000
TRACED_CALLS = "connect,sendto,sendmsg,sendmmsg"


# --- the namespace ----------------------------------------------------------------------------


class NetNamespace:
    """A network namespace with only ``lo`` (up), and a mount namespace whose /etc/hosts
    names :data:`REMOTE_NAME`; kept alive by a ``sleep`` holder process."""

    def __init__(self, holder: subprocess.Popen[str]) -> None:
        self.holder = holder
        self.net = f"/proc/{holder.pid}/ns/net"
        self.mnt = f"/proc/{holder.pid}/ns/mnt"

    def enter_cmd(self) -> list[str]:
        return ["nsenter", f"--net={self.net}", f"--mount={self.mnt}", "--"]

    def start_replay(self, factory: Any = ReplayOllama) -> Any:
        """A replay server (Ollama's, or another ``factory``) whose listening socket lives in
        this namespace: it is started from a thread that joined the namespace (threads it
        starts inherit it)."""
        libc = ctypes.CDLL(None, use_errno=True)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                fd = os.open(self.net, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns: {os.strerror(err)}")
                finally:
                    os.close(fd)
                outcome["replay"] = factory().start()
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run, name="replay-in-netns")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["replay"]


def _require_tools() -> None:
    prerequisites.require(
        None if sys.platform.startswith("linux") else f"Linux (this is {sys.platform})",
        "network namespaces and strace are Linux-only: run the privacy proof on Linux",
    )
    prerequisites.require_root("create a network namespace and join it with setns (CAP_SYS_ADMIN)")
    prerequisites.require_tools("unshare", "nsenter", "strace", "ip", "mount")


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[NetNamespace]:
    _require_tools()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n::1 localhost\n127.0.0.1 {REMOTE_NAME}\n")
    script = (
        f"ip link set lo up && mount --bind {hosts} /etc/hosts && echo ready && exec sleep 3600"
    )
    holder = subprocess.Popen(
        ["unshare", "--net", "--mount", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stderr is not None
    if holder.stdout.readline().strip() != "ready":
        holder.wait(10)
        reason = holder.stderr.read().strip()
        prerequisites.missing(
            f"a network namespace (unshare --net --mount: {reason})",
            "run as root in a container or VM that allows unshare (CI does)",
        )
    ns = NetNamespace(holder)
    probe = subprocess.run(
        [*ns.enter_cmd(), "strace", "-f", "-qq", "-e", "trace=connect", "-o", "/dev/null", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        prerequisites.require(
            f"permission to strace (strace: {probe.stderr.strip()})" if probe.returncode else None,
            "allow ptrace (CAP_SYS_PTRACE, or a seccomp profile that permits it)",
        )
        yield ns
    finally:
        holder.kill()
        holder.wait(10)


@pytest.fixture
def replay_in_netns(netns: NetNamespace) -> Iterator[ReplayOllama]:
    try:
        replay = netns.start_replay()
    except PermissionError as exc:
        prerequisites.missing(f"joining the network namespace (setns: {exc})", "run as root")
    try:
        yield replay
    finally:
        replay.stop()


@pytest.fixture
def openai_in_netns(netns: NetNamespace) -> Iterator[ReplayOpenAI]:
    try:
        server: ReplayOpenAI = netns.start_replay(ReplayOpenAI)
    except PermissionError as exc:
        prerequisites.missing(f"joining the network namespace (setns: {exc})", "run as root")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def traced_server(netns: NetNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the harness start the server inside the namespace under strace; returns the
    trace file."""
    trace = tmp_path / "server.strace"
    cmd = [
        *netns.enter_cmd(),
        "strace", "-f", "-qq", "-e", f"trace={TRACED_CALLS}", "-e", "signal=none",
        "-o", str(trace),
        *harness.SERVER_CMD,
    ]  # fmt: skip
    monkeypatch.setattr(harness, "SERVER_CMD", cmd)
    return trace


# --- reading the trace ------------------------------------------------------------------------

_FAMILY = re.compile(r"sa_family=(AF_INET6?)\b")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDR4 = re.compile(r'inet_addr\("([^"]+)"\)')
_ADDR6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')


def inet_endpoints(trace: Path) -> list[tuple[str, int, str]]:
    """(address, port, syscall line) of every IPv4/IPv6 socket address in the trace."""
    found = []
    for line in trace.read_text(errors="replace").splitlines():
        for match in _FAMILY.finditer(line):
            rest = line[match.end() :]
            port = _PORT.search(rest)
            addr = (_ADDR6 if match.group(1) == "AF_INET6" else _ADDR4).search(rest)
            assert port and addr, f"cannot read the socket address in: {line}"
            found.append((addr.group(1), int(port.group(1)), line))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def assert_loopback_only(trace: Path) -> list[tuple[str, int, str]]:
    endpoints = inet_endpoints(trace)
    leaving = [line for address, _port, line in endpoints if not is_loopback(address)]
    assert not leaving, "connections to non-loopback addresses:\n" + "\n".join(leaving)
    dns = [line for _a, port, line in endpoints if port == 53]
    assert not dns, "DNS queries:\n" + "\n".join(dns)
    return endpoints


# --- driving the editor -----------------------------------------------------------------------


@pytest.fixture
async def session_factory(
    typilot_home: dict[str, str],
) -> AsyncIterator[Any]:
    editors: list[Editor] = []

    async def start(ollama_url: str | None, settings: dict[str, Any]) -> Editor:
        editor = await start_editor(server_env(typilot_home, ollama_url), settings)
        editors.append(editor)
        return editor

    yield start
    for editor in editors:
        if not editor.client.stopped:
            await stop_and_wait(editor)


async def stop_and_wait(editor: Editor) -> None:
    """Shut the server down and wait for it (and strace, which writes the whole trace
    before it exits)."""
    await stop_editor(editor)
    server = getattr(editor.client, "_server", None)
    if server is not None:
        await server.wait()


async def run_gen(editor: Editor, name: str = "calc.py") -> harness.Doc:
    doc = editor.open(name, SOURCE)
    ended = len(editor.progress_ends())  # before: a refused run may end before run_line returns
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(count=ended + 1)
    return doc


def messages(editor: Editor) -> list[str]:
    return [m.message for m in editor.client.messages]


def progress_titles(editor: Editor) -> list[str]:
    return [
        r.title
        for reports in editor.client.progress_reports.values()
        for r in reports
        if isinstance(r, types.WorkDoneProgressBegin)
    ]


# --- the network proofs -----------------------------------------------------------------------


async def test_full_gen_run_connects_to_loopback_only(
    replay_in_netns: ReplayOllama, traced_server: Path, session_factory: Any
) -> None:
    replay_in_netns.add_rule(match="add two numbers", reply=REPLY)
    editor = await session_factory(replay_in_netns.url, {})
    doc = await run_gen(editor)
    assert doc.text == EXPECTED
    assert len(replay_in_netns.generation_requests()) == 1
    await stop_and_wait(editor)
    endpoints = assert_loopback_only(traced_server)
    # the trace did see the run: the server connected to the replay Ollama
    assert ("127.0.0.1", replay_in_netns.port) in {(a, p) for a, p, _ in endpoints}


@pytest.mark.parametrize("host", ["http://192.0.2.10:11434", f"http://{REMOTE_NAME}:11434"])
async def test_remote_host_refused_with_no_connect_attempt(
    replay_in_netns: ReplayOllama, traced_server: Path, session_factory: Any, host: str
) -> None:
    editor = await session_factory(None, {"ollama": {"host": host}})
    doc = await run_gen(editor)
    assert doc.text == SOURCE  # nothing lost, nothing written
    refusals = [m for m in messages(editor) if "not a loopback address" in m]
    assert refusals, messages(editor)
    assert host in refusals[0] and "typilot.privacy.allowRemoteHost" in refusals[0]
    await stop_and_wait(editor)
    # not one IPv4/IPv6 address was handed to the kernel: no connect, no DNS query
    assert inet_endpoints(traced_server) == []
    assert replay_in_netns.events == []


async def test_allow_remote_host_works(
    replay_in_netns: ReplayOllama, traced_server: Path, session_factory: Any
) -> None:
    replay_in_netns.add_rule(match="add two numbers", reply=REPLY)
    host = f"http://{REMOTE_NAME}:{replay_in_netns.port}"
    editor = await session_factory(
        None, {"ollama": {"host": host}, "privacy": {"allowRemoteHost": True}}
    )
    doc = await run_gen(editor)
    assert doc.text == EXPECTED
    doc2 = await run_gen(editor, "other.py")
    assert doc2.text == EXPECTED
    titles = progress_titles(editor)
    assert len(titles) == 2 and all("remote host" in t for t in titles), titles
    warnings = [m for m in messages(editor) if "another machine" in m]
    assert len(warnings) == 1, messages(editor)  # once per session
    await stop_and_wait(editor)
    endpoints = assert_loopback_only(traced_server)
    assert ("127.0.0.1", replay_in_netns.port) in {(a, p) for a, p, _ in endpoints}


# --- the same proofs for the OpenAI-compatible backend ---------------------------------------


async def test_openai_gen_run_connects_to_loopback_only(
    openai_in_netns: ReplayOpenAI, traced_server: Path, session_factory: Any
) -> None:
    openai_in_netns.reply = REPLY
    settings = {"backend": "openai", "openai": {"baseUrl": openai_in_netns.base_url}}
    editor = await session_factory(None, settings)
    doc = await run_gen(editor)
    assert doc.text == EXPECTED
    # FIM tried first (501 for this model), then chat: both on loopback
    assert [e["path"] for e in openai_in_netns.requests() if e["method"] == "POST"] == [
        "/infill",
        "/v1/chat/completions",
    ]
    await stop_and_wait(editor)
    endpoints = assert_loopback_only(traced_server)
    assert ("127.0.0.1", openai_in_netns.port) in {(a, p) for a, p, _ in endpoints}


@pytest.mark.parametrize("url", ["http://192.0.2.10:8080/v1", f"http://{REMOTE_NAME}:8080/v1"])
async def test_openai_remote_url_refused_with_no_connect_attempt(
    openai_in_netns: ReplayOpenAI, traced_server: Path, session_factory: Any, url: str
) -> None:
    editor = await session_factory(None, {"backend": "openai", "openai": {"baseUrl": url}})
    doc = await run_gen(editor)
    assert doc.text == SOURCE
    refusals = [m for m in messages(editor) if "not a loopback address" in m]
    assert refusals and url in refusals[0], messages(editor)
    assert "typilot.privacy.allowRemoteHost" in refusals[0]
    await stop_and_wait(editor)
    assert inet_endpoints(traced_server) == []
    assert openai_in_netns.events == []


async def test_openai_allow_remote_host_works(
    openai_in_netns: ReplayOpenAI, traced_server: Path, session_factory: Any
) -> None:
    openai_in_netns.reply = REPLY
    url = f"http://{REMOTE_NAME}:{openai_in_netns.port}/v1"
    editor = await session_factory(
        None,
        {"backend": "openai", "openai": {"baseUrl": url}, "privacy": {"allowRemoteHost": True}},
    )
    doc = await run_gen(editor)
    assert doc.text == EXPECTED
    titles = progress_titles(editor)
    assert titles and all("remote host allowed" in t for t in titles), titles
    await stop_and_wait(editor)
    endpoints = assert_loopback_only(traced_server)
    assert ("127.0.0.1", openai_in_netns.port) in {(a, p) for a, p, _ in endpoints}


# --- the cloud guard --------------------------------------------------------------------------

TEAM_MODEL = {
    "name": "team-coder:latest",
    "remote_host": "https://ollama.com:443",
    "remote_model": "gpt-oss:120b",
}


@pytest.mark.parametrize(
    ("model", "asks_show"),
    [("gpt-oss:120b-cloud", False), ("deepseek-v4-pro:cloud", False), ("team-coder:latest", True)],
)
async def test_cloud_models_refused_before_any_prompt(
    replay_ollama: ReplayOllama, session_factory: Any, model: str, asks_show: bool
) -> None:
    replay_ollama.set_models(["qwen2.5-coder:1.5b", TEAM_MODEL])
    editor = await session_factory(replay_ollama.url, {"ollama": {"model": model}})
    doc = await run_gen(editor)
    assert doc.text == SOURCE
    refusals = [m for m in messages(editor) if "refused to use model" in m]
    assert refusals, messages(editor)
    assert model in refusals[0] and "leave this machine" in refusals[0]
    assert "typilot.privacy.allowCloudModels" in refusals[0]
    assert replay_ollama.generation_requests() == []
    paths = [e["path"] for e in replay_ollama.events_of("request")]
    assert paths == (["/api/show"] if asks_show else [])


@pytest.mark.parametrize(
    "model", ["gpt-oss:120b-cloud", "deepseek-v4-pro:cloud", "team-coder:latest"]
)
async def test_allow_cloud_models_works(
    replay_ollama: ReplayOllama, session_factory: Any, model: str
) -> None:
    replay_ollama.set_models(["gpt-oss:120b-cloud", "deepseek-v4-pro:cloud", TEAM_MODEL])
    replay_ollama.add_rule(match="add two numbers", reply=REPLY)
    editor = await session_factory(
        replay_ollama.url, {"ollama": {"model": model}, "privacy": {"allowCloudModels": True}}
    )
    doc = await run_gen(editor)
    assert doc.text == EXPECTED
    assert [e["body"]["model"] for e in replay_ollama.generation_requests()] == [model]
    titles = progress_titles(editor)
    assert titles and all("cloud models allowed" in t for t in titles), titles
    assert len([m for m in messages(editor) if "another machine" in m]) == 1


# --- logs -------------------------------------------------------------------------------------

SECRET_INSTRUCTION = "compute the zebracorn checksum"
SECRET_REPLY = "def zebracorn_checksum(data):\n    return sum(data) % 251\n"


@pytest.mark.parametrize("trace", [False, True])
async def test_logs_carry_no_content_unless_trace(
    replay_ollama: ReplayOllama,
    session_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trace: bool,
) -> None:
    log_file = tmp_path / "server.log"
    server = " ".join(f"'{part}'" for part in harness.SERVER_CMD)
    monkeypatch.setattr(
        harness,
        "SERVER_CMD",
        ["sh", "-c", f"exec {server} --log-level DEBUG 2>'{log_file}'"],
    )
    replay_ollama.add_rule(match="zebracorn", reply=SECRET_REPLY)
    editor = await session_factory(replay_ollama.url, {"trace": trace})
    doc = editor.open("secret.py", f"# gen: {SECRET_INSTRUCTION}\n")
    await editor.run_line(doc, 0)
    await editor.wait_runs_done()
    assert doc.text == SECRET_REPLY
    await stop_and_wait(editor)
    log = log_file.read_text()
    assert "DEBUG" in log  # the server did log, at the most verbose level
    leaked = [word for word in ("zebracorn", "sum(data)") if word in log]
    if trace:
        assert leaked, "with typilot.trace the content should be in the log"
    else:
        assert not leaked, f"content in the log without trace: {leaked}"


async def test_openai_logs_carry_no_content_or_key(
    session_factory: Any,
    typilot_home: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-test-9f8e7d6c5b4a"
    server = ReplayOpenAI().start()
    server.reply = SECRET_REPLY
    server.required_key = key
    log_file = tmp_path / "server.log"
    cmd = " ".join(f"'{part}'" for part in harness.SERVER_CMD)
    monkeypatch.setattr(
        harness, "SERVER_CMD", ["sh", "-c", f"exec {cmd} --log-level DEBUG 2>'{log_file}'"]
    )
    typilot_home["TYPILOT_E2E_KEY"] = key  # the environment the editor starts the server in
    try:
        settings = {
            "backend": "openai",
            "openai": {"baseUrl": server.base_url, "apiKeyEnv": "TYPILOT_E2E_KEY"},
        }
        editor = await session_factory(None, settings)
        doc = editor.open("secret.py", f"# gen: {SECRET_INSTRUCTION}\n")
        await editor.run_line(doc, 0)
        await editor.wait_runs_done()
        assert doc.text == SECRET_REPLY
        await stop_and_wait(editor)
    finally:
        server.stop()
    assert all(e["authorization"] == f"Bearer {key}" for e in server.requests())
    log = log_file.read_text()
    assert "DEBUG" in log
    leaked = [word for word in ("zebracorn", "sum(data)", key) if word in log]
    assert not leaked, f"content or key in the log: {leaked}"
