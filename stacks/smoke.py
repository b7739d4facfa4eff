"""``python -m stacks smoke [--stack NAME | --endpoint URL] [--timeout S] [--ca-file PATH] [--json]``.

After ``pulumi up``: waits for the endpoint's /health, then talks to it with the ``openai`` SDK the
way a client would (models, a chat completion, a streamed one, a tool call) and checks that the key
(and only the right key) is required and that vLLM's open routes (/metrics, /docs, /openapi.json,
/tokenize, /invocations) are not public. ``--timeout`` bounds the whole run: every request gets at
most the time left. One line per step, a summary, exit 0 when everything passed and 1 otherwise; 2
for a usage error. The API key never appears in what it prints.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from . import common
from .common import StackFileError, UsageError, selected_stack

HEALTH_PATH = "/health"
POLL_SECONDS = 2.0
REQUEST_SECONDS = 120.0  # one request at most; a cold replica's first request can take a while
# an answer smoke reads is at most this large: vLLM's replies here are a few kilobytes (a model list,
# a 32-token completion); a larger one is not vLLM, and reading it would only fill memory and the terminal
MAX_BODY_BYTES = 1_000_000
# vLLM serves these without a key (vllm/entrypoints/openai/api_server.py: the key middleware only
# guards /v1; /metrics is a mount matching every path that starts with /metrics)
NOT_PUBLIC = ("/metrics", "/metrics/", "/docs", "/openapi.json", "/tokenize", "/invocations")
PROBE_BODIES = {"/tokenize": {"prompt": "hi"},  # POST-only routes: a GET would only say 405
                "/invocations": {"prompt": "hi", "max_tokens": 1}}
REFUSED = {401, 403, 404}  # what a gateway in front of vLLM answers for a route it keeps private
REACHED = {400, 405, 422}  # vLLM (FastAPI) judged the request itself: the route is open
WAITING_STATUSES = {502, 503, 504}  # starting: the gateway has no upstream yet, or vLLM is loading
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CA_HINT = ("for an endpoint whose certificate comes from Caddy's internal CA pass --ca-file <root.crt> "
           "(Caddy's data directory, pki/authorities/local/root.crt), or set SSL_CERT_FILE")


@dataclass(frozen=True)
class Step:
    status: str  # ok | warn | FAIL
    name: str
    found: str
    seconds: float | None = None

    def line(self) -> str:
        took = f" ({self.seconds:.1f} s)" if self.seconds is not None else ""
        return f"{self.status:4s}  {self.name}: {self.found}{took}"


class Stop(Exception):
    """A failure after which the remaining steps cannot run."""


class Spent(Exception):
    """The --timeout budget ran out."""


class Unreachable(Exception):
    """No point in waiting: the name does not resolve, or TLS refuses the certificate."""


class BodyTooLarge(Exception):
    """The server sent more than the read limit."""


class Deadline:
    """One budget for the whole run; each request gets at most what is left of it."""

    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def request(self, cap: float = REQUEST_SECONDS) -> float:
        left = self.left()
        if left <= 0:
            raise Spent
        return min(cap, left)


# the keys this run sends (the real one and the wrong one): clip() takes them out before shortening,
# so a cut can never leave part of a key behind
_SENT_KEYS: set[str] = set()


# a key this long is random enough that any occurrence is the key, even glued to other text (an
# upstream echoing it after other characters); a shorter one (a test key like "test") is hidden only
# where it stands as a word of its own, so "testing" stays "testing"
ANYWHERE_LENGTH = 16


def _whole(secret: str) -> str:
    """A pattern for the secret: anywhere when it is long, else as a whole word (where it starts or
    ends with a letter, digit or _, no such character may touch it there)."""
    if len(secret) >= ANYWHERE_LENGTH:
        return re.escape(secret)
    before = r"(?<![A-Za-z0-9_])" if re.match(r"\w", secret[0], re.ASCII) else ""
    after = r"(?![A-Za-z0-9_])" if re.match(r"\w", secret[-1], re.ASCII) else ""
    return before + re.escape(secret) + after


FRAGMENT = 8  # any 8 characters of a long key in a row are hidden: a key split or cut by a server


def _mask_fragments(text: str, secret: str) -> str:
    """Hide every run of FRAGMENT or more characters that is a piece of ``secret`` (a key the server
    split in parts, or cut off at a read limit)."""
    pieces = {secret[i:i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
    hidden = [False] * len(text)
    for i in range(len(text) - FRAGMENT + 1):
        if text[i:i + FRAGMENT] in pieces:
            hidden[i:i + FRAGMENT] = [True] * FRAGMENT
    if not any(hidden):
        return text
    return re.sub(r"\x00+", "***", "".join("\x00" if h else c for c, h in zip(text, hidden)))


def redact(text: str, key: str | None) -> str:
    """Every occurrence of the key (and of the keys smoke sent), also URL-encoded or in pieces of 8
    characters or more, and any bearer token, out of a string that will be printed; a short key
    inside a longer word ("test" in "testing") stays."""
    for secret in sorted(filter(None, {key, *_SENT_KEYS}), key=len, reverse=True):
        for form in sorted({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)},
                           key=len, reverse=True):
            text = re.sub(_whole(form), "***", text)
        if len(secret) >= ANYWHERE_LENGTH:
            text = _mask_fragments(text.replace("\x00", "\\x00"), secret)
    return re.sub(r"(?i)(bearer(?:\s+|%20|\+))[^\s\"',;)&]+", r"\1***", text)


def printable(text: str) -> str:
    """Non-printable characters (terminal escapes, bidi controls, NUL) as repr writes them: \\x1b."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def clip(text: str, limit: int) -> str:
    """A printable excerpt of a server's text: the keys taken out, escapes shown as text, shortened
    (the text is cut to a bounded length first, so a huge answer costs nothing)."""
    return printable(redact(text[:limit * 4 + 64], None))[:limit]


