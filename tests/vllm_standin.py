"""A stdlib stand-in for vLLM 0.33's OpenAI-compatible server, routing the way vLLM routes.

vLLM serves FastAPI/Starlette under uvicorn. What matters for a gateway in front of it:
- uvicorn percent-DECODES the request path and does not normalise it (no ``..`` removal); the
  query string plays no part in routing.
- ``--api-key`` is enforced by a middleware only when the decoded path starts with ``/v1``
  (vllm/entrypoints/openai/api_server.py, AuthenticationMiddleware); every other route is open.
- ``/metrics`` is a Starlette Mount whose regex vLLM rewrites to ``^/metrics(?P<path>.*)$`` (to avoid a
  307 redirect), so any decoded path starting with ``/metrics`` reaches Prometheus.
- ``/invocations`` (SageMaker) serves a completion with no key at all.

Binds 127.0.0.1 on an ephemeral port; a context manager that stops its server thread on exit.
Every request is recorded in ``requests`` as (method, raw request target, Authorization header).

With a ``Timing`` (``timing=`` or ``set_timing``), streamed chat completions follow a deterministic
timing model, for ``python -m stacks bench``: at most ``max_concurrency`` requests generate at once
(the rest wait in line, first come first served: the wait adds to their time to first token); a
request that has a slot sends its first token ``ttft`` seconds later, then one token every
``token_delay`` seconds, ``max_tokens`` tokens in all (one per streamed chunk); every
``fail_every``-th streamed request fails, with HTTP 500 before any token (``failure="status"``) or
by closing the connection halfway through the stream (``failure="broken"``). Prompt tokens are
counted one per whitespace-separated word.

Run by itself: ``python tests/vllm_standin.py --help``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote

DEFAULT_API_KEY = "standin-key-0123456789abcdef0123456789"
DEFAULT_MODEL = "swiss-ai/Apertus-8B-Instruct-2509"
VLLM_VERSION = "0.33.0"
METRICS_TEXT = ("# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                "# TYPE vllm:num_requests_waiting gauge\n"
                'vllm:num_requests_waiting{model_name="%s"} 0.0\n')
STREAM_DELAY = 0.005  # seconds between SSE chunks, so time-to-first-token and the decode rate are measurable
REPLY_WORDS = ("Grüezi", "!", " Apertus", " is", " here", ".")
ENGINE_DEAD = {"error": {"message": "EngineCore encountered an issue: the engine is dead",
                         "type": "InternalServerError", "code": 500}}


@dataclass(frozen=True)
class Timing:
    """The stand-in's timing model for streamed chat completions (see the module doc)."""

    ttft: float = 0.05  # seconds from getting a slot to the first token (the prefill)
    token_delay: float = 0.01  # seconds between two tokens (the inter-token latency)
    max_concurrency: int = 0  # requests generating at once; more wait in line; 0: no limit
    fail_every: int = 0  # every Nth streamed request fails; 0: none
    failure: str = "status"  # "status": HTTP 500 before any token; "broken": the stream stops halfway
    default_output_tokens: int = 16  # when the request gives no max_tokens

    def __post_init__(self) -> None:
        if self.failure not in ("status", "broken"):
            raise ValueError(f"failure must be 'status' or 'broken', not {self.failure!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: "VllmStandIn"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like uvicorn; Caddy reuses upstream connections
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet tests

    # one entry point for every method: routing is by decoded path, like Starlette
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    def _raw_target(self) -> str:
        # self.path has leading '//' collapsed by http.server (gh-87389); the request line has the raw
        # target exactly as sent
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _dispatch(self) -> None:
        standin = self.server.standin
        target = self._raw_target()
        standin.requests.append((self.command, target, self.headers.get("Authorization")))
        body = self._read_body()
        raw_path = target.partition("?")[0]
        if "://" in raw_path:  # absolute-form target: keep only its path
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        path = unquote(raw_path, errors="replace")

        if (standin.api_key is not None and self.command != "OPTIONS" and path.startswith("/v1")
                and self.headers.get("Authorization", "") != f"Bearer {standin.api_key}"):
            self._json(401, {"error": "Unauthorized"})
            return
        if path.startswith("/metrics"):
            self._text(200, METRICS_TEXT % standin.model, "text/plain; version=0.0.4; charset=utf-8")
            return
        route = _ROUTES.get(path)
        if route is None:
            self._json(404, {"detail": "Not Found"})
            return
        methods, handler = route
        if self.command not in methods:
            self._json(405, {"detail": "Method Not Allowed"})
            return
        handler(self, body)

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = self._read_chunked()
        else:
            data = self.rfile.read(length) if length else b""
        if not data:
            return None
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _read_chunked(self) -> bytes:
        data = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    # -- responses --------------------------------------------------------------------------
    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        self._send(status, text.encode(), content_type)

    def _stream(self, events: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in [*(f"data: {json.dumps(e)}\n\n" for e in events), "data: [DONE]\n\n"]:
            time.sleep(STREAM_DELAY)
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- routes -----------------------------------------------------------------------------
    def _health(self, _body: dict[str, Any] | None) -> None:
        standin = self.server.standin
        if standin.engine_error:
            # vLLM 0.33: EngineDeadError -> an empty 503 (vllm/entrypoints/serve/instrumentator/health.py)
            self._send(503, b"", "application/json")
        elif time.monotonic() - standin.started < standin.ready_after:
            self._json(503, {"error": {"message": "Service Unavailable", "type": "ServiceUnavailable",
                                       "code": 503}})
        else:
            self._send(200, b"", "application/json")

    def _version(self, _body: dict[str, Any] | None) -> None:
        self._json(200, {"version": VLLM_VERSION})

    def _docs(self, _body: dict[str, Any] | None) -> None:
        self._text(200, "<!DOCTYPE html><html><head><title>vLLM - Swagger UI</title></head></html>",
                   "text/html; charset=utf-8")

    def _openapi(self, _body: dict[str, Any] | None) -> None:
        self._json(200, {"openapi": "3.1.0", "info": {"title": "vLLM", "version": VLLM_VERSION},
                         "paths": {path: {} for path in _ROUTES}})

    def _tokenize(self, body: dict[str, Any] | None) -> None:
        text = str((body or {}).get("prompt", ""))
        tokens = list(range(1, len(text.split()) + 1))
        self._json(200, {"count": len(tokens), "max_model_len": 4096, "tokens": tokens})

    def _detokenize(self, body: dict[str, Any] | None) -> None:
        self._json(200, {"prompt": " ".join(f"t{t}" for t in (body or {}).get("tokens", []))})

    def _load(self, _body: dict[str, Any] | None) -> None:
        self._json(200, {"server_load": 0})

    def _models(self, _body: dict[str, Any] | None) -> None:
        model = self.server.standin.model
        self._json(200, {"object": "list", "data": [{
            "id": model, "object": "model", "created": int(time.time()), "owned_by": "vllm",
            "root": model, "parent": None, "max_model_len": 4096}]})

    def _model_error(self, body: dict[str, Any]) -> bool:
        """vLLM's answers before generating: a dead engine, or a model it does not serve."""
        standin = self.server.standin
        if standin.engine_error:
            self._json(500, ENGINE_DEAD)
            return True
        model = body.get("model")
        if model is not None and model != standin.model:
            self._json(404, {"error": {"message": f"The model `{model}` does not exist.",
                                       "type": "NotFoundError", "param": "model", "code": 404}})
            return True
        return False

    def _chat(self, body: dict[str, Any] | None) -> None:
        body = body or {}
        if self._model_error(body):
            return
        standin = self.server.standin
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        tool = _first_tool(body) if standin.tool_calls and body.get("tool_choice") != "none" else None
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])
                            if isinstance(m, dict))
        completion_tokens = 1 if tool else len(REPLY_WORDS)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        head = {"id": ident, "created": created, "model": standin.model}
        if body.get("stream") and standin.timing is not None and not tool:
            self._timed_stream(head, body, prompt_tokens)
            return
        if body.get("stream"):
            chunk = {**head, "object": "chat.completion.chunk"}
            events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                             "finish_reason": None}]}]
            if tool:
                events.append({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": 0, **tool}]}, "finish_reason": None}]})
                finish = "tool_calls"
            else:
                events += [{**chunk, "choices": [{"index": 0, "delta": {"content": word},
                                                  "finish_reason": None}]} for word in REPLY_WORDS]
                finish = "stop"
            events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                events.append({**chunk, "choices": [], "usage": usage})
            self._stream(events)
            return
        if tool:
            message = {"role": "assistant", "content": None, "tool_calls": [tool]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": self.server.standin.reply_text or "".join(REPLY_WORDS),
                       "tool_calls": []}
            finish = "stop"
        self._json(200, {**head, "object": "chat.completion", "usage": usage,
                         "choices": [{"index": 0, "message": message, "finish_reason": finish}]})

    def _timed_stream(self, head: dict[str, Any], body: dict[str, Any], prompt_tokens: int) -> None:
        """A streamed chat completion under the stand-in's Timing: wait for a slot, prefill, decode."""
        standin = self.server.standin
        timing = standin.timing
        assert timing is not None
        number = standin.count_streamed()
        failing = bool(timing.fail_every) and number % timing.fail_every == 0
        if failing and timing.failure == "status":
            self._json(500, ENGINE_DEAD)
            return
        tokens = int(body.get("max_tokens") or body.get("max_completion_tokens")
                     or timing.default_output_tokens)
        slots = standin.slots
        if slots is not None:
            slots.acquire()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            chunk = {**head, "object": "chat.completion.chunk"}

            def send(event: dict[str, Any] | str) -> None:
                data = (event if isinstance(event, str) else f"data: {json.dumps(event)}\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            time.sleep(timing.ttft)
            send({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]})
            for index in range(tokens):
                if index:
                    time.sleep(timing.token_delay)
                if failing and index == tokens // 2:
                    self.close_connection = True  # the stream breaks: no final chunk, no [DONE]
                    return
                send({**chunk, "choices": [{"index": 0, "delta": {"content": f" t{index}"},
                                            "finish_reason": None}]})
            send({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                send({**chunk, "choices": [], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                    "total_tokens": prompt_tokens + tokens}})
            send("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a cancelled benchmark)
        finally:
            if slots is not None:
                slots.release()

    def _completion(self, body: dict[str, Any] | None) -> None:
        body = body or {}
        if self._model_error(body):
            return
        standin = self.server.standin
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                "created": int(time.time()), "model": standin.model}
        prompt_tokens = len(str(body.get("prompt", "")).split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(REPLY_WORDS),
                 "total_tokens": prompt_tokens + len(REPLY_WORDS)}
        if body.get("stream"):
            events = [{**head, "choices": [{"index": 0, "text": word, "finish_reason": None}]}
                      for word in REPLY_WORDS]
            events.append({**head, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                events.append({**head, "choices": [], "usage": usage})
            self._stream(events)
            return
        self._json(200, {**head, "usage": usage, "choices": [
            {"index": 0, "text": "".join(REPLY_WORDS), "finish_reason": "stop", "logprobs": None}]})

    def _invocations(self, body: dict[str, Any] | None) -> None:
        # SageMaker's entry point: a chat request if it has messages, else a completion; no key asked
        if body is not None and "messages" in body:
            self._chat(body)
        else:
            self._completion(body)


def _first_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """A call to the request's first function tool, arguments filled from its JSON schema."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    function = tools[0].get("function") or {}
    schema = function.get("parameters") or {}
    properties = schema.get("properties") or {"city": {"type": "string"}}
    names = schema.get("required") or list(properties)
    samples = {"string": "Bern", "integer": 1, "number": 1.0, "boolean": True, "array": [],
               "object": {}}
    arguments = {name: "Bern" if name == "city" else samples.get(
        (properties.get(name) or {}).get("type", "string"), "Bern") for name in names}
    return {"id": f"chatcmpl-tool-{uuid.uuid4().hex[:16]}", "type": "function",
            "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)}}


_Route = tuple[frozenset[str], Callable[[_Handler, "dict[str, Any] | None"], None]]
_GET, _POST = frozenset({"GET", "HEAD"}), frozenset({"POST"})
_ROUTES: dict[str, _Route] = {
    "/health": (_GET, _Handler._health),
    "/ping": (_GET | _POST, _Handler._health),
    "/version": (_GET, _Handler._version),
    "/docs": (_GET, _Handler._docs),
    "/redoc": (_GET, _Handler._docs),
    "/openapi.json": (_GET, _Handler._openapi),
    "/tokenize": (_POST, _Handler._tokenize),
    "/detokenize": (_POST, _Handler._detokenize),
    "/invocations": (_POST, _Handler._invocations),
    "/load": (_GET, _Handler._load),
    "/v1/models": (_GET, _Handler._models),
    "/v1/chat/completions": (_POST, _Handler._chat),
    "/v1/completions": (_POST, _Handler._completion),
}


class VllmStandIn:
    """``vllm serve --api-key K`` as seen from the network, on 127.0.0.1:<ephemeral port>."""

    def __init__(self, *, api_key: str | None = DEFAULT_API_KEY, model: str = DEFAULT_MODEL,
                 ready_after: float = 0.0, engine_error: bool = False, tool_calls: bool = True,
                 reply_text: str | None = None, timing: Timing | None = None, port: int = 0) -> None:
        self.api_key = api_key
        self.reply_text = reply_text  # the chat reply instead of the usual greeting (non-streamed)
        self.model = model
        self.ready_after = ready_after
        self.engine_error = engine_error
        self.tool_calls = tool_calls
        self.requests: list[tuple[str, str, str | None]] = []
        self.started = time.monotonic()
        self.timing: Timing | None = None
        self.slots: threading.Semaphore | None = None
        self._streamed = 0
        self._count_lock = threading.Lock()
        self.set_timing(timing)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.standin = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def set_timing(self, timing: Timing | None) -> None:
        """Streamed chat completions follow ``timing`` from now on (None: the fixed greeting)."""
        self.timing = timing
        limited = timing is not None and timing.max_concurrency > 0
        self.slots = threading.Semaphore(timing.max_concurrency) if limited else None
        with self._count_lock:
            self._streamed = 0

    def count_streamed(self) -> int:
        """1 for the first streamed request under the timing model, 2 for the next, ..."""
        with self._count_lock:
            self._streamed += 1
            return self._streamed

    def __enter__(self) -> "VllmStandIn":
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"vllm-standin-{self.port}")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/vllm_standin.py",
        description="A local stand-in for vLLM's OpenAI-compatible server on 127.0.0.1, to try "
                    "`python -m stacks smoke` and `python -m stacks bench` without a GPU.",
        epilog="Then: APERTUS_API_KEY=<key> python -m stacks smoke --endpoint http://127.0.0.1:<port>/v1")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY,
                        help="the key /v1 requires (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the served model name (default: %(default)s)")
    parser.add_argument("--ttft", type=float, default=0.05,
                        help="seconds to the first streamed token (default 0.05)")
    parser.add_argument("--token-delay", type=float, default=0.01,
                        help="seconds between streamed tokens (default 0.01)")
    parser.add_argument("--max-concurrency", type=int, default=8,
                        help="requests generating at once, the rest queue (default 8; 0: no limit)")
    parser.add_argument("--fail-every", type=int, default=0,
                        help="every Nth streamed request fails (default 0: none)")
    parser.add_argument("--failure", choices=("status", "broken"), default="status",
                        help="how it fails: HTTP 500, or a stream cut halfway (default status)")
    args = parser.parse_args(argv)
    timing = Timing(args.ttft, args.token_delay, args.max_concurrency, args.fail_every, args.failure)
    with VllmStandIn(api_key=args.api_key, model=args.model, timing=timing, port=args.port) as standin:
        print(f"vLLM stand-in at {standin.url}/v1 (key: {standin.api_key}); {timing}; Ctrl-C stops it",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # python tests/vllm_standin.py: a local endpoint to try smoke and bench against
    raise SystemExit(main())
