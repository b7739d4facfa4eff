"""`python -m stacks smoke`: against the vLLM stand-in on 127.0.0.1, and once through real Caddy."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from stacks import smoke
from vllm_standin import DEFAULT_API_KEY, DEFAULT_MODEL, VllmStandIn

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.05
# What a busy machine may add to a bounded run (thread scheduling, server teardown): on 2 cores
# shared with other work the same test took 0.2 s idle and over 2 s loaded. A run that ignores its
# timeout takes far longer than budget + SLACK (the servers below hang for 10 s or more).
SLACK = 4.0


@pytest.fixture(scope="module", autouse=True)
def sdks_imported():
    """smoke imports the openai SDK when it first talks to the API; that import (1 s idle, 5-6 s
    under load) must not count against the short timeouts the tests below measure, whichever test
    happens to run first."""
    import openai  # noqa: F401



# a run that passes ends as soon as its last step does: the default only bounds a broken one, and
# is long enough that a loaded machine does not turn a passing run into a timeout
DEFAULT_TIMEOUT = 30.0


def run_smoke(capsys, endpoint: str, key: str | None = DEFAULT_API_KEY, timeout: float | None = DEFAULT_TIMEOUT,
              as_json: bool = True, **kwargs: Any) -> tuple[int, Any, str]:
    args = argparse.Namespace(stack="dev", endpoint=endpoint, timeout=timeout, json=as_json)
    env = {"APERTUS_API_KEY": key} if key else {}
    code = smoke.command(args, ROOT, env=env, poll=POLL, **kwargs)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if as_json and out else out), err


def steps(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in data["steps"]}


def test_healthy_endpoint_passes_every_step(capsys):
    with VllmStandIn() as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1")
    assert code == 0 and data["passed"] and data["reason"] is None
    found = steps(data)
    assert found["transport"]["status"] == "warn"  # plain http is accepted with a warning
    assert found["key required"] == {"status": "ok", "name": "key required",
                                     "found": "/v1/models without a key: 401", "seconds": None}
    assert found["models"]["found"] == f"serves {DEFAULT_MODEL}"
    assert "Apertus" in found["chat completion"]["found"]
    assert "time to first token" in found["streamed completion"]["found"]
    assert "tokens/s decode" in found["streamed completion"]["found"]
    assert found["tool call"]["found"] == 'get_weather({"city": "Bern"})'
    # the raw server exposes vLLM's open routes: on http that is a warning, not a failure
    assert {found[f"{p} not public"]["status"] for p in smoke.NOT_PUBLIC} == {"warn"}
    # what reached the server: one unauthenticated models call, the rest with the key
    unauthenticated = [r for r in vllm.requests if r[1] == "/v1/models" and r[2] is None]
    keyed = [r for r in vllm.requests if r[1].startswith("/v1/") and r[2] == f"Bearer {DEFAULT_API_KEY}"]
    assert len(unauthenticated) == 1 and len(keyed) == 4


def test_open_metrics_fail_on_https_and_warn_on_http():
    assert smoke.exposure("https://apertus.example", "/metrics", 200, "OK").status == "FAIL"
    assert smoke.exposure("http://127.0.0.1:8080", "/metrics", 200, "OK").status == "warn"
    assert smoke.exposure("https://apertus.example", "/metrics", 404, "Not Found") == smoke.Step(
        "ok", "/metrics not public", "404")


def test_slow_start_waits_with_progress(capsys):
    with VllmStandIn(ready_after=0.6) as vllm:
        code, data, err = run_smoke(capsys, vllm.url + "/v1")
    assert code == 0
    # smoke starts its clock after the stand-in's: it waits what is left of the 0.6 s (less setup)
    assert steps(data)["health"]["seconds"] >= 0.4
    assert f"waiting for {vllm.url}/health" in err and "503" in err  # what it waits for, and why


def test_progress_is_one_updating_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = smoke.Progress(terminal)
    progress.show("waiting 1", 0.0)
    progress.show("waiting 2", 0.1)
    progress.done()
    assert terminal.getvalue() == "\r\033[Kwaiting 1\r\033[Kwaiting 2\r\033[K"
    assert "\n" not in terminal.getvalue()


def test_timeout_is_one_line_reason(capsys):
    # 1 s, as test_engine_error: with 0.3 s the first /health answer missed the deadline on a loaded
    # machine (two other processes busy on 2 cores: the one failure of the suite seen in a day's runs)
    with VllmStandIn(ready_after=60) as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1", timeout=1.0)
    assert code == 1
    assert data["reason"].startswith(f"timeout: {vllm.url}/health not ready after 1 s (last: 503")
    assert "models" not in steps(data)  # nothing else was tried against a server that is not up


def test_engine_error(capsys):
    # a dead engine keeps /health at 503 (as vLLM does): smoke gives up at its timeout and says why
    with VllmStandIn(engine_error=True) as vllm:
        # 1 s: the first /health answer must arrive within it also on a busy machine (it took at most
        # 0.04 s with 3 test workers and other runs on 2 cores, load average 10)
        code, text, _ = run_smoke(capsys, vllm.url + "/v1", timeout=1.0, as_json=False)
    assert code == 1
    last = text.strip().splitlines()[-1]
    assert last.startswith("FAILED (1): timeout:") and "(last: 503" in last and "engine is dead" in last
    assert "Traceback" not in text


def test_open_without_key_fails(capsys):
    with VllmStandIn(api_key=None) as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1")
    assert code == 1
    assert steps(data)["key required"]["status"] == "FAIL"
    assert data["reason"] == "/v1/models without a key answered 200: the endpoint is open to anyone"


def test_wrong_key(capsys):
    with VllmStandIn() as vllm:
        code, data, err = run_smoke(capsys, vllm.url + "/v1", key="not-the-key")
    assert code == 1
    assert data["reason"] == "wrong key: the endpoint refused it (401)"
    assert "not-the-key" not in json.dumps(data) + err


def test_no_tool_call(capsys):
    with VllmStandIn(tool_calls=False) as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1")
    assert code == 1
    assert steps(data)["tool call"]["status"] == "FAIL"
    assert "--tool-call-parser apertus" in data["reason"]


def test_endpoint_and_key_from_the_stack_outputs(capsys):
    with VllmStandIn() as vllm:
        calls = []

        def pulumi(argv, **kwargs):
            calls.append(argv)
            outputs = {"endpoint": vllm.url + "/v1", "apiKey": DEFAULT_API_KEY, "model": "swiss-ai/other-model"}
            return subprocess.CompletedProcess(argv, 0, json.dumps(outputs), "")

        args = argparse.Namespace(stack="aks", endpoint=None, timeout=5.0, json=True)
        code = smoke.command(args, ROOT, env={}, run=pulumi, which=lambda name: "/bin/pulumi", poll=POLL)
        data = json.loads(capsys.readouterr().out)
    assert calls == [["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", "aks"]]
    assert code == 1  # the stack says it serves another model than the endpoint does
    assert data["reason"] == f"swiss-ai/other-model is not served (served: {DEFAULT_MODEL})"


@pytest.mark.parametrize("argv_env, message", [
    (({"endpoint": "http://127.0.0.1:9/v1"}, {}), "APERTUS_API_KEY"),
    (({"endpoint": "127.0.0.1:9/v1"}, {"APERTUS_API_KEY": "k"}), "not an http(s) URL"),
    (({"endpoint": "http://127.0.0.1:9/v1", "timeout": -1}, {"APERTUS_API_KEY": "k"}), "positive"),
    (({"endpoint": None}, {}), "pulumi CLI is not on PATH"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv_env, message):
    overrides, env = argv_env
    args = argparse.Namespace(**{"stack": "dev", "timeout": 5.0, "json": False, **overrides})
    assert smoke.command(args, ROOT, env=env, which=lambda name: None) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def dev_default_timeout() -> float:
    """smoke's default timeout for stack 'dev': it plans the whole program, so once for both tests."""
    return smoke.default_timeout("dev", ROOT)


