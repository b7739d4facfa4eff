"""``python -m stacks smoke [--stack NAME | --endpoint URL] [--timeout S] [--json]``: does it serve?

After ``pulumi up``: waits for the endpoint's /health, then talks to it with the ``openai`` SDK the
way a client would (models, a chat completion, a streamed one, a tool call) and checks that the key
is required and that vLLM's open routes (/metrics, /docs, /openapi.json) are not public. One line
per step, a summary, exit 0 when everything passed and 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

HEALTH_PATH = "/health"
POLL_SECONDS = 2.0
REQUEST_SECONDS = 120.0  # one request; a cold replica's first request can take a while
NOT_PUBLIC = ("/metrics", "/docs", "/openapi.json")  # vLLM serves these without a key
WAITING_STATUSES = {502, 503, 504}  # starting: the gateway has no upstream yet, or vLLM is loading
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@dataclass(frozen=True)
class Step:
    status: str  # ok | warn | FAIL
    name: str
    found: str
    seconds: float | None = None

    def line(self) -> str:
        took = f" ({self.seconds:.1f} s)" if self.seconds is not None else ""
        return f"{self.status:4s}  {self.name}: {self.found}{took}"


class UsageError(Exception):
    """Exit 2: no endpoint or key to test."""


class Stop(Exception):
    """A failure after which the remaining steps cannot run."""


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
    result = run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack], cwd=root,
                 capture_output=True, text=True, timeout=120)
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


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int | None, str]:
    """Status and a short reason; None when nothing answered."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            return response.status, response.reason
    except urllib.error.HTTPError as error:
        body = error.read(300).decode("utf-8", "replace")
        return error.code, _error_message(body) or error.reason
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return None, str(reason)


def _error_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:120]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:160]
    return str(error or data.get("detail", "") if isinstance(data, dict) else data)[:160]


class Progress:
    """One updating line on a terminal; a line every 15 s otherwise (logs, CI)."""

    def __init__(self, stream: TextIO):
        self.stream, self.tty, self.last = stream, stream.isatty(), -1e9

    def show(self, text: str, elapsed: float) -> None:
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


def wait_for_health(base: str, timeout: float, poll: float, progress: Progress) -> Step:
    url = base + HEALTH_PATH
    started = time.monotonic()
    last = "no answer yet"
    while True:
        elapsed = time.monotonic() - started
        status, reason = http_status(url, timeout=min(10.0, max(poll, 1.0)))
        if status == 200:
            progress.done()
            return Step("ok", "health", f"{url} answered 200", time.monotonic() - started)
        if status is not None and status >= 500 and status not in WAITING_STATUSES:
            progress.done()
            raise Stop(Step("FAIL", "health", f"engine error: {url} answered {status} ({reason}); "
                            "read the vLLM logs (the stack's logsCommand output)", elapsed))
        if status is not None and status not in WAITING_STATUSES:
            progress.done()
            raise Stop(Step("FAIL", "health", f"unexpected answer: {url} answered {status} ({reason}); "
                            "is the endpoint the API's .../v1 base URL?", elapsed))
        last = f"{status} {reason}" if status else reason
        if elapsed >= timeout:
            progress.done()
            hint = ("vLLM answers 503 when its engine is dead (or the platform has no ready replica "
                    "yet): read the vLLM logs (the stack's logsCommand output), then run smoke again"
                    if status == 503 else
                    "a first start downloads the weights: wait and run smoke again, or raise --timeout")
            raise Stop(Step("FAIL", "health", f"timeout: {url} not ready after {timeout:.0f} s (last: {last}); "
                            f"{hint}", elapsed))
        progress.show(f"waiting for {url} (vLLM loading the model): {elapsed:.0f} s of {timeout:.0f} s, "
                      f"last answer: {last}", elapsed)
        time.sleep(poll)


def api_failure(error: Exception) -> str:
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
        return f"timeout: no answer within {REQUEST_SECONDS:.0f} s"
    if isinstance(error, openai.APIConnectionError):
        return f"connection failed: {error.__cause__ or error}"
    return f"{type(error).__name__}: {error}"


