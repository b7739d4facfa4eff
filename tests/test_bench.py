"""`python -m stacks bench` against the vLLM stand-in's timing model, and once through real Caddy.

The stand-in (tests/vllm_standin.py ``Timing``) answers streamed chat completions deterministically:
a slot (at most ``max_concurrency`` at once, the rest queue), ``ttft`` to the first token, then
``token_delay`` per token. bench must report what that model implies, within TOLERANCE: the
client, the HTTP stack and a busy 2-core machine add time, never remove it, so latencies are
checked from the configured value up to LATENCY_SLACK above it, and rates within TOLERANCE.
A level measures 1.2 s after a 0.1 s warm-up (two requests at concurrency 1, eight at 4 and 8): the
ladder takes ~6 s, most of it waiting on the timing model.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from stacks import bench
from vllm_standin import DEFAULT_API_KEY, DEFAULT_MODEL, Timing, VllmStandIn

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.35  # rates: measured within 35% of the timing model's
# seconds a latency may exceed the configured one (client + HTTP + scheduling): generous, since a
# newcomer's machine may be busy; the timing model's steps are made large enough that the checks
# below still tell a right measurement from a wrong one by several times this
LATENCY_SLACK = 0.2
TIMING = Timing(ttft=0.15, token_delay=0.06, max_concurrency=4)
OUTPUT = 8  # tokens per request: end to end 0.15 + 7 x 0.06 = 0.57 s with a slot
SLO = 0.45  # level 4 (a slot each): ~0.15 s; level 8 (half wait a request for a slot): ~0.7 s
# for the tests that stop bench halfway: what it measured does not matter there, only that it measured
QUICK = Timing(ttft=0.05, token_delay=0.02, max_concurrency=4)


def bench_args(endpoint: str, **overrides) -> argparse.Namespace:
    values = dict(
        stack=None,
        endpoint=endpoint,
        ca_file=None,
        concurrency="1,4,8",
        duration=1.2,
        warmup=0.1,
        input_tokens=30,
        output_tokens=OUTPUT,
        ttft_slo=SLO,
        timeout=None,
        usd_per_hour=3.6,
        json=True,
        plot=None,
    )
    return argparse.Namespace(**{**values, **overrides})


def run_bench(
    capsys, endpoint: str, key: str | None = DEFAULT_API_KEY, **overrides
) -> tuple[int, dict | str, str]:
    args = bench_args(endpoint, **overrides)
    code = bench.command(args, ROOT, env={"APERTUS_API_KEY": key} if key else {})
    out, err = capsys.readouterr()
    return code, (json.loads(out) if args.json and out.strip().startswith("{") else out), err


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One ladder against the timing model, priced and estimated from the dev stack's plan and
    drawn with --plot when matplotlib is there; shared by the checks below (about 6 s)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    png = tmp_path_factory.mktemp("bench") / "bench.png"
    with VllmStandIn(timing=TIMING) as vllm:
        out, err = io.StringIO(), io.StringIO()
        args = bench_args(vllm.url + "/v1", stack="dev", usd_per_hour=None,
                          plot=str(png) if has_matplotlib() else None)
        with redirect_stdout(out), redirect_stderr(err):
            code = bench.command(args, ROOT, env={"APERTUS_API_KEY": DEFAULT_API_KEY})
    return code, json.loads(out.getvalue()), err.getvalue(), png


def by_level(data: dict) -> dict[int, dict]:
    return {level["concurrency"]: level for level in data["levels"]}


def test_percentiles_and_rates_follow_the_configured_timing(measured):
    code, data, _, _ = measured
    assert code == 0 and data["stoppedBy"] is None
    assert data["model"] == DEFAULT_MODEL
    levels = by_level(data)
    assert sorted(levels) == [1, 4, 8] and all(level["complete"] for level in levels.values())
    end_to_end = TIMING.ttft + (OUTPUT - 1) * TIMING.token_delay
    for concurrency in (1, 4):  # a slot each: no queue
        level = levels[concurrency]
        assert level["errors"] == {} and level["succeeded"] == level["requests"] > 0
        assert TIMING.ttft <= level["ttftSeconds"]["p50"] <= TIMING.ttft + LATENCY_SLACK
        assert (
            TIMING.token_delay * 0.8 <= level["itlSeconds"]["p50"] <= TIMING.token_delay + LATENCY_SLACK / 3
        )
        assert end_to_end <= level["e2eSeconds"]["p50"] <= end_to_end + 2 * LATENCY_SLACK
        expected = concurrency * OUTPUT / end_to_end
        assert level["outputTokensPerSecond"] == pytest.approx(expected, rel=TOLERANCE)
        assert level["requestsPerSecond"] == pytest.approx(concurrency / end_to_end, rel=TOLERANCE)
        assert level["ttftSeconds"]["p50"] <= level["ttftSeconds"]["p95"] <= level["ttftSeconds"]["p99"]
    # 8 clients, 4 slots: half wait about one request for a slot; tokens/s stay at 4 slots' worth
    queued = levels[8]
    assert queued["ttftSeconds"]["p95"] >= TIMING.ttft + end_to_end * 0.8
    assert queued["outputTokensPerSecond"] == pytest.approx(4 * OUTPUT / end_to_end, rel=TOLERANCE)


def test_the_knee_is_the_highest_level_under_the_ttft_slo(measured):
    _, data, _, _ = measured
    assert data["knee"]["concurrency"] == 4 and data["knee"]["sloSeconds"] == SLO
    assert data["knee"]["ttftP95Seconds"] < SLO < by_level(data)[8]["ttftSeconds"]["p95"]


def test_prompts_are_sized_by_the_servers_count(measured):
    _, data, _, _ = measured
    sizing = data["promptSizing"]
    # the stand-in counts one token per word and adds no template: the first probe lands on 30
    assert sizing == {
        "targetTokens": 30,
        "serverTokens": 30,
        "words": 30,
        "probes": 1,
        "converged": True,
        "history": [[30, 30]],
    }


def test_tokens_are_priced_from_the_plans_hourly_cost(measured):
    _, data, _, _ = measured
    hourly = data["plan"]["hourlyUsd"]
    assert hourly > 0 and "plan of stack 'dev'" in data["plan"]["source"]
    for level in data["levels"]:
        assert level["usdPerMillionOutputTokens"] == pytest.approx(
            hourly / (level["outputTokensPerSecond"] * 3600) * 1e6, rel=1e-3
        )


def test_the_json_has_the_documented_schema(measured):
    _, data, _, _ = measured
    jsonschema.Draft202012Validator.check_schema(bench.BENCH_SCHEMA)
    jsonschema.validate(data, bench.BENCH_SCHEMA)
    doc = (ROOT / "docs" / "bench.md").read_text()
    for name in bench.BENCH_SCHEMA["required"]:
        assert f"`{name}`" in doc, f"docs/bench.md does not explain {name}"


def test_the_key_is_never_printed(measured):
    _, data, err, _ = measured
    assert DEFAULT_API_KEY not in json.dumps(data) + err


@pytest.mark.parametrize("failure, kind", [("status", "HTTP 500"), ("broken", "broken stream")])
def test_errors_are_counted_by_kind(capsys, failure, kind):
    with VllmStandIn(timing=Timing(ttft=0.01, token_delay=0.005, fail_every=3, failure=failure)) as vllm:
        code, data, _ = run_bench(capsys, vllm.url + "/v1", concurrency="2", duration=0.5, warmup=0.0)
    assert code == 0
    [level] = data["levels"]
    assert set(level["errors"]) == {kind}
    # every third streamed request fails
    assert level["errors"][kind] == pytest.approx(level["requests"] / 3, abs=1.5)
    assert level["succeeded"] == level["requests"] - level["errors"][kind]
    # --usd-per-hour prices the tokens instead of a stack's plan, with no estimate to compare
    assert data["plan"] == {"hourlyUsd": 3.6, "source": "--usd-per-hour"} and level["estimate"] is None
    assert level["usdPerMillionOutputTokens"] == pytest.approx(
        3.6 / (level["outputTokensPerSecond"] * 3600) * 1e6, rel=1e-3)


def test_the_plans_estimate_stands_next_to_each_measured_figure(measured):
    _, data, err, _ = measured
    for level in data["levels"]:
        estimate = level["estimate"]
        assert set(estimate) == {
            "outputTokensPerSecond",
            "ttftP50Seconds",
            "itlP50Seconds",
            "e2eP50Seconds",
            "usdPerMillionOutputTokens",
        }
        tokens = estimate["outputTokensPerSecond"]
        assert tokens["measured"] == level["outputTokensPerSecond"]
        assert tokens["ratio"] == pytest.approx(tokens["measured"] / tokens["estimate"], rel=1e-2)
    # the text report: the same figures, the knee and the ratios
    text = bench.render(data)
    assert "knee: concurrency 4" in text and "plan: TTFT p50" in text and ", x" in text
    assert "prompts: 30 words = 30 tokens by the server's count (1 probe)" in text
    assert "Traceback" not in text + err and DEFAULT_API_KEY not in text + err


def test_the_deadline_bounds_the_whole_run(capsys):
    with VllmStandIn(timing=QUICK) as vllm:  # a request takes 0.19 s: most of the budget is for the setup
        started = time.monotonic()
        code, data, _ = run_bench(
            capsys, vllm.url + "/v1", concurrency="1,4", duration=30, warmup=0, timeout=1.0
        )
        took = time.monotonic() - started
    assert code == 1 and data["stoppedBy"] == "timeout", data.get("error")
    assert took < 1.0 + 1.0  # the budget, plus closing the client
    assert data["levels"][0]["complete"] is False and data["levels"][0]["succeeded"] > 0
    assert any("--timeout budget (1 s) ran out" in note for note in data["notes"])


def test_ctrl_c_prints_what_was_measured_so_far():
    with VllmStandIn(timing=QUICK) as vllm:
        env = {**os.environ, "APERTUS_API_KEY": DEFAULT_API_KEY}
        process = subprocess.Popen(
            # python -m stacks.bench: the bench command without the plan's (slow) imports
            [
                sys.executable,
                "-m",
                "stacks.bench",
                "--endpoint",
                vllm.url + "/v1",
                "--concurrency",
                "2,4",
                "--duration",
                "30",
                "--warmup",
                "0",
                "--input-tokens",
                "10",
                "--output-tokens",
                str(OUTPUT),
                "--json",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            # the sizing probe, the level's first two requests, and one that a worker sends only after
            # its first request ended: the first level has measured a request
            while (
                time.monotonic() < deadline
                and sum(1 for r in vllm.requests if r[1] == "/v1/chat/completions") < 4
            ):
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
        finally:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    data = json.loads(out)
    assert data["stoppedBy"] == "ctrl-c" and data["levels"][0]["concurrency"] == 2
    assert data["levels"][0]["succeeded"] > 0 and not data["levels"][0]["complete"]
    assert any("Ctrl-C" in note for note in data["notes"])


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (dict(concurrency="0,4"), "--concurrency '0,4'"),
        (dict(concurrency="many"), "positive whole numbers"),
        (dict(duration=0), "--duration 0 must be"),
        (dict(endpoint="http://127.0.0.1:9/api"), "give http://127.0.0.1:9/api/v1"),
        (dict(ca_file="/nonexistent/root.crt"), "--ca-file /nonexistent/root.crt: no such file"),
    ],
)
def test_usage_errors_are_one_line(capsys, overrides, needle):
    code, data, _ = run_bench(capsys, overrides.pop("endpoint", "http://127.0.0.1:9/v1"), **overrides)
    assert code == 2 and needle in data["error"]


def test_an_endpoint_without_a_key_is_a_usage_error(capsys):
    code, data, _ = run_bench(capsys, "http://127.0.0.1:9/v1", key=None)
    assert code == 2 and "APERTUS_API_KEY" in data["error"]


def test_an_unreachable_endpoint_fails_in_one_line(capsys):
    code, data, _ = run_bench(capsys, "http://127.0.0.1:9/v1", concurrency="1", duration=0.2)
    assert code == 1 and data["stoppedBy"] == "error" and data["levels"] == []
    assert "connection failed" in data["error"]


def test_plot_says_how_to_install_matplotlib_or_draws_the_png(capsys, tmp_path, measured):
    if not has_matplotlib():
        target = tmp_path / "bench.png"
        code, data, _ = run_bench(capsys, "http://127.0.0.1:9/v1", plot=str(target))
        assert code == 2 and "pip install 'apertus-azure[plot]'" in data["error"] and not target.exists()
        return
    _, data, _, png = measured  # the ladder above, run with --plot
    assert png.read_bytes().startswith(b"\x89PNG") and f"plot written to {png}" in data["notes"]


def test_through_real_caddy_with_the_container_apps_caddyfile(capsys, tmp_path):
    from test_gateway import VARIANTS, running_gateway

    with running_gateway(VARIANTS["containerapp"], tmp_path) as gateway:
        gateway.standin.set_timing(TIMING)
        code, data, _ = run_bench(
            capsys, f"http://127.0.0.1:{gateway.port}/v1", concurrency="2", duration=0.8, warmup=0.1
        )
    assert code == 0, data
    [level] = data["levels"]
    assert level["errors"] == {} and level["succeeded"] > 0
    # Caddy streams the tokens as they come (no buffering): the stand-in's timing survives the proxy
    assert TIMING.token_delay * 0.8 <= level["itlSeconds"]["p50"] <= TIMING.token_delay + LATENCY_SLACK / 3
    assert TIMING.ttft <= level["ttftSeconds"]["p50"] <= TIMING.ttft + LATENCY_SLACK


def test_the_stand_in_answers_help():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "vllm_standin.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stderr == ""
    for option in (
        "--port",
        "--api-key",
        "--ttft",
        "--token-delay",
        "--max-concurrency",
        "--fail-every",
        "--failure",
    ):
        assert option in result.stdout
    assert "python -m stacks smoke" in result.stdout


def _models_answer(models_body: bytes):
    from test_smoke import _json

    def answer(handler, path, auth, body):
        if path.startswith("/v1") and auth != f"Bearer {DEFAULT_API_KEY}":
            return _json(401, {"error": "Unauthorized"})
        if path == "/v1/models":
            return 200, {}, models_body
        return _json(500, {"error": {"message": "\x1b[2J\x1b]0;pwn\x07 engine down"}})
    return answer


def test_a_huge_models_answer_stops_at_the_read_limit(capsys):
    from test_smoke import Hostile

    huge = b'{"object":"list","data":[{"id":"' + b"A" * 20_000_000 + b'"}]}'
    started = time.monotonic()
    with Hostile(_models_answer(huge)) as server:
        code, data, _ = run_bench(capsys, server.url + "/v1", concurrency="1", duration=0.2, timeout=8)
    assert time.monotonic() - started < 8
    assert code == 1 and data["stoppedBy"] == "error"
    assert data["error"].startswith("the answer is larger than 1,0") and len(data["error"]) < 300, data["error"]


def test_server_strings_are_printed_with_control_characters_escaped(capsys):
    from test_smoke import Hostile

    models = json.dumps({"object": "list", "data": [{"id": "m\x1b[31m\u202e", "object": "model"}]}).encode()
    with Hostile(_models_answer(models)) as server:
        code, text, err = run_bench(capsys, server.url + "/v1", concurrency="1", duration=0.2, timeout=8,
                                    json=False)
    assert code == 1
    assert "\x1b" not in text + err and "\u202e" not in text + err and "\x07" not in text + err
    assert "\\x1b[2J" in text or "\\x1b[31m" in text, text