def test_default_timeout_is_the_plans_startup_budget(dev_default_timeout):
    from stacks.common import plan_stack

    plan = plan_stack("dev", ROOT)["plan"]
    assert dev_default_timeout == plan["startupWindowSeconds"] == smoke.startup_budget_seconds(plan)
    assert plan["startupWindowSeconds"] > 600  # a first start pulls the image and downloads the weights


def test_an_endpoint_without_timeout_says_whose_budget_it_waits(capsys, dev_default_timeout):
    with VllmStandIn() as vllm:
        args = argparse.Namespace(stack=None, endpoint=vllm.url + "/v1", timeout=None, json=True)
        code = smoke.command(args, ROOT, env={"APERTUS_API_KEY": DEFAULT_API_KEY}, poll=POLL,
                             which=lambda tool: None)  # no Pulumi CLI: the dev stack's budget
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["timeoutSeconds"] == dev_default_timeout
    assert data["timeoutFrom"].startswith("the startup budget of stack 'dev'")


# ------------------------------------------------------------------ through real Caddy

@pytest.fixture(scope="module")
def caddy_in_front(tmp_path_factory):
    """The Container Apps gateway as the program renders it, run by tests/test_gateway.py's helpers
    (only its listen port and upstream are made local) in front of the stand-in."""
    from test_gateway import VARIANTS, running_gateway

    with running_gateway(VARIANTS["containerapp"], tmp_path_factory.mktemp("smoke-caddy")) as gateway:
        yield gateway.standin, f"http://127.0.0.1:{gateway.port}"


