"""Answering one ``/api/generate`` or ``/api/chat`` request that Ollama accepted: load the model
if it is cold, read the prompt, then stream one token per NDJSON chunk at the decode rate and a
``done:true`` line whose nanosecond stats agree with the wall clock (or one JSON object with
``stream:false``). Scripted faults: an error line mid-stream, a stall, a client that hangs up."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any

from tests.replay.ollama.connection import Connection, HangupWatch
from tests.replay.ollama.events import EventLog
from tests.replay.ollama.models import LoadedModels
from tests.replay.ollama.replies import Piece, ReplyPlan, plan_reply, prompt_token_count
from tests.replay.ollama.rules import Rule
from tests.replay.ollama.wire import go_json, parse_keep_alive, rfc3339_ns
from tests.replay.tokens import tokenize

_NS = 1e9
_CONTEXT_VOCABULARY = 151_000  # token ids in `context` stay below a Qwen vocabulary's size


@dataclass(frozen=True)
class Pacing:
    """How fast a reply comes: the decode rate, the delay before the first token, and the prompt
    reading rate (prompt tokens / s added to that delay; None: not modelled)."""

    tokens_per_second: float
    first_token_delay: float
    prefill_rate: float | None

    @property
    def interval(self) -> float:
        return 1.0 / self.tokens_per_second

    def for_rule(self, rule: Rule | None) -> Pacing:
        """The server's pacing with the rule's own values where it sets them."""
        if rule is None:
            return self
        return replace(
            self,
            tokens_per_second=rule.tokens_per_second or self.tokens_per_second,
            first_token_delay=(
                self.first_token_delay if rule.first_token_delay is None else rule.first_token_delay
            ),
            prefill_rate=rule.prefill_rate or self.prefill_rate,
        )


@dataclass(frozen=True)
class Generation:
    """One accepted generation request: what its answer is produced from."""

    id: int
    path: str
    body: dict[str, Any]
    model: dict[str, Any]  # the catalogue entry (see models.py)
    rule: Rule | None
    pacing: Pacing
    thinking: bool  # does the reply think first (a thinking model, `think` not false)?
    arrival: float  # time.perf_counter() when the request arrived
    load_s: float  # seconds to load the model first (0 when it is warm)

    @property
    def is_chat(self) -> bool:
        return self.path == "/api/chat"

    @property
    def model_name(self) -> str:
        """The model as the client spelled it (``qwen3`` stays ``qwen3``)."""
        return str(self.body.get("model") or "")

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is not False

    @property
    def keep_alive(self) -> float:
        return parse_keep_alive(self.body.get("keep_alive"))

    @property
    def load_only(self) -> bool:
        """An empty prompt (no messages) only loads the model, or unloads it."""
        if self.is_chat:
            return not self.body.get("messages")
        return self.body.get("prompt") in (None, "")


class GenerationAnswer:
    """Produces the answer to one ``Generation`` on a connection; ``run()`` says whether the
    connection can serve another request."""

    def __init__(
        self,
        gen: Generation,
        conn: Connection,
        watch: HangupWatch,
        log: EventLog,
        loaded: LoadedModels,
    ) -> None:
        self.gen = gen
        self.conn = conn
        self.watch = watch
        self.log = log
        self.loaded = loaded
        self.prompt_tokens = prompt_token_count(gen.body, gen.is_chat)
        prefill = gen.pacing.prefill_rate
        self.prefill_s = self.prompt_tokens / prefill if prefill else 0.0
        self.sent = 0
        self.text: list[str] = []
        self.thoughts: list[str] = []
        self.t_first = 0.0

    async def run(self) -> bool:
        gen = self.gen
        if gen.load_only:
            return await self._load_only()
        plan = plan_reply(gen.rule, gen.body, gen.is_chat, gen.thinking)
        if not await self._read_prompt():
            return self._disconnected()
        self.t_first = time.perf_counter()
        if not gen.streaming:
            return await self._answer_whole(plan)
        return await self._stream(plan)

    # -- phases --------------------------------------------------------------------------------

    async def _load_only(self) -> bool:
        gen = self.gen
        unload = gen.keep_alive == 0
        if not unload and not await self.watch.sleep(gen.load_s):
            return self._disconnected()
        self.loaded.keep(gen.model, gen.keep_alive)
        out = self._base()
        if gen.is_chat:
            out["message"] = {"role": "assistant", "content": ""}
        else:
            out["response"] = ""
        out["done"] = True
        out["done_reason"] = "unload" if unload else "load"
        await self.conn.send_json(200, out)
        self._complete(out["done_reason"], "", streamed=False)
        return True

    async def _read_prompt(self) -> bool:
        """Load a cold model, then read the prompt; False if the client left meanwhile."""
        gen = self.gen
        if not await self.watch.sleep(gen.load_s):
            return False
        self.loaded.keep(gen.model, max(gen.keep_alive, 1.0))  # loaded while it runs
        if not await self.watch.sleep(gen.pacing.first_token_delay + self.prefill_s):
            self.loaded.keep(gen.model, gen.keep_alive)
            return False
        return True

    async def _answer_whole(self, plan: ReplyPlan) -> bool:
        """``stream:false``: the whole reply as one object, once it is all generated."""
        total = len(plan.pieces)
        if plan.error_after is not None:
            total = min(plan.error_after, total)
        if plan.stall_after is not None:
            self._record("stall")
            await self.watch.forever()
            return self._disconnected()
        if not await self.watch.sleep(max(0, total - 1) * self.gen.pacing.interval):
            return self._disconnected()
        for piece in plan.pieces[:total]:
            self._keep(piece)
        if plan.error_after is not None:
            self._record_error(500, plan.error_message)
            await self.conn.send_json(500, {"error": plan.error_message})
            return True
        await self.conn.send_json(200, self._final_line(plan, whole=True))
        self._complete(plan.done_reason, plan.final_text, streamed=False)
        return True

    async def _stream(self, plan: ReplyPlan) -> bool:
        """One chunk per piece at the decode rate, then the final line (or the scripted fault)."""
        interval = self.gen.pacing.interval
        schedule = self.t_first
        for index, piece in enumerate(plan.pieces):
            if self._fault_due(plan):
                break
            if index:
                schedule += interval
                if not await self.watch.sleep(schedule - time.perf_counter()):
                    return self._disconnected()
            elif self.watch.gone:
                return self._disconnected()
            try:
                await self._send_line(self._chunk(piece))
            except ConnectionError:
                return self._disconnected()
            self._keep(piece)
        try:
            return await self._end_stream(plan, schedule + interval)
        except ConnectionError:
            return self._disconnected()

    async def _end_stream(self, plan: ReplyPlan, final_at: float) -> bool:
        if plan.stall_after is not None and self.sent >= plan.stall_after:
            self._record("stall")
            await self.watch.forever()
            return self._disconnected()
        if self.sent and not await self.watch.sleep(final_at - time.perf_counter()):
            return self._disconnected()
        if plan.error_after is not None:
            return await self._stream_error(plan.error_message)
        await self._send_line(self._final_line(plan, whole=False))
        await self.conn.end_chunked()
        self._complete(plan.done_reason, plan.final_text, streamed=True)
        return True

    async def _stream_error(self, message: str) -> bool:
        if not self.conn.headers_sent:
            # Nothing written yet: Ollama's streamResponse answers with a real status.
            self._record_error(500, message, with_count=False)
            await self.conn.send(500, go_json({"error": message}), "application/json")
            return True
        await self.conn.send_chunk(go_json({"error": message}) + b"\n")
        await self.conn.end_chunked()
        self._record_error(200, message)
        return True

    # -- pieces of the answer ------------------------------------------------------------------

    def _fault_due(self, plan: ReplyPlan) -> bool:
        return any(limit is not None and self.sent >= limit for limit in plan.fault_limits)

    def _keep(self, piece: Piece) -> None:
        self.sent += 1
        (self.thoughts if piece.thinking else self.text).append(piece.text)

    async def _send_line(self, obj: dict[str, Any]) -> None:
        if not self.conn.headers_sent:
            await self.conn.start_chunked()
        await self.conn.send_chunk(go_json(obj) + b"\n")

    def _base(self) -> dict[str, Any]:
        model = self.gen.model
        remote = (
            {"remote_model": model["remote_model"], "remote_host": model["remote_host"]}
            if model["remote_host"]
            else {}
        )
        return {"model": self.gen.model_name, **remote, "created_at": rfc3339_ns()}

    def _chunk(self, piece: Piece) -> dict[str, Any]:
        out = self._base()
        content = "" if piece.thinking else piece.text
        if self.gen.is_chat:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if piece.thinking:
                message["thinking"] = piece.text
            out["message"] = message
        else:
            out["response"] = content
            if piece.thinking:
                out["thinking"] = piece.text
        out["done"] = False
        return out

    def _final_line(self, plan: ReplyPlan, *, whole: bool) -> dict[str, Any]:
        """The ``done:true`` line; with ``whole`` it carries the whole reply (``stream:false``)."""
        t_end = time.perf_counter()
        out = self._base()
        text = "".join(self.text) + plan.final_text if whole else plan.final_text
        thinking = "".join(self.thoughts) if whole else ""
        if self.gen.is_chat:
            out["message"] = {"role": "assistant", "content": text}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = text
            if thinking:
                out["thinking"] = thinking
        out["done"] = True
        out["done_reason"] = plan.done_reason
        context = self._context_ids(plan.final_text)
        if context:
            out["context"] = context
        out.update(self._stats(t_end, plan.final_text))
        return out

    def _stats(self, t_end: float, final_text: str) -> dict[str, Any]:
        """The final line's durations, from the real waits (Go's omitempty drops the zeros)."""
        gen, interval = self.gen, self.gen.pacing.interval
        n = self.sent + (1 if final_text else 0)
        eval_ns = int(((t_end - self.t_first) + interval) * _NS) if n else 0
        prompt_s = self.prefill_s if gen.pacing.prefill_rate else gen.pacing.first_token_delay * 0.2
        prompt_ns = int(prompt_s * _NS)
        waited_ns = int((self.t_first - gen.arrival) * _NS)
        load_ns = max(0, waited_ns - prompt_ns - (int(interval * _NS) if n else 0))
        total_ns = int((time.perf_counter() - gen.arrival) * _NS)
        out = {
            "total_duration": max(total_ns, load_ns + prompt_ns + eval_ns),
            "load_duration": load_ns,
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": n,
            "eval_duration": eval_ns,
        }
        return {k: v for k, v in out.items() if v}

    def _context_ids(self, final_text: str) -> list[int]:
        """Generate's deprecated ``context``: token ids of prompt and reply (none when raw)."""
        if self.gen.is_chat or self.gen.body.get("raw"):
            return []
        joined = (self.gen.body.get("prompt") or "") + "".join(self.text) + final_text
        return [
            int(hashlib.md5(t.encode()).hexdigest()[:6], 16) % _CONTEXT_VOCABULARY
            for t in tokenize(joined)
        ]

    # -- events --------------------------------------------------------------------------------

    def _record(self, kind: str, **data: Any) -> None:
        gen = self.gen
        self.log.record(
            kind, id=gen.id, path=gen.path, model=gen.model_name, tokens_sent=self.sent, **data
        )

    def _record_error(self, status: int, message: str, *, with_count: bool = True) -> None:
        extra = {"tokens_sent": self.sent} if with_count else {}
        self.log.record(
            "error", id=self.gen.id, path=self.gen.path, status=status, error=message, **extra
        )

    def _disconnected(self) -> bool:
        """The client hung up: logged with how many tokens it had been sent."""
        self._record("disconnect")
        return False

    def _complete(self, done_reason: str, final_text: str, *, streamed: bool) -> None:
        self._record(
            "complete",
            done_reason=done_reason,
            text="".join(self.text) + final_text,
            thinking="".join(self.thoughts),
            stream=streamed,
            cold=self.gen.load_s > 0,
        )
