"""`python -m stacks smoke`: against the vLLM stand-in on 127.0.0.1, and once through real Caddy."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks import smoke
from vllm_standin import DEFAULT_API_KEY, DEFAULT_MODEL, VllmStandIn

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.05


def run_smoke(capsys, endpoint: str, key: str | None = DEFAULT_API_KEY, timeout: float | None = 5.0,
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
    assert steps(data)["health"]["seconds"] >= 0.6
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
    with VllmStandIn(ready_after=60) as vllm:
        code, data, _ = run_smoke(capsys, vllm.url + "/v1", timeout=0.3)
    assert code == 1
    assert data["reason"].startswith(f"timeout: {vllm.url}/health not ready after 0 s (last: 503")
    assert "models" not in steps(data)  # nothing else was tried against a server that is not up


def test_engine_error(capsys):
    # a dead engine keeps /health at 503 (as vLLM does): smoke gives up at its timeout and says why
    with VllmStandIn(engine_error=True) as vllm:
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


def test_default_timeout_is_the_plans_startup_budget():
    from stacks.__main__ import plan_stack

    plan = plan_stack("dev", ROOT)["plan"]
    assert smoke.default_timeout("dev", ROOT) == plan["startupWindowSeconds"] == smoke.startup_budget_seconds(plan)
    assert plan["startupWindowSeconds"] > 600  # the fixed part alone is 10 min (components/serving/launch.py)


# ------------------------------------------------------------------ through real Caddy

@pytest.fixture(scope="module")
def caddy_in_front(tmp_path_factory):
    """The Container Apps gateway as the program renders it, run by tests/test_gateway.py's helpers
    (only its listen port and upstream are made local) in front of the stand-in."""
    from test_gateway import VARIANTS, Gateway, _wait_until_serving, caddy_binary, free_port

    variant = VARIANTS["containerapp"]
    home = tmp_path_factory.mktemp("smoke-caddy")
    with VllmStandIn() as vllm:
        port = free_port()
        rendered = variant.render()
        (home / "Caddyfile").write_text(variant.runnable(rendered, port, vllm))
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
               "XDG_CONFIG_HOME": str(home / "config")}
        log = home / "caddy.log"
        with log.open("w") as sink:
            caddy = subprocess.Popen([caddy_binary(), "run", "--config", str(home / "Caddyfile"),
                                      "--adapter", "caddyfile"], env=env, stdout=sink, stderr=sink)
        try:
            _wait_until_serving(caddy, Gateway(variant, rendered[0], port, vllm, None), log)
            vllm.requests.clear()
            yield vllm, f"http://127.0.0.1:{port}"
        finally:
            caddy.kill()
            caddy.wait(timeout=5)


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