def test_through_caddy_the_open_routes_are_not_public(capsys, caddy_in_front):
    vllm, url = caddy_in_front
    code, data, _ = run_smoke(capsys, url + "/v1")
    assert code == 0, data["reason"]
    found = steps(data)
    for path in smoke.NOT_PUBLIC:
        assert found[f"{path} not public"] == {"status": "ok", "name": f"{path} not public",
                                               "found": "404", "seconds": None}
    assert found["key required"]["found"] == "/v1/models without a key: 401"
    assert found["tool call"]["status"] == "ok"
    assert not any(r[1].startswith(("/metrics", "/docs", "/openapi.json")) for r in vllm.requests)


# ------------------------------------------------------------------ answers that are not vLLM's

class Hostile:
    """A server on 127.0.0.1:<ephemeral> that answers like something other than vLLM behind its gateway.

    ``answer(handler, path, auth, body)`` returns (status, headers, body bytes) or None to hang until
    the test ends (then the connection is dropped)."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None) -> None:
        self.release = threading.Event()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                result = answer(self, self.path, self.headers.get("Authorization", ""), body)
                if result is None:
                    hostile.release.wait(30)
                    self.close_connection = True
                    return
                status, headers, data = result
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Hostile":
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _json(status: int, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, headers, json.dumps(body).encode()


def behind_key(reply):
    """/health 200, /v1 refused without the key; ``reply(path, body)`` for the keyed requests."""
    def answer(handler, path, auth, body):
        if path == "/health":
            return 200, {}, b""
        if path.startswith("/v1") and auth != f"Bearer {DEFAULT_API_KEY}":
            return _json(401, {"error": "Unauthorized"})
        if path == "/v1/models":
            return _json(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0,
                                                           "owned_by": "vllm"}]})
        if path.startswith("/v1"):
            return reply(path, json.loads(body or b"{}"))
        return _json(404, {"detail": "Not Found"})
    return answer


def completion(message: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return _json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


HTML = (200, {"Content-Type": "text/html"}, b"<html><body>Welcome to nginx!</body></html>")


@pytest.mark.parametrize("answer, step, reason", [
    # a web server that is not the API: every route answers a page
    (lambda h, p, a, b: HTML, "key required", "/v1/models without a key answered 200: the endpoint is open"),
    (behind_key(lambda p, b: _json(200, {"hello": "world"})), "chat completion",
     "the answer is not a chat completion (no 'choices')"),
    (behind_key(lambda p, b: _json(200, {"id": "x", "object": "chat.completion", "choices": []})),
     "chat completion", "the reply has no choices"),
    (behind_key(lambda p, b: completion({"role": "assistant", "content": "hi", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": None}}]})
        if b.get("tools") or not b.get("stream") else HTML),
     "chat completion", None),
])
def test_an_answer_that_is_not_vllms_is_a_fail_line_never_a_traceback(capsys, answer, step, reason):
    with Hostile(answer) as server:
        code, text, err = run_smoke(capsys, server.url + "/v1", as_json=False)
        code_json, data, _ = run_smoke(capsys, server.url + "/v1")
    assert code == code_json == 1
    assert "Traceback" not in text + err
    assert text.strip().splitlines()[-1].startswith("FAILED (")
    if reason:
        assert reason in data["reason"], data["reason"]
        assert steps(data)[step]["status"] == "FAIL"


def test_tool_call_arguments_null_is_a_fail_line(capsys):
    def reply(path, body):
        if body.get("stream"):
            return 200, {"Content-Type": "text/event-stream"}, (
                'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
                '"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: [DONE]\n\n').encode()
        if body.get("tools"):
            return completion({"role": "assistant", "content": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": None}}]})
        return completion({"role": "assistant", "content": "Grüezi"})

    with Hostile(behind_key(reply)) as server:
        code, data, err = run_smoke(capsys, server.url + "/v1")
    assert code == 1 and "Traceback" not in err
    assert steps(data)["streamed completion"]["status"] == "ok"
    assert data["reason"] == "tool call arguments are NoneType, not a JSON string"


def test_the_key_is_never_printed_even_when_the_server_echoes_it(capsys):
    def echo(handler, path, auth, body):
        if path == "/health":
            return 200, {}, b""
        if path.startswith("/v1") and auth:
            return _json(500, {"error": {"message": f"upstream refused {auth}"}})
        return _json(401, {"error": "Unauthorized"})

    with Hostile(echo) as server:
        code, text, err = run_smoke(capsys, server.url + "/v1", as_json=False)
        _, data, err_json = run_smoke(capsys, server.url + "/v1")
    assert code == 1
    everything = text + err + json.dumps(data) + err_json
    assert DEFAULT_API_KEY not in everything
    assert "wrong-" not in everything  # the wrong key smoke sends is a bearer token too
    assert "upstream refused Bearer ***" in data["reason"]
    assert smoke.redact("x Bearer abc.def y", None) == "x Bearer *** y"


def hang_all(handler, path, auth, body):
    return None


def health_then_hang(handler, path, auth, body):
    return (200, {}, b"") if path == "/health" else None


def slow_stream(handler, path, auth, body):
    """Keyed API that answers, but streams one chunk a second for ever."""
    if path == "/health":
        return 200, {}, b""
    if path.startswith("/v1") and auth != f"Bearer {DEFAULT_API_KEY}":
        return _json(401, {"error": "Unauthorized"})
    if path == "/v1/models":
        return _json(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]})
    if b'"stream": true' not in body and b'"stream":true' not in body:
        return completion({"role": "assistant", "content": "hi"})
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = ('data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
             '"delta":{"content":"tok"},"finish_reason":null}]}\n\n').encode()
    for _ in range(60):
        try:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
        except OSError:
            break
        if handler.server_release.wait(0.3):
            break
    return None


@pytest.mark.parametrize("answer, reason, budget", [
    (hang_all, "timeout: ", 0.3),  # nothing answers: any budget ends it
    # /health answers in milliseconds (0.04 s at most on a loaded machine), then the key check hangs
    (health_then_hang, "could not tell: /v1/models without a key answered no answer within", 1.0),
    # the steps before the stream (models, a completion) must finish within the budget even on a
    # busy machine, so that the stream is the step the timeout cuts (they took up to 1.8 s with 3 test
    # workers and other runs on 2 cores, load average 10): 3 s, the stream takes 18
    (slow_stream, "timeout: the stream was still running", 3.0),
])
def test_timeout_bounds_the_whole_run(capsys, answer, reason, budget):
    with Hostile(answer) as server:
        server.server.RequestHandlerClass.server_release = server.release
        started = time.monotonic()
        code, data, err = run_smoke(capsys, server.url + "/v1", timeout=budget)
        took = time.monotonic() - started
    assert code == 1 and "Traceback" not in err
    assert took < budget + SLACK, took  # the budget, plus the poll and teardown slack
    assert data["reason"].startswith(reason), data["reason"]
    assert "open to anyone" not in json.dumps(data)
    # routes nobody answered are never reported as "not public"
    assert all(steps(data)[f"{p} not public"]["status"] == "warn" for p in smoke.NOT_PUBLIC)


def test_exposure_only_ok_when_the_gateway_refuses():
    silent = smoke.exposure("https://a.example", "/docs", None, "no answer within 10 s")
    assert silent.status == "warn" and silent.found.startswith("could not tell")
    assert smoke.exposure("https://a.example", "/docs", 302, "redirects to /login").status == "warn"
    assert smoke.exposure("https://a.example", "/invocations", 422, "Unprocessable").status == "FAIL"
    assert smoke.exposure("https://a.example", "/tokenize", 403, "Forbidden").status == "ok"


def test_every_open_vllm_route_is_probed_and_a_wrong_key_must_be_refused(capsys):
    with VllmStandIn() as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1")
    probed = {(method, target) for method, target, _ in vllm.requests}
    for method, path in (("POST", "/invocations"), ("POST", "/tokenize"), ("GET", "/metrics/"),
                         ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json")):
        assert (method, path) in probed
        assert steps(data)[f"{path} not public"]["status"] == "warn"  # the raw stand-in serves them all
    assert steps(data)["wrong key refused"] == {"status": "ok", "name": "wrong key refused",
                                                "found": "/v1/models with a wrong key: 401", "seconds": None}

    def any_key(handler, path, auth, body):
        if path == "/health":
            return 200, {}, b""
        return _json(401, {}) if not auth else _json(200, {"object": "list", "data": []})

    with Hostile(any_key) as server:
        code, data, _ = run_smoke(capsys, server.url + "/v1")
    assert code == 1 and steps(data)["wrong key refused"]["status"] == "FAIL"
    assert "with a wrong key answered 200: the endpoint is open to anyone" in steps(data)["wrong key refused"]["found"]


def test_unresolvable_host_and_redirect_loop_fail_at_once(capsys):
    started = time.monotonic()
    code, data, _ = run_smoke(capsys, "http://apertus.invalid/v1", timeout=30)
    assert code == 1 and time.monotonic() - started < 30 / 2  # at once, not at the 30 s timeout
    assert data["reason"].startswith("cannot resolve apertus.invalid")

    def loop(handler, path, auth, body):
        return 302, {"Location": path}, b""

    with Hostile(loop) as server:
        started = time.monotonic()
        code, text, _ = run_smoke(capsys, server.url + "/v1", timeout=30, as_json=False)
    assert code == 1 and time.monotonic() - started < 30 / 2
    assert f"FAIL  health: {server.url}/health redirects to /health (302)" in text


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("needs the openssl CLI to make a throwaway certificate")
    home = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(home / "key.pem"), "-out", str(home / "cert.pem")],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(home / "cert.pem", home / "key.pem")
    return context, home / "cert.pem"


def test_untrusted_certificate_fails_at_once_and_ca_file_trusts_it(capsys, self_signed):
    context, cert = self_signed
    with Hostile(behind_key(lambda p, b: completion({"role": "assistant", "content": "hi"})), tls=context) as server:
        started = time.monotonic()
        code, data, _ = run_smoke(capsys, server.url + "/v1", timeout=30)
        assert code == 1 and time.monotonic() - started < 30 / 2
        assert "certificate is not trusted" in data["reason"] and "--ca-file" in data["reason"]
        args = argparse.Namespace(stack="dev", endpoint=server.url + "/v1", timeout=DEFAULT_TIMEOUT, json=True,
                                  ca_file=str(cert))
        smoke.command(args, ROOT, env={"APERTUS_API_KEY": DEFAULT_API_KEY}, poll=POLL)
        data = json.loads(capsys.readouterr().out)
    found = steps(data)
    assert found["health"]["status"] == "ok" and found["models"]["found"] == "serves m"
    assert found["chat completion"]["status"] == "ok"  # the openai client trusts the same CA


def test_endpoint_without_v1_and_json_usage_errors(capsys):
    args = argparse.Namespace(stack="dev", endpoint="https://apertus.example", timeout=5.0, json=False)
    assert smoke.command(args, ROOT, env={"APERTUS_API_KEY": "k"}, which=lambda name: None) == 2
    err = capsys.readouterr().err
    assert err == ("error: --endpoint https://apertus.example is not the API's base URL: "
                   "give https://apertus.example/v1\n")
    args.json = True
    assert smoke.command(args, ROOT, env={}, which=lambda name: None) == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": "--endpoint https://apertus.example is not the API's base URL: "
                                        "give https://apertus.example/v1"} and err == ""


def test_a_step_still_busy_at_the_deadline_is_given_up():
    """An answer the SDK keeps reading or parsing (a huge /v1/models) cannot hold the run past --timeout."""
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(smoke.Spent):
        smoke.within(smoke.Deadline(0.2), lambda _: release.wait(10), None)
    release.set()
    assert time.monotonic() - started < 0.2 + SLACK  # not the step's 10 s
    assert smoke.within(smoke.Deadline(5), lambda x: x + 1, 1) == 2
    with pytest.raises(KeyError):  # the step's own errors reach the step's handlers unchanged
        smoke.within(smoke.Deadline(5), lambda x: {}[x], "missing")


def _serve_raw(answer: Callable[[socket.socket], None]) -> tuple[socket.socket, threading.Thread]:
    """A 127.0.0.1 TCP server answering each connection with ``answer``, stopping with the test."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)

    def loop() -> None:
        while server.fileno() != -1:
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                try:
                    connection.recv(4096)
                    answer(connection)
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return server, thread