def startup_budget_seconds(plan: dict[str, Any]) -> int:
    """The plan's cold-start budget: the one figure the hosts' startup probes and smoke share."""
    return int(plan["startupWindowSeconds"])


def base_url(endpoint: str) -> str:
    """The API base without /v1: where /health and the other vLLM routes live."""
    endpoint = endpoint.rstrip("/")
    return endpoint[: -len("/v1")] if endpoint.endswith("/v1") else endpoint


def stack_endpoint(stack: str, root: Path, run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                   which: Callable[[str], str | None] = shutil.which) -> tuple[str, str, str | None]:
    """Endpoint, API key and model from the stack's outputs."""
    if not which("pulumi"):
        raise UsageError("the pulumi CLI is not on PATH: install it, or pass --endpoint <url>/v1 with the "
                         "key in APERTUS_API_KEY")
    try:
        result = run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack], cwd=root,
                     capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as error:
        raise UsageError(f"pulumi stack output --stack {stack} did not finish in {error.timeout:.0f} s (waiting "
                         "for a passphrase? set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"pulumi stack output --stack {stack} failed: {reason}")
    try:
        outputs = json.loads(result.stdout or "{}")
    except ValueError as error:
        raise UsageError(f"pulumi stack output --stack {stack} printed no JSON ({error})") from error
    if not isinstance(outputs, dict) or not outputs.get("endpoint") or not outputs.get("apiKey"):
        raise UsageError(f"stack '{stack}' has no endpoint/apiKey outputs: run pulumi up first")
    return outputs["endpoint"], outputs["apiKey"], outputs.get("model")


# ---------------------------------------------------------------- plain HTTP probes

def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs (SSL_CERT_FILE honoured), or only --ca-file's."""
    return ssl.create_default_context(cafile=ca_file)


def _causes(error: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__ or getattr(error, "reason", None)
        error = error if isinstance(error, BaseException) else None
    return chain


def unreachable(error: BaseException, url: str) -> str | None:
    """The one line for a failure that waiting cannot fix (DNS, TLS), or None."""
    host = urllib.parse.urlsplit(url).hostname
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {host} ({cause.strerror or cause}): check the endpoint's host name"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: {host}'s certificate is not trusted ({cause.verify_message or cause}); {CA_HINT}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake with {host} failed ({cause.reason or cause}): is it an https endpoint?"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back as an HTTPError: smoke reports it, it does not follow it


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
                context: ssl.SSLContext | None = None, body: dict[str, Any] | None = None
                ) -> tuple[int | None, str]:
    """Status and a short reason (a redirect's reason is its Location); None when nothing answered
    in ``timeout`` seconds, in all (urllib's timeout is per read: a server trickling bytes would hold
    it for ever). Raises Unreachable for DNS and TLS failures and for a server that is not HTTP."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = _http_status(url, headers, timeout, context, body)
        except BaseException as error:  # noqa: BLE001 - handed to the caller as is
            result["error"] = error

    worker = threading.Thread(target=work, daemon=True, name="smoke-http")
    worker.start()
    worker.join(timeout + 0.5)
    if worker.is_alive():
        return None, f"no complete answer within {timeout:.0f} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def _http_status(url: str, headers: dict[str, str] | None, timeout: float,
                 context: ssl.SSLContext | None, body: dict[str, Any] | None) -> tuple[int | None, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, clip(str(response.reason), 80)
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            return error.code, f"redirects to {clip(error.headers.get('Location') or 'nowhere', 160)}"
        text = error.read(300).decode("utf-8", "replace")
        return error.code, _error_message(text) or clip(str(error.reason), 80)
    except http.client.HTTPException as error:  # BadStatusLine, too many headers: no HTTP server there
        raise Unreachable(f"{url} did not answer as an HTTP server ({type(error).__name__}: "
                          f"{clip(str(error), 80)}): is the endpoint right?") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        fatal = unreachable(error, url)
        if fatal:
            raise Unreachable(fatal) from None
        reason = getattr(error, "reason", error)
        if isinstance(reason, (TimeoutError, socket.timeout)) or isinstance(error, TimeoutError):
            return None, f"no answer within {timeout:.0f} s"
        return None, clip(str(reason), 160)


def _error_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return clip(body.strip(), 120)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return clip(str(error.get("message", "")), 160)
    return clip(str(error or data.get("detail", "") if isinstance(data, dict) else data), 160)


class Progress:
    """One updating line on a terminal; a line every 15 s otherwise (logs, CI)."""

    def __init__(self, stream: TextIO, key: str | None = None):
        self.stream, self.tty, self.last, self.key = stream, stream.isatty(), -1e9, key

    def show(self, text: str, elapsed: float) -> None:
        text = printable(redact(text, self.key))
        if self.tty:
            self.stream.write(f"\r\033[K{text}")
            self.stream.flush()
        elif elapsed - self.last >= 15:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last = elapsed

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def wait_for_health(base: str, deadline: Deadline, poll: float, progress: Progress,
                    context: ssl.SSLContext | None = None) -> Step:
    url = base + HEALTH_PATH
    started = time.monotonic()
    last = "no answer yet"
    status: int | None = None
    while True:
        elapsed = time.monotonic() - started
        try:
            status, reason = http_status(url, timeout=deadline.request(min(10.0, max(poll, 1.0))),
                                         context=context)
        except Spent:
            break
        except Unreachable as error:
            progress.done()
            raise Stop(Step("FAIL", "health", str(error), elapsed)) from None
        if status == 200:
            progress.done()
            return Step("ok", "health", f"{url} answered 200", time.monotonic() - started)
        if status is not None and 300 <= status < 400:
            progress.done()
            raise Stop(Step("FAIL", "health", f"{url} {reason} ({status}): give the API's final "
                            "https://<host>/v1 base URL", elapsed))
        if status is not None and status >= 500 and status not in WAITING_STATUSES:
            progress.done()
            raise Stop(Step("FAIL", "health", f"engine error: {url} answered {status} ({reason}); "
                            "read the vLLM logs (the stack's logsCommand output)", elapsed))
        if status is not None and status not in WAITING_STATUSES:
            progress.done()
            raise Stop(Step("FAIL", "health", f"unexpected answer: {url} answered {status} ({reason}); "
                            "is the endpoint the API's .../v1 base URL?", elapsed))
        last = f"{status} {reason}" if status else reason
        if deadline.left() <= 0:
            break
        progress.show(f"waiting for {url} (vLLM loading the model): {elapsed:.0f} s of {deadline.seconds:.0f} s, "
                      f"last answer: {last}", elapsed)
        time.sleep(max(0.0, min(poll, deadline.left())))
    progress.done()
    hint = ("vLLM answers 503 when its engine is dead (or the platform has no ready replica "
            "yet): read the vLLM logs (the stack's logsCommand output), then run smoke again"
            if status == 503 else
            "a first start downloads the weights: wait and run smoke again, or raise --timeout")
    raise Stop(Step("FAIL", "health", f"timeout: {url} not ready after {deadline.seconds:.0f} s (last: {last}); "
                    f"{hint}", time.monotonic() - started))


def key_check(base: str, name: str, what: str, headers: dict[str, str], deadline: Deadline,
              context: ssl.SSLContext | None) -> Step:
    """/v1/models must refuse a request without the right key (401/403); no answer proves nothing."""
    try:
        status, reason = http_status(base + "/v1/models", headers=headers, timeout=deadline.request(10.0),
                                     context=context)
    except Spent:
        raise Stop(Step("FAIL", name, f"timeout: the --timeout budget ({deadline.seconds:.0f} s) ran out")) from None
    except Unreachable as error:
        raise Stop(Step("FAIL", name, str(error))) from None
    if status in (401, 403):
        return Step("ok", name, f"/v1/models {what}: {status}")
    if status is not None and 200 <= status < 300:
        return Step("FAIL", name, f"/v1/models {what} answered {status}: the endpoint is open to anyone")
    return Step("FAIL", name, f"could not tell: /v1/models {what} answered {status or ''} {reason}".replace("  ", " ")
                + " (expected 401 or 403)")


# ---------------------------------------------------------------- the client's view

def api_failure(error: Exception, seconds: float) -> str:
    """One line for what the openai SDK raised."""
    import openai

    if isinstance(error, openai.AuthenticationError):
        return "wrong key: the endpoint refused it (401)"
    if isinstance(error, openai.PermissionDeniedError):
        return "the key was refused (403): is your address in allowedCidrs?"
    if isinstance(error, openai.APIStatusError):
        kind = "engine error" if error.status_code >= 500 else "refused"
        return f"{kind} ({error.status_code}): {_error_message(error.response.text) or error.message}"
    if isinstance(error, openai.APITimeoutError):
        return f"timeout: no answer within {seconds:.1f} s"
    if isinstance(error, openai.APIConnectionError):
        return f"connection failed: {clip(str(error.__cause__ or error), 160)}"
    return f"{type(error).__name__}: {clip(str(error), 160)}"


def _choice(reply: Any) -> Any:
    """The first choice of a chat completion, or ValueError naming what is not vLLM's shape."""
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list):
        raise ValueError("the answer is not a chat completion (no 'choices')")
    if not choices:
        raise ValueError("the reply has no choices")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise ValueError("the reply's first choice has no message")
    return message