def api_steps(endpoint: str, key: str, model: str | None, steps: list[Step]) -> None:
    """The client's view, appended to ``steps``; raises Stop when the rest cannot run."""
    import openai

    client = openai.OpenAI(base_url=endpoint.rstrip("/"), api_key=key, timeout=REQUEST_SECONDS, max_retries=0)

    def timed(name: str, call: Callable[[], tuple[str, str]]) -> None:
        started = time.monotonic()
        try:
            status, found = call()
        except openai.OpenAIError as error:
            raise Stop(Step("FAIL", name, api_failure(error), time.monotonic() - started)) from error
        step = Step(status, name, found, time.monotonic() - started)
        if status == "FAIL" and name == "models":
            raise Stop(step)  # the other steps would only repeat "model not found"
        steps.append(step)

    served: list[str] = []

    def models() -> tuple[str, str]:
        served.extend(m.id for m in client.models.list())
        if model and model not in served:
            return "FAIL", f"{model} is not served (served: {', '.join(served) or 'nothing'})"
        return "ok", f"serves {', '.join(served)}"

    timed("models", models)
    name = model or (served[0] if served else "")
    messages = [{"role": "user", "content": "Say hello in Swiss German, in one short sentence."}]

    def chat() -> tuple[str, str]:
        reply = client.chat.completions.create(model=name, messages=messages, max_tokens=32)
        text = (reply.choices[0].message.content or "").strip()
        return ("ok", f"{len(text)} characters: {text[:60]!r}") if text else ("FAIL", "empty reply")

    def stream() -> tuple[str, str]:
        started = time.monotonic()
        first = last = None
        chunks, tokens = 0, None
        for chunk in client.chat.completions.create(model=name, messages=messages, max_tokens=64, stream=True,
                                                    stream_options={"include_usage": True}):
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                now = time.monotonic()
                first = first or now
                last, chunks = now, chunks + 1
        if first is None:
            return "FAIL", "the stream carried no text"
        tokens = tokens or chunks
        rate = (tokens - 1) / (last - first) if last > first and tokens > 1 else None
        return "ok", (f"time to first token {first - started:.2f} s, {tokens} tokens, "
                      + (f"{rate:.1f} tokens/s decode" if rate else "too short to time the decode"))

    def tool_call() -> tuple[str, str]:
        reply = client.chat.completions.create(
            model=name, max_tokens=128, tools=[WEATHER_TOOL], tool_choice="auto",
            messages=[{"role": "user", "content": "What is the weather in Bern right now? Use the tool."}])
        calls = reply.choices[0].message.tool_calls or []
        if not calls:
            return "FAIL", ("no tool call in the reply: is vLLM started with --enable-auto-tool-choice "
                            "--tool-call-parser apertus?")
        try:
            arguments = json.loads(calls[0].function.arguments)
        except ValueError:
            return "FAIL", f"tool call arguments are not JSON: {calls[0].function.arguments[:80]!r}"
        return "ok", f"{calls[0].function.name}({json.dumps(arguments)})"

    timed("chat completion", chat)
    timed("streamed completion", stream)
    timed("tool call", tool_call)


def run_smoke(endpoint: str, key: str, model: str | None, timeout: float, poll: float = POLL_SECONDS,
              progress: Progress | None = None) -> list[Step]:
    steps: list[Step] = []
    base = base_url(endpoint)
    public = endpoint.startswith("https://")
    if not public:
        steps.append(Step("warn", "transport", f"{endpoint} is plain http: the key travels unencrypted "
                          "(fine for local testing only)"))
    try:
        steps.append(wait_for_health(base, timeout, poll, progress or Progress(sys.stderr)))
        status, reason = http_status(base + "/v1/models")
        if status in (401, 403):
            steps.append(Step("ok", "key required", f"/v1/models without a key: {status}"))
        else:
            steps.append(Step("FAIL", "key required", f"/v1/models without a key answered "
                              f"{status or reason}: the endpoint is open to anyone"))
        api_steps(endpoint, key, model, steps)
    except Stop as stop:
        steps.append(stop.args[0])
    for path in NOT_PUBLIC:
        steps.append(exposure(base, path, *http_status(base + path)))
    return steps


def exposure(base: str, path: str, status: int | None, reason: str) -> Step:
    """A route vLLM serves without a key, answering 200: a failure on a real (https) endpoint, a
    warning on plain http, which is only for local testing."""
    if status != 200:
        return Step("ok", f"{path} not public", f"{status or reason}")
    return Step("FAIL" if base.startswith("https://") else "warn", f"{path} not public",
                f"{base + path} answers 200 without a key")


def summary(steps: list[Step]) -> dict[str, Any]:
    failed = [s for s in steps if s.status == "FAIL"]
    return {"passed": not failed, "failed": len(failed), "reason": failed[0].found if failed else None,
            "steps": [asdict(s) for s in steps]}


def render(endpoint: str, data: dict[str, Any]) -> str:
    lines = [f"apertus-azure smoke: {endpoint}", ""] + [Step(**s).line() for s in data["steps"]] + [""]
    lines.append("passed: the endpoint serves the model behind its key" if data["passed"]
                 else f"FAILED ({data['failed']}): {data['reason']}")
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("smoke", help="test the live endpoint after pulumi up")
    parser.add_argument("--stack", default="dev", help="stack whose outputs name the endpoint (default dev)")
    parser.add_argument("--endpoint", help="the .../v1 base URL instead of the stack's; key in APERTUS_API_KEY")
    parser.add_argument("--timeout", type=float, help="seconds to wait for /health (default: the plan's "
                        "startup budget)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")


def default_timeout(stack: str, root: Path) -> float:
    from components.serving import ConfigError

    from .__main__ import StackFileError, plan_stack

    try:
        return startup_budget_seconds(plan_stack(stack, root)["plan"])
    except (ConfigError, StackFileError) as error:
        raise UsageError(f"no startup budget from stack '{stack}' ({error}); pass --timeout") from error


def command(args: Any, root: Path, env: dict[str, str] | None = None,
            run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
            which: Callable[[str], str | None] = shutil.which, poll: float = POLL_SECONDS) -> int:
    env = os.environ if env is None else env
    try:
        if args.endpoint:
            if not args.endpoint.startswith(("http://", "https://")):
                raise UsageError(f"--endpoint {args.endpoint!r} is not an http(s) URL; give https://<host>/v1")
            key = env.get("APERTUS_API_KEY")
            if not key:
                raise UsageError("--endpoint needs the key in APERTUS_API_KEY "
                                 "(e.g. export APERTUS_API_KEY=$(pulumi stack output apiKey --show-secrets))")
            endpoint, model = args.endpoint, None
        else:
            endpoint, key, model = stack_endpoint(args.stack, root, run, which)
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
        timeout = args.timeout if args.timeout is not None else default_timeout(args.stack, root)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    data = {"endpoint": endpoint, **summary(run_smoke(endpoint, key, model, timeout, poll))}
    print(json.dumps(data, indent=2) if args.json else render(endpoint, data))
    return 0 if data["passed"] else 1