def test_a_server_that_is_not_http_is_one_line_not_a_traceback(capsys):
    server, _ = _serve_raw(lambda c: c.sendall(b"SSH-2.0-OpenSSH_9.6\r\n"))
    try:
        code, data, _ = run_smoke(capsys, f"http://127.0.0.1:{server.getsockname()[1]}/v1", timeout=3.0)
    finally:
        server.close()
    assert code == 1 and "did not answer as an HTTP server" in data["reason"]


def test_a_server_trickling_headers_cannot_hold_smoke_past_its_timeout(capsys):
    def trickle(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        for index in range(150):  # 15 s of headers, far past the 0.3 s timeout + SLACK
            connection.sendall(f"X-Slow-{index}: 1\r\n".encode())
            time.sleep(0.1)

    server, _ = _serve_raw(trickle)
    started = time.monotonic()
    try:
        code, data, _ = run_smoke(capsys, f"http://127.0.0.1:{server.getsockname()[1]}/v1", timeout=0.3)
    finally:
        server.close()
    assert code == 1 and time.monotonic() - started < 0.3 + SLACK, data


def test_a_key_in_a_reply_is_never_printed_even_cut_short(capsys):
    # an upstream that echoes the key after 50 characters: the 60-character excerpt must not show
    # its first characters either
    with VllmStandIn(reply_text="y" * 50 + DEFAULT_API_KEY) as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1")
    text = json.dumps(data)
    assert DEFAULT_API_KEY[:10] not in text and DEFAULT_API_KEY not in text


def test_a_huge_model_id_is_cut_off_at_the_read_limit_within_the_timeout(capsys):
    """A 20 MB /v1/models answer: smoke stops reading at 1 MB, says so in one line, and the run
    stays within --timeout (it once printed a 200 MB id and ran 22 s against --timeout 8)."""
    huge = (b'{"object":"list","data":[{"id":"' + b"A" * 20_000_000 + b'"}]}')

    def answer(handler, path, auth, body):
        if path == "/health":
            return 200, {}, b""
        if path.startswith("/v1") and auth != f"Bearer {DEFAULT_API_KEY}":
            return _json(401, {"error": "Unauthorized"})
        return (200, {}, huge) if path == "/v1/models" else _json(404, {"detail": "Not Found"})

    started = time.monotonic()
    with Hostile(answer) as server:
        code, text, err = run_smoke(capsys, server.url + "/v1", timeout=8, as_json=False)
    assert time.monotonic() - started < 8
    assert code == 1 and len(text) + len(err) < 5000
    assert "FAIL  models: the answer is larger than 1,000,000 bytes" in text, text


def test_server_strings_are_shown_escaped_and_the_key_hidden_even_split_or_url_encoded(capsys):
    """A model id with terminal escape sequences and the key split in two, an error with the key
    URL-encoded: the terminal sees \\x1b as text, and no piece of the key, in text and --json."""
    from urllib.parse import quote

    def answer(handler, path, auth, body):
        if path == "/health":
            return 200, {}, b""
        if path.startswith("/v1") and auth != f"Bearer {DEFAULT_API_KEY}":
            return _json(401, {"error": "Unauthorized"})
        key = auth.removeprefix("Bearer ")
        if path == "/v1/models":
            return _json(200, {"object": "list", "data": [
                {"id": "\x1b[2J\x1b]0;pwn\x07" + key[:10] + "/" + key[10:], "object": "model"}]})
        return _json(500, {"error": {"message": f"\u202ebad k={quote(key, safe='')} auth={quote(auth)}"}})

    with Hostile(answer) as server:
        code, text, err = run_smoke(capsys, server.url + "/v1", as_json=False)
        _, data, err_json = run_smoke(capsys, server.url + "/v1")
    assert code == 1
    for output in (text + err, json.dumps(data) + err_json):
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
        assert DEFAULT_API_KEY[:8] not in output and DEFAULT_API_KEY[-8:] not in output
        assert quote(DEFAULT_API_KEY, safe="")[-8:] not in output
    assert "\\x1b[2J\\x1b]0;pwn\\x07***/***" in text, text
    assert steps(data)["models"]["found"].startswith("serves \\x1b[2J")