def within(deadline: Deadline, call: Callable[[Any], Any], argument: Any) -> Any:
    """call(argument), given up (Spent) at the deadline even when the SDK is still reading or parsing
    (an endless or huge answer); the abandoned worker is a daemon thread and dies with the command."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = call(argument)
        except BaseException as error:  # noqa: BLE001 - handed to the caller as is
            result["error"] = error

    worker = threading.Thread(target=work, daemon=True, name="smoke-request")
    worker.start()
    worker.join(max(0.0, deadline.left()) + 0.5)  # the request's own timeout normally ends it first
    if worker.is_alive():
        raise Spent
    if "error" in result:
        raise result["error"]
    return result["value"]


def capped_response_hooks(deadline: Deadline, limit: int = MAX_BODY_BYTES, asynchronous: bool = False
                          ) -> dict[str, list[Callable[..., Any]]]:
    """httpx response hooks for the openai SDK's client: every body is read through a counter that
    stops at ``limit`` bytes (BodyTooLarge) or at the deadline (Spent), and compressed bodies are
    read as sent (never inflated: a small gzip can unpack to gigabytes)."""
    import httpx2 as httpx

    def counted(response: Any) -> None:
        response.headers.pop("content-encoding", None)
        inner = response.stream
        if asynchronous:
            class Capped(httpx.AsyncByteStream):
                async def __aiter__(self) -> Any:
                    total = 0
                    async for chunk in inner:
                        total += len(chunk)
                        if total > limit:
                            raise BodyTooLarge(f"the answer is larger than {limit:,} bytes")
                        if time.monotonic() > deadline.end:
                            raise Spent
                        yield chunk

                async def aclose(self) -> None:
                    await inner.aclose()
        else:
            class Capped(httpx.SyncByteStream):  # type: ignore[no-redef]
                def __iter__(self) -> Any:
                    total = 0
                    for chunk in inner:
                        total += len(chunk)
                        if total > limit:
                            raise BodyTooLarge(f"the answer is larger than {limit:,} bytes")
                        if time.monotonic() > deadline.end:
                            raise Spent
                        yield chunk

                def close(self) -> None:
                    inner.close()
        response.stream = Capped()

    async def counted_async(response: Any) -> None:
        counted(response)

    return {"response": [counted_async if asynchronous else counted]}


def too_large(error: BaseException) -> str | None:
    found = next((cause for cause in _causes(error) if isinstance(cause, BodyTooLarge)), None)
    return f"{found}: vLLM's answers here are a few kilobytes; is the endpoint vLLM?" if found else None


def api_steps(endpoint: str, key: str, model: str | None, steps: list[Step], deadline: Deadline,
              context: ssl.SSLContext | None = None) -> None:
    """The client's view, appended to ``steps``; raises Stop when the rest cannot run."""
    import openai

    client = openai.OpenAI(base_url=endpoint.rstrip("/"), api_key=key, max_retries=0,
                           default_headers={"Accept-Encoding": "identity"},
                           http_client=openai.DefaultHttpxClient(verify=context or True, follow_redirects=False,
                                                                 event_hooks=capped_response_hooks(deadline)))

    def timed(name: str, call: Callable[[Any], tuple[str, str]]) -> None:
        started = time.monotonic()
        seconds = 0.0
        try:
            seconds = deadline.request()
            status, found = within(deadline, call, client.with_options(timeout=seconds))
        except Spent:
            raise Stop(Step("FAIL", name, f"timeout: the --timeout budget ({deadline.seconds:.0f} s) ran out "
                            "before this step finished", time.monotonic() - started)) from None
        except BodyTooLarge as error:
            raise Stop(Step("FAIL", name, too_large(error) or str(error), time.monotonic() - started)) from None
        except openai.OpenAIError as error:
            fatal = unreachable(error, endpoint) or too_large(error)
            raise Stop(Step("FAIL", name, fatal or api_failure(error, seconds), time.monotonic() - started)) from None
        except Exception as error:  # noqa: BLE001 - whatever answered is not vLLM: one line, no traceback
            detail = clip(str(error).splitlines()[0], 160) if str(error) else type(error).__name__
            found = (detail if isinstance(error, ValueError) and str(error).startswith("the ")
                     else f"unexpected answer ({type(error).__name__}: {detail})")
            raise Stop(Step("FAIL", name, f"{found}: is the endpoint vLLM's OpenAI-compatible API?",
                            time.monotonic() - started)) from None
        step = Step(status, name, found, time.monotonic() - started)
        if status == "FAIL" and name == "models":
            raise Stop(step)  # the other steps would only repeat "model not found"
        steps.append(step)

    served: list[str] = []

    def models(api: Any) -> tuple[str, str]:
        page = api.models.list()
        served.extend(str(getattr(m, "id", "?")) for m in getattr(page, "data", None) or [])
        if not served:
            return "FAIL", "no model listed: is the endpoint vLLM's OpenAI-compatible API?"
        shown = ", ".join(clip(m, 100) for m in served[:5]) + (f" and {len(served) - 5} more" if len(served) > 5 else "")
        if model and model not in served:
            return "FAIL", f"{clip(model, 100)} is not served (served: {shown})"
        return "ok", f"serves {shown}"

    timed("models", models)
    name = model or served[0]
    messages = [{"role": "user", "content": "Say hello in Swiss German, in one short sentence."}]

    def chat(api: Any) -> tuple[str, str]:
        reply = api.chat.completions.create(model=name, messages=messages, max_tokens=32)
        content = _choice(reply).content
        text = content.strip() if isinstance(content, str) else ""
        return ("ok", f"{len(text)} characters: {clip(text, 60)!r}") if text else ("FAIL", "empty reply")

    def stream(api: Any) -> tuple[str, str]:
        started = time.monotonic()
        first = last = None
        chunks, tokens = 0, None
        events = api.chat.completions.create(model=name, messages=messages, max_tokens=64, stream=True,
                                             stream_options={"include_usage": True})
        ran_out = ("FAIL", "timeout: the stream was still running when the --timeout budget "
                   f"({deadline.seconds:.0f} s) ran out")
        try:
            for chunk in events:
                if time.monotonic() > deadline.end:
                    return ran_out[0], f"{ran_out[1]} ({chunks} chunks with text)"
                usage = getattr(chunk, "usage", None)
                if usage is not None and isinstance(getattr(usage, "completion_tokens", None), int):
                    tokens = usage.completion_tokens
                choices = getattr(chunk, "choices", None) or []
                delta = getattr(choices[0], "delta", None) if choices else None
                if delta is not None and getattr(delta, "content", None):
                    now = time.monotonic()
                    first = first or now
                    last, chunks = now, chunks + 1
        except Spent:  # the body reader stops at the deadline too
            return ran_out[0], f"{ran_out[1]} ({chunks} chunks with text)"
        finally:
            events.close()
        if first is None:
            return "FAIL", "the stream carried no text"
        tokens = tokens or chunks
        rate = (tokens - 1) / (last - first) if last > first and tokens > 1 else None
        return "ok", (f"time to first token {first - started:.2f} s, {tokens} tokens, "
                      + (f"{rate:.1f} tokens/s decode" if rate else "too short to time the decode"))

    def tool_call(api: Any) -> tuple[str, str]:
        reply = api.chat.completions.create(
            model=name, max_tokens=128, tools=[WEATHER_TOOL], tool_choice="auto",
            messages=[{"role": "user", "content": "What is the weather in Bern right now? Use the tool."}])
        calls = _choice(reply).tool_calls or []
        if not calls:
            return "FAIL", ("no tool call in the reply: is vLLM started with --enable-auto-tool-choice "
                            "--tool-call-parser apertus?")
        function = getattr(calls[0], "function", None)
        arguments = getattr(function, "arguments", None)
        if not isinstance(arguments, str):
            return "FAIL", f"tool call arguments are {type(arguments).__name__}, not a JSON string"
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return "FAIL", f"tool call arguments are not JSON: {clip(arguments, 80)!r}"
        return "ok", f"{clip(str(getattr(function, 'name', '?')), 60)}({clip(json.dumps(parsed), 200)})"

    timed("chat completion", chat)
    timed("streamed completion", stream)
    timed("tool call", tool_call)


def run_smoke(endpoint: str, key: str, model: str | None, timeout: float, poll: float = POLL_SECONDS,
              progress: Progress | None = None, ca_file: str | None = None) -> list[Step]:
    steps: list[Step] = []
    _SENT_KEYS.add(key)
    deadline = Deadline(timeout)
    base = base_url(endpoint)
    public = endpoint.startswith("https://")
    context = tls_context(ca_file) if public else None
    if not public:
        steps.append(Step("warn", "transport", f"{endpoint} is plain http: the key travels unencrypted "
                          "(fine for local testing only)"))
    unreachable_host = False
    try:
        steps.append(wait_for_health(base, deadline, poll, progress or Progress(sys.stderr, key), context))
        steps.append(key_check(base, "key required", "without a key", {}, deadline, context))
        wrong = f"Bearer wrong-{secrets.token_hex(8)}"
        _SENT_KEYS.add(wrong.split(" ", 1)[1])
        steps.append(key_check(base, "wrong key refused", "with a wrong key", {"Authorization": wrong},
                               deadline, context))
        api_steps(endpoint, key, model, steps, deadline, context)
    except Stop as stop:
        steps.append(stop.args[0])
        unreachable_host = stop.args[0].found.startswith(("cannot resolve", "TLS"))
    for path in NOT_PUBLIC:
        if unreachable_host:
            steps.append(Step("warn", f"{path} not public", "not checked: the endpoint cannot be reached"))
            continue
        try:
            answer = http_status(base + path, timeout=deadline.request(10.0), context=context,
                                 body=PROBE_BODIES.get(path))
        except Spent:
            answer = (None, "not checked: the --timeout budget ran out")
        except Unreachable as error:
            answer = (None, str(error))
        steps.append(exposure(base, path, *answer))
    # every step's text passes the key redaction and shows control characters as text (a server's
    # strings end up in these lines: model ids, error messages, reason phrases, redirect targets)
    return [Step(s.status, s.name, printable(redact(s.found, key)), s.seconds) for s in steps]


def exposure(base: str, path: str, status: int | None, reason: str) -> Step:
    """A route vLLM serves without a key: answered by vLLM (200, or 400/405/422 from its own
    validation), a failure on a real (https) endpoint, a warning on plain http, which is only for
    local testing. Refused (401/403/404): ok. Anything else proves nothing either way."""
    name = f"{path} not public"
    method = "POST " if path in PROBE_BODIES else ""
    if status in REFUSED:
        return Step("ok", name, f"{status}")
    if status is not None and (200 <= status < 300 or status in REACHED):
        return Step("FAIL" if base.startswith("https://") else "warn", name,
                    f"{method}{base + path} answers {status} without a key")
    if reason.startswith("not checked"):
        return Step("warn", name, reason)
    return Step("warn", name, f"could not tell: {method}{base + path} answered {status or ''} {reason}".replace(
        "answered  ", "answered "))


def summary(steps: list[Step]) -> dict[str, Any]:
    failed = [s for s in steps if s.status == "FAIL"]
    return {"passed": not failed, "failed": len(failed), "reason": failed[0].found if failed else None,
            "steps": [asdict(s) for s in steps]}


def render(endpoint: str, data: dict[str, Any]) -> str:
    lines = [f"apertus-azure smoke: {endpoint}" + (f" (stack '{data['stack']}', {data['stackSource']})"
                                                     if data.get("stack") else ""),
             f"timeout {data['timeoutSeconds']:g} s: {data['timeoutFrom']}", ""]
    lines += [Step(**s).line() for s in data["steps"]] + [""]
    lines.append("passed: the endpoint serves the model behind its key" if data["passed"]
                 else f"FAILED ({data['failed']}): {data['reason']}")
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("smoke", help="test the live endpoint after pulumi up")
    parser.add_argument("--stack", help="stack whose outputs name the endpoint (default: the selected "
                        "Pulumi stack, else dev)")
    parser.add_argument("--endpoint", help="the .../v1 base URL instead of the stack's; key in APERTUS_API_KEY")
    parser.add_argument("--timeout", type=float, help="seconds for the whole run, /health wait included "
                        "(default: the plan's startup budget)")
    parser.add_argument("--ca-file", help="PEM file of the CA that signed the endpoint's certificate "
                        "(e.g. Caddy's internal root.crt); default: the system's CAs, or SSL_CERT_FILE")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")


def default_timeout(stack: str, root: Path) -> float:
    from components.serving import ConfigError

    try:
        return startup_budget_seconds(common.plan_stack(stack, root)["plan"])
    except (ConfigError, StackFileError) as error:
        raise UsageError(f"no startup budget from stack '{stack}' ({error}); pass --timeout") from error


def usage_error(message: str, as_json: bool) -> int:
    """Exit 2 with one line: on stderr, or as a JSON document on stdout when --json asked for one."""
    if as_json:
        print(json.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 2


def command(args: Any, root: Path, env: dict[str, str] | None = None,
            run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
            which: Callable[[str], str | None] = shutil.which, poll: float = POLL_SECONDS) -> int:
    env = os.environ if env is None else env
    ca_file = getattr(args, "ca_file", None)
    needs_stack = not args.endpoint or args.timeout is None  # the stack's outputs, or its startup budget
    stack, source = ((args.stack, "--stack") if args.stack or not needs_stack
                     else selected_stack(root, which, run))
    try:
        if args.endpoint:
            endpoint = args.endpoint.rstrip("/")
            if not endpoint.startswith(("http://", "https://")):
                raise UsageError(f"--endpoint {args.endpoint!r} is not an http(s) URL; give https://<host>/v1")
            if not endpoint.endswith("/v1"):
                raise UsageError(f"--endpoint {args.endpoint} is not the API's base URL: give {endpoint}/v1")
            key = env.get("APERTUS_API_KEY")
            if not key:
                raise UsageError("--endpoint needs the key in APERTUS_API_KEY "
                                 "(e.g. export APERTUS_API_KEY=$(pulumi stack output apiKey --show-secrets))")
            model = None
        else:
            endpoint, key, model = stack_endpoint(stack, root, run, which)
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
        if ca_file and not Path(ca_file).is_file():
            raise UsageError(f"--ca-file {ca_file}: no such file; give the PEM file of the endpoint's CA")
        timeout = args.timeout if args.timeout is not None else default_timeout(stack, root)
    except UsageError as error:
        return usage_error(str(error), args.json)
    steps = run_smoke(endpoint, key, model, timeout, poll, Progress(sys.stderr, key), ca_file)
    budget = ("--timeout" if args.timeout is not None
              else f"the startup budget of stack '{stack}' ({source})")
    data = {"endpoint": endpoint, **({} if args.endpoint else {"stack": stack, "stackSource": source}),
            "timeoutSeconds": timeout, "timeoutFrom": budget, **summary(steps)}
    print(json.dumps(data, indent=2) if args.json else render(endpoint, data))
    return 0 if data["passed"] else 1
