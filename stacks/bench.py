"""``python -m stacks bench [--stack NAME | --endpoint URL] [options] [--json] [--plot FILE.png]``.

After ``smoke`` passed: loads the live endpoint with streamed chat completions (the ``openai`` SDK's
async client) at a ladder of concurrency levels, and measures per level requests/s, output
tokens/s, time to first token (p50/p95/p99), inter-token latency (p50/p95), end-to-end latency
(p50/p95) and errors by kind; then the knee (the highest level whose p95 TTFT stays under
``--ttft-slo``), $ per million output tokens at each level from the plan's whole-deployment hourly
cost, and the plan's estimate (components/serving/throughput.py) next to each measured figure.

Endpoint and key as ``smoke`` finds them (the stack's outputs, or ``--endpoint`` with the key in
APERTUS_API_KEY), the same ``--ca-file`` and the same redaction. ``--timeout`` bounds the whole run;
Ctrl-C stops it and prints what was measured so far. Token counts are the server's (``usage``,
streamed with ``stream_options.include_usage``); prompts are sized by the server's own count
(``size_prompt``). Exit 0 when every level ran, 1 when the endpoint failed or the budget ran out,
2 for a usage error, 130 after Ctrl-C. docs/bench.md has the JSON schema (``BENCH_SCHEMA``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import smoke
from .common import GIVEN, stack_and_source, stack_label
from .smoke import Deadline, Progress, UsageError, redact, usage_error

DEFAULT_LEVELS = (1, 4, 16, 64)
DEFAULT_DURATION = 60.0
DEFAULT_INPUT_TOKENS = 512
DEFAULT_OUTPUT_TOKENS = 256
DEFAULT_TTFT_SLO = 2.0
REQUEST_SECONDS = 300.0  # one request at most (256 tokens at 1 token/s is a broken endpoint)
SIZING_PROBES = 6
SIZING_SECONDS = 60.0  # one sizing probe at most
MODEL_ID_MAX = 256  # longer is not a model id (Hugging Face repo ids are at most 96 characters)
PLOT_HINT = "--plot needs matplotlib: pip install 'apertus-azure[plot]' (or: pip install matplotlib)"
# Words for synthetic prompts: common English words, shuffled per request so no two prompts share a
# prefix (vLLM's prefix cache would otherwise skip their prefill)
WORDS = (
    "time year people way day man thing woman life child world school state family student group "
    "country problem hand part place case week company system program question work government "
    "number night point home water room mother area money story fact month lot right study book "
    "eye job word business issue side kind head house service friend father power hour game line "
    "end member law car city community name president team minute idea kid body information back "
    "parent face others level office door health person art war history party result change "
    "morning reason research girl guy moment air teacher force education"
).split()

# The --json document (docs/bench.md explains each field)
_PERCENTILES = {"type": "object", "additionalProperties": {"type": ["number", "null"]}}
_ESTIMATED = {
    "type": "object",
    "required": ["measured", "estimate", "ratio"],
    "properties": {
        "measured": {"type": ["number", "null"]},
        "estimate": {"type": ["number", "null"]},
        "ratio": {"type": ["number", "null"]},
    },
}
BENCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "endpoint",
        "stack",
        "model",
        "options",
        "promptSizing",
        "levels",
        "knee",
        "plan",
        "stoppedBy",
        "notes",
    ],
    "properties": {
        "endpoint": {"type": "string"},
        "stack": {"type": ["string", "null"]},
        "stackSource": {"type": ["string", "null"]},
        "model": {"type": "string"},
        "options": {
            "type": "object",
            "required": [
                "concurrency",
                "durationSeconds",
                "warmupSeconds",
                "inputTokens",
                "outputTokens",
                "ttftSloSeconds",
                "timeoutSeconds",
            ],
            "properties": {
                "concurrency": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "durationSeconds": {"type": "number"},
                "warmupSeconds": {"type": "number"},
                "inputTokens": {"type": "integer"},
                "outputTokens": {"type": "integer"},
                "ttftSloSeconds": {"type": "number"},
                "timeoutSeconds": {"type": "number"},
            },
        },
        "promptSizing": {
            "type": "object",
            "required": ["targetTokens", "serverTokens", "words", "probes", "converged"],
            "properties": {
                "targetTokens": {"type": "integer"},
                "serverTokens": {"type": ["integer", "null"]},
                "words": {"type": "integer"},
                "probes": {"type": "integer"},
                "converged": {"type": "boolean"},
                "history": {"type": "array", "items": {"type": "array"}},
            },
        },
        "levels": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "concurrency",
                    "complete",
                    "requests",
                    "succeeded",
                    "requestsPerSecond",
                    "outputTokensPerSecond",
                    "ttftSeconds",
                    "itlSeconds",
                    "e2eSeconds",
                    "errors",
                    "usdPerMillionOutputTokens",
                    "estimate",
                ],
                "properties": {
                    "concurrency": {"type": "integer"},
                    "complete": {"type": "boolean"},
                    "requests": {"type": "integer"},
                    "succeeded": {"type": "integer"},
                    "requestsPerSecond": {"type": "number"},
                    "outputTokensPerSecond": {"type": "number"},
                    "ttftSeconds": {**_PERCENTILES, "required": ["p50", "p95", "p99"]},
                    "itlSeconds": {**_PERCENTILES, "required": ["p50", "p95"]},
                    "e2eSeconds": {**_PERCENTILES, "required": ["p50", "p95"]},
                    "errors": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "usdPerMillionOutputTokens": {"type": ["number", "null"]},
                    "estimate": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": [
                                    "outputTokensPerSecond",
                                    "ttftP50Seconds",
                                    "itlP50Seconds",
                                    "e2eP50Seconds",
                                    "usdPerMillionOutputTokens",
                                ],
                                "additionalProperties": _ESTIMATED,
                            },
                        ]
                    },
                },
            },
        },
        "knee": {
            "type": "object",
            "required": ["concurrency", "ttftP95Seconds", "sloSeconds", "reason"],
            "properties": {
                "concurrency": {"type": ["integer", "null"]},
                "ttftP95Seconds": {"type": ["number", "null"]},
                "sloSeconds": {"type": "number"},
                "reason": {"type": "string"},
            },
        },
        "plan": {
            "type": "object",
            "required": ["hourlyUsd", "source"],
            "properties": {"hourlyUsd": {"type": ["number", "null"]}, "source": {"type": "string"}},
        },
        "stoppedBy": {"enum": [None, "ctrl-c", "timeout", "error"]},
        "error": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class Options:
    levels: tuple[int, ...]
    duration: float
    warmup: float
    input_tokens: int
    output_tokens: int
    ttft_slo: float


@dataclass
class Sample:
    """One request: when it started, what came back, or the kind of failure."""

    start: float
    end: float = 0.0
    ttft: float | None = None
    itls: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # when each chunk with text came
    output_tokens: int = 0
    error: str | None = None


class Interrupted(Exception):
    """Ctrl-C or the --timeout budget: stop, and report what was measured."""


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, linear between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def parse_levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise UsageError(
            f"--concurrency {text!r}: give positive whole numbers separated by commas, e.g. 1,4,16,64"
        )
    return tuple(sorted(set(levels)))


# ---------------------------------------------------------------- the client's requests


def prompt_text(words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def error_kind(error: BaseException, streaming: bool) -> str:
    import openai

    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if streaming:
        return "broken stream"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed"
    return type(error).__name__


async def one_request(client: Any, model: str, prompt: str, options: Options, deadline: Deadline) -> Sample:
    sample = Sample(start=time.monotonic())
    seconds = min(REQUEST_SECONDS, max(deadline.left(), 0.001))
    streaming = False
    finished = False
    usage_tokens: int | None = None

    async def consume() -> None:
        nonlocal streaming, finished, usage_tokens
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=options.output_tokens,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
            timeout=seconds,
        )
        streaming = True
        last = None
        try:
            async for chunk in stream:
                usage = getattr(chunk, "usage", None)
                if usage is not None and isinstance(getattr(usage, "completion_tokens", None), int):
                    usage_tokens = usage.completion_tokens
                for choice in getattr(chunk, "choices", None) or []:
                    delta = getattr(choice, "delta", None)
                    if delta is not None and getattr(delta, "content", None):
                        now = time.monotonic()
                        sample.arrivals.append(now)
                        if sample.ttft is None:
                            sample.ttft = now - sample.start
                        else:
                            sample.itls.append(now - last)
                        last = now
                    if getattr(choice, "finish_reason", None):
                        finished = True
        finally:
            await stream.close()

    try:
        await asyncio.wait_for(consume(), seconds)
        if not finished or sample.ttft is None:
            sample.error = "broken stream"
        elif usage_tokens is None:
            sample.error = "no usage in the stream"
        else:
            sample.output_tokens = usage_tokens
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure is counted by kind, none stops the run
        sample.error = error_kind(error, streaming)
    sample.end = time.monotonic()
    return sample


async def count_prompt_tokens(client: Any, model: str, text: str, deadline: Deadline) -> int:
    reply = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        max_tokens=1,
        timeout=min(SIZING_SECONDS, max(deadline.left(), 0.001)),
    )
    tokens = getattr(getattr(reply, "usage", None), "prompt_tokens", None)
    if not isinstance(tokens, int) or tokens <= 0:
        raise ValueError("the server's reply has no usage.prompt_tokens: is it vLLM's OpenAI-compatible API?")
    return tokens


async def size_prompt(client: Any, model: str, target: int, deadline: Deadline) -> dict[str, Any]:
    """How many words make a ``target``-token prompt, by the server's own count (chat template
    included): one probe at ``target`` words, then secant steps on (words, tokens) until the count
    is within 1% (at least one token) of the target, at most SIZING_PROBES probes."""
    tolerance = max(1, round(target * 0.01))
    words, history = target, []
    for _ in range(SIZING_PROBES):
        tokens = await count_prompt_tokens(client, model, prompt_text(words, seed=0), deadline)
        history.append([words, tokens])
        if abs(tokens - target) <= tolerance:
            return {
                "targetTokens": target,
                "serverTokens": tokens,
                "words": words,
                "probes": len(history),
                "converged": True,
                "history": history,
            }
        (w1, t1), (w2, t2) = (history[-2], history[-1]) if len(history) > 1 else ((0, 0), history[-1])
        slope = (t2 - t1) / (w2 - w1) if w2 != w1 and t2 != t1 else tokens / words
        words = max(1, words + round((target - tokens) / max(slope, 1e-3)))
    best = min(history, key=lambda h: abs(h[1] - target))
    return {
        "targetTokens": target,
        "serverTokens": best[1],
        "words": best[0],
        "probes": len(history),
        "converged": False,
        "history": history,
    }


# ---------------------------------------------------------------- a level, and what it measured


async def run_level(
    client: Any,
    model: str,
    prompts: list[str],
    concurrency: int,
    options: Options,
    deadline: Deadline,
    stop: asyncio.Event,
    show: Callable[[str], None],
) -> tuple[list[Sample], float, bool]:
    """Closed loop: ``concurrency`` workers, each sending its next request when one ends, from the
    level's start until warm-up + duration; the requests started after the warm-up are measured.
    Returns the samples, the measurement window's start, and whether the level ran to its end."""
    started = time.monotonic()
    window_start, window_end = started + options.warmup, started + options.warmup + options.duration
    samples: list[Sample] = []
    counter = iter(range(10**9))

    async def worker() -> None:
        while not stop.is_set() and time.monotonic() < window_end and deadline.left() > 0:
            samples.append(
                await one_request(client, model, prompts[next(counter) % len(prompts)], options, deadline)
            )

    async def ticker() -> None:
        while True:
            now = time.monotonic()
            done = [s for s in samples if s.start >= window_start and s.error is None]
            phase = (
                "warm-up"
                if now < window_start
                else f"{min(now, window_end) - window_start:.0f} of {options.duration:g} s"
            )
            tokens = sum(s.output_tokens for s in done)
            rate = tokens / (now - window_start) if now > window_start else 0
            show(f"concurrency {concurrency}: {phase}, {len(done)} requests, {rate:,.0f} output tokens/s")
            await asyncio.sleep(0.5)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    tick = asyncio.create_task(ticker())
    stopper = asyncio.create_task(stop.wait())
    complete = True
    try:
        pending = set(workers)
        while pending:
            done, pending = await asyncio.wait(
                pending | {stopper}, timeout=max(deadline.left(), 0), return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(stopper)
            if stop.is_set() or deadline.left() <= 0:
                complete = False
                break
    finally:
        for task in [*workers, tick, stopper]:
            task.cancel()
        await asyncio.gather(*workers, tick, stopper, return_exceptions=True)
    return samples, window_start, complete and not stop.is_set()


def summarize(
    samples: list[Sample],
    window_start: float,
    window_seconds: float,
    concurrency: int,
    complete: bool,
    hourly_usd: float | None,
) -> dict[str, Any]:
    """Latencies and errors of the requests started in the window (after the warm-up). Output
    tokens/s: the tokens that arrived in the window (each request's ``usage`` count spread over its
    streamed chunks, by arrival time) over its length, so requests straddling its edges count for
    their part; requests/s: that rate over the mean output tokens of a request (steady state)."""
    measured = [s for s in samples if s.start >= window_start]
    ok = [s for s in measured if s.error is None]
    window_end = window_start + window_seconds
    span = min(window_seconds, max((s.end for s in samples), default=window_start) - window_start)
    tokens = sum(
        s.output_tokens * sum(window_start <= t <= window_end for t in s.arrivals) / len(s.arrivals)
        for s in samples
        if s.error is None and s.arrivals
    )
    tokens_per_second = tokens / span if span > 0 else 0.0
    finished = [s.output_tokens for s in samples if s.error is None and s.output_tokens]
    per_request = sum(finished) / len(finished) if finished else 0
    ttfts = [s.ttft for s in ok if s.ttft is not None]
    itls = [gap for s in ok for gap in s.itls]
    e2es = [s.end - s.start for s in ok]
    return {
        "concurrency": concurrency,
        "complete": complete,
        "requests": len(measured),
        "succeeded": len(ok),
        "requestsPerSecond": round(tokens_per_second / per_request, 4) if per_request else 0.0,
        "outputTokensPerSecond": round(tokens_per_second, 2),
        "ttftSeconds": {f"p{q}": _round(percentile(ttfts, q)) for q in (50, 95, 99)},
        "itlSeconds": {f"p{q}": _round(percentile(itls, q)) for q in (50, 95)},
        "e2eSeconds": {f"p{q}": _round(percentile(e2es, q)) for q in (50, 95)},
        "errors": dict(sorted(collections.Counter(s.error for s in measured if s.error).items())),
        "usdPerMillionOutputTokens": _round(usd_per_million(hourly_usd, tokens_per_second), 4),
        "estimate": None,
    }


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(value, digits)


def usd_per_million(hourly_usd: float | None, tokens_per_second: float) -> float | None:
    """As components/serving/throughput.usd_per_million; not imported from there: the components
    package imports Pulumi, seconds that a benchmark without a plan should not wait."""
    if hourly_usd is None or tokens_per_second <= 0:
        return None
    return hourly_usd / (tokens_per_second * 3600) * 1e6


def find_knee(levels: list[dict[str, Any]], slo: float) -> dict[str, Any]:
    """The highest level whose p95 time to first token stays under the SLO."""
    under = [
        level
        for level in levels
        if level["ttftSeconds"]["p95"] is not None
        and level["ttftSeconds"]["p95"] < slo
        and level["succeeded"]
    ]
    if not under:
        return {
            "concurrency": None,
            "ttftP95Seconds": None,
            "sloSeconds": slo,
            "reason": f"no level kept p95 time to first token under {slo:g} s",
        }
    knee = max(under, key=lambda level: level["concurrency"])
    above = [level["concurrency"] for level in levels if level["concurrency"] > knee["concurrency"]]
    return {
        "concurrency": knee["concurrency"],
        "ttftP95Seconds": knee["ttftSeconds"]["p95"],
        "sloSeconds": slo,
        "reason": (
            f"p95 time to first token {knee['ttftSeconds']['p95']:.3f} s < {slo:g} s"
            + (
                f"; above it (concurrency {above[0]}) it is not"
                if above
                else "; the highest level measured: the knee may be higher"
            )
        ),
    }


# ---------------------------------------------------------------- the plan's estimate


@dataclass(frozen=True)
class PlanEstimate:
    """What the plan says this deployment serves: for the estimate next to each measured figure."""

    hourly_usd: float | None
    source: str
    tokens_per_second: Callable[[int], float] | None = None  # concurrency -> output tokens/s
    step_seconds: Callable[[int], float] | None = None  # concurrency -> inter-token latency
    ttft_seconds: float | None = None  # one prompt on an idle replica


def plan_estimate(
    stack: str | None, root: Path, options: Options, hourly_override: float | None
) -> PlanEstimate:
    if stack is None:
        if hourly_override is not None:
            return PlanEstimate(hourly_override, "--usd-per-hour")
        return PlanEstimate(
            None, "no stack: pass --stack for the plan's cost and estimate, or --usd-per-hour"
        )
    from components.serving import GPUS, ConfigError, resolve_model, throughput

    from .common import StackFileError, plan_stack

    try:
        plan = plan_stack(stack, root)["plan"]
    except (ConfigError, StackFileError) as error:
        return PlanEstimate(hourly_override, f"no plan for stack '{stack}' ({error})")
    hourly = (
        hourly_override
        if hourly_override is not None
        else (plan.get("throughput") or {}).get("deploymentHourlyUsd")
    )
    source = (
        "--usd-per-hour"
        if hourly_override is not None
        else f"plan of stack '{stack}': the whole deployment running, {plan['gpu']} x max(min replicas, 1)"
    )
    try:
        model = resolve_model(plan["model"])
    except ConfigError:
        return PlanEstimate(hourly, source + " (no throughput estimate for a custom model)")
    sku = GPUS[plan["gpu"]]
    args = (plan["tensorParallelSize"],)
    max_seqs = sku.vllm_default_batch[1]

    def tokens_per_second(concurrency: int) -> float:
        return throughput.decode_tokens_per_second(
            model,
            sku.performance,
            *args,
            min(concurrency, max_seqs),
            options.input_tokens,
            options.output_tokens,
            plan["quantization"],
            plan["kvCacheDtype"],
        )

    def step(concurrency: int) -> float:
        return throughput.step_seconds(
            model,
            sku.performance,
            *args,
            min(concurrency, max_seqs),
            options.input_tokens,
            options.output_tokens,
            plan["quantization"],
            plan["kvCacheDtype"],
        )

    ttft = throughput.prefill_seconds(
        model, sku.performance, *args, options.input_tokens, plan["quantization"]
    )
    return PlanEstimate(hourly, source, tokens_per_second, step, ttft)


def attach_estimate(level: dict[str, Any], estimate: PlanEstimate, options: Options) -> None:
    if estimate.tokens_per_second is None or estimate.step_seconds is None:
        return
    c = level["concurrency"]
    tps = estimate.tokens_per_second(c)
    step = estimate.step_seconds(c)
    figures = {
        "outputTokensPerSecond": (level["outputTokensPerSecond"], tps),
        "ttftP50Seconds": (level["ttftSeconds"]["p50"], estimate.ttft_seconds),
        "itlP50Seconds": (level["itlSeconds"]["p50"], step),
        "e2eP50Seconds": (
            level["e2eSeconds"]["p50"],
            (estimate.ttft_seconds or 0) + (options.output_tokens - 1) * step,
        ),
        "usdPerMillionOutputTokens": (
            level["usdPerMillionOutputTokens"],
            usd_per_million(estimate.hourly_usd, tps),
        ),
    }
    level["estimate"] = {
        name: {
            "measured": measured,
            "estimate": _round(est, 4),
            "ratio": _round(measured / est, 3) if measured is not None and est else None,
        }
        for name, (measured, est) in figures.items()
    }


# ---------------------------------------------------------------- text and plot


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms_text(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def _s_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _hourly(value: float | None) -> str:
    return "none" if value is None else f"${value:.3f}/h"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render(data: dict[str, Any]) -> str:
    o, sizing = data["options"], data["promptSizing"]
    lines = [
        f"apertus-azure bench: {data['endpoint']}"
        + (f" ({stack_label(data['stack'], data.get('stackSource') or GIVEN)})" if data["stack"] else ""),
        f"model {data['model']}; {o['inputTokens']}+{o['outputTokens']}-token requests; "
        f"{o['durationSeconds']:.3g} s per level after {o['warmupSeconds']:.3g} s of warm-up; "
        f"TTFT SLO {o['ttftSloSeconds']:g} s",
        f"prompts: {sizing['words']} words = {sizing['serverTokens']} tokens by the server's count "
        f"({sizing['probes']} probe{'s' if sizing['probes'] != 1 else ''}"
        f"{'' if sizing['converged'] else ', not within 1% of the target'})",
        f"cost: {_hourly(data['plan']['hourlyUsd'])} "
        f"({data['plan']['source']})",
        "",
        "  conc   req/s  out tok/s (plan, ratio)       TTFT p50/p95/p99 ms   ITL p50/p95 ms   "
        "e2e p50/p95 s  $/Mtok (plan, ratio)     errors",
    ]
    for level in data["levels"]:
        est = level["estimate"] or {}

        def versus(name: str, text: str, fmt: str = "{:,.0f}") -> str:
            figure = est.get(name)
            if not figure or figure["estimate"] is None:
                return text
            return f"{text} ({fmt.format(figure['estimate'])}, x{_ratio(figure['ratio'])})"

        t, i, e = level["ttftSeconds"], level["itlSeconds"], level["e2eSeconds"]
        usd = level["usdPerMillionOutputTokens"]
        errors = ", ".join(f"{k}: {v}" for k, v in level["errors"].items()) or "none"
        tokens = f"{level['outputTokensPerSecond']:,.0f}"
        priced = "-" if usd is None else f"{usd:.2f}"
        lines.append(
            f"  {level['concurrency']:>4} {level['requestsPerSecond']:>7.2f}  "
            f"{versus('outputTokensPerSecond', tokens):27s} "
            f"{_ms(t['p50']):>6}/{_ms(t['p95']):>6}/{_ms(t['p99']):>6}  "
            f"{_ms(i['p50']):>6}/{_ms(i['p95']):>6}    {_s(e['p50']):>6}/{_s(e['p95']):>6}  "
            f"{versus('usdPerMillionOutputTokens', priced, '{:.2f}'):22s} "
            f"{errors}" + ("" if level["complete"] else "  (cut short)")
        )
        if est:
            lines.append(
                "         plan: "
                + ", ".join(
                    f"{label} {fmt(est[name]['estimate'])} (x{_ratio(est[name]['ratio'])})"
                    for label, name, fmt in (
                        ("TTFT p50", "ttftP50Seconds", _ms_text),
                        ("ITL p50", "itlP50Seconds", _ms_text),
                        ("e2e p50", "e2eP50Seconds", _s_text),
                    )
                )
            )
    knee = data["knee"]
    lines += [
        "",
        f"knee: concurrency {knee['concurrency']} ({knee['reason']})"
        if knee["concurrency"]
        else f"knee: none ({knee['reason']})",
    ]
    lines += [f"note: {note}" for note in data["notes"]]
    return "\n".join(lines)


def check_plot_available() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(PLOT_HINT) from None


def plot(data: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [level for level in data["levels"] if level["succeeded"]]
    x = [level["concurrency"] for level in levels]
    figure, tokens_axis = plt.subplots(figsize=(8, 4.5))
    tokens_axis.plot(x, [level["outputTokensPerSecond"] for level in levels], "o-", label="output tokens/s")
    tokens_axis.set_xscale("log", base=2)
    tokens_axis.set_xticks(x, [str(c) for c in x])  # the levels as numbers, not powers of two
    tokens_axis.set_xlabel("concurrency")
    tokens_axis.set_ylabel("output tokens/s")
    ttft_axis = tokens_axis.twinx()
    ttft_axis.plot(
        x, [level["ttftSeconds"]["p95"] for level in levels], "s--", color="tab:red", label="p95 TTFT"
    )
    ttft_axis.axhline(data["knee"]["sloSeconds"], color="tab:red", linestyle=":", label="TTFT SLO")
    ttft_axis.set_ylabel("p95 time to first token (s)")
    if data["knee"]["concurrency"]:
        tokens_axis.axvline(data["knee"]["concurrency"], color="gray", linestyle="--", label="knee")
    handles = tokens_axis.get_legend_handles_labels()[0] + ttft_axis.get_legend_handles_labels()[0]
    tokens_axis.legend(handles, [h.get_label() for h in handles], loc="upper left")
    tokens_axis.set_title(f"{data['model']}: {data['endpoint']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ---------------------------------------------------------------- the command


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench", help="measure the live endpoint under load (tokens/s, latency, $/Mtok)"
    )
    parser.add_argument(
        "--stack",
        help="stack whose outputs name the endpoint and whose plan prices it "
        "(default: the selected Pulumi stack, else dev)",
    )
    parser.add_argument(
        "--endpoint", help="the .../v1 base URL instead of the stack's; key in APERTUS_API_KEY"
    )
    parser.add_argument(
        "--ca-file",
        help="PEM file of the CA that signed the endpoint's certificate "
        "(e.g. Caddy's internal root.crt); default: the system's CAs, or SSL_CERT_FILE",
    )
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, DEFAULT_LEVELS)),
        help="concurrency levels, a ladder (default %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help="seconds measured per level, after the warm-up (default %(default)g)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds per level before measuring (default: a sixth of --duration, at most 10)",
    )
    parser.add_argument(
        "--input-tokens",
        type=int,
        default=DEFAULT_INPUT_TOKENS,
        help="prompt tokens per request, by the server's count (default %(default)s)",
    )
    parser.add_argument(
        "--output-tokens",
        type=int,
        default=DEFAULT_OUTPUT_TOKENS,
        help="output tokens per request (max_tokens, ignore_eos; default %(default)s)",
    )
    parser.add_argument(
        "--ttft-slo",
        type=float,
        default=DEFAULT_TTFT_SLO,
        help="p95 time-to-first-token objective in seconds: the knee (default %(default)g)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds for the whole run (default: the levels' warm-up and duration plus 120)",
    )
    parser.add_argument(
        "--usd-per-hour", type=float, help="price the tokens with this hourly cost instead of the plan's"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON document (docs/bench.md)"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw tokens/s and p95 TTFT against concurrency "
        "(needs matplotlib: pip install 'apertus-azure[plot]')",
    )


def read_options(args: Any) -> Options:
    levels = parse_levels(args.concurrency)
    for name, value in (("--duration", args.duration), ("--ttft-slo", args.ttft_slo)):
        if value <= 0:
            raise UsageError(f"{name} {value:g} must be a positive number of seconds")
    for name, value in (("--input-tokens", args.input_tokens), ("--output-tokens", args.output_tokens)):
        if value < 1:
            raise UsageError(f"{name} {value} must be at least 1")
    warmup = args.warmup if args.warmup is not None else min(10.0, args.duration / 6)
    if warmup < 0:
        raise UsageError(f"--warmup {warmup:g} must be 0 or more seconds")
    return Options(levels, args.duration, warmup, args.input_tokens, args.output_tokens, args.ttft_slo)


def command(
    args: Any,
    root: Path,
    env: dict[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
) -> int:
    env = os.environ if env is None else env
    source = GIVEN
    try:
        options = read_options(args)
        if args.plot:
            check_plot_available()
        if args.usd_per_hour is not None and args.usd_per_hour < 0:
            raise UsageError(f"--usd-per-hour {args.usd_per_hour:g} must be 0 or more")
        if args.ca_file and not Path(args.ca_file).is_file():
            raise UsageError(
                f"--ca-file {args.ca_file}: no such file; give the PEM file of the endpoint's CA"
            )
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
        if args.endpoint:
            endpoint = args.endpoint.rstrip("/")
            if not endpoint.startswith(("http://", "https://")):
                raise UsageError(
                    f"--endpoint {args.endpoint!r} is not an http(s) URL; give https://<host>/v1"
                )
            if not endpoint.endswith("/v1"):
                raise UsageError(f"--endpoint {args.endpoint} is not the API's base URL: give {endpoint}/v1")
            key = env.get("APERTUS_API_KEY")
            if not key:
                raise UsageError(
                    "--endpoint needs the key in APERTUS_API_KEY "
                    "(e.g. export APERTUS_API_KEY=$(pulumi stack output apiKey --show-secrets))"
                )
            stack, model = args.stack, None
        else:
            stack, source = stack_and_source(args.stack, root, which, run)
            endpoint, key, model = smoke.stack_endpoint(stack, root, run, which)
    except UsageError as error:
        return usage_error(str(error), args.json)
    smoke._SENT_KEYS.add(key)
    timeout = (
        args.timeout
        if args.timeout is not None
        else len(options.levels) * (options.warmup + options.duration) + 120
    )
    estimate = plan_estimate(stack, root, options, args.usd_per_hour)
    data = {
        "endpoint": endpoint,
        "stack": stack,
        "stackSource": source if stack else None,
        "model": model or "",
        "options": {
            "concurrency": list(options.levels),
            "durationSeconds": options.duration,
            "warmupSeconds": options.warmup,
            "inputTokens": options.input_tokens,
            "outputTokens": options.output_tokens,
            "ttftSloSeconds": options.ttft_slo,
            "timeoutSeconds": timeout,
        },
        "promptSizing": {
            "targetTokens": options.input_tokens,
            "serverTokens": None,
            "words": 0,
            "probes": 0,
            "converged": False,
            "history": [],
        },
        "levels": [],
        "knee": find_knee([], options.ttft_slo),
        "plan": {"hourlyUsd": estimate.hourly_usd, "source": estimate.source},
        "stoppedBy": None,
        "notes": [],
    }
    progress = Progress(sys.stderr, key)
    # a loop of its own, not asyncio.run: that would unset the thread's loop, which the plan's
    # offline run (stacks/offline.py) and close_event_loop still use
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(
            _bench(
                endpoint,
                key,
                data,
                options,
                estimate,
                Deadline(timeout),
                progress,
                smoke.tls_context(args.ca_file) if endpoint.startswith("https://") else None,
            )
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop took over: still no traceback
        data["stoppedBy"] = "ctrl-c"
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    progress.done()
    if data["stoppedBy"] == "ctrl-c":
        data["notes"].append("stopped by Ctrl-C: the levels below are what was measured until then")
    elif data["stoppedBy"] == "timeout":
        data["notes"].append(
            f"the --timeout budget ({timeout:g} s) ran out: the levels below are what was "
            "measured until then; raise --timeout or shorten --duration"
        )
    data["knee"] = find_knee(data["levels"], options.ttft_slo)
    if data["plan"]["hourlyUsd"] is None:
        data["notes"].append("no hourly cost: $/Mtok is not priced (pass --stack or --usd-per-hour)")
    if not endpoint.startswith("https://"):
        data["notes"].append(
            f"{endpoint} is plain http: the key travels unencrypted (fine for local testing only)"
        )
    if args.plot and data["levels"]:
        try:
            plot(data, args.plot)
            data["notes"].append(f"plot written to {args.plot}")
        except OSError as error:
            data["notes"].append(f"could not write the plot to {args.plot}: {error.strerror or error}")
    # a server's strings (its model id, its error messages) are shown with control characters as text
    text = redact(json.dumps(data, indent=2) if args.json else render(data), key)
    print("\n".join(smoke.printable(line) for line in text.split("\n")))
    if data["stoppedBy"] == "ctrl-c":
        return 130
    return 0 if data["stoppedBy"] is None else 1


async def _bench(
    endpoint: str,
    key: str,
    data: dict[str, Any],
    options: Options,
    estimate: PlanEstimate,
    deadline: Deadline,
    progress: Progress,
    context: Any,
) -> None:
    import openai

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        data["stoppedBy"] = "ctrl-c"
        stop.set()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # not the main thread (a test calling command()): Ctrl-C raises KeyboardInterrupt instead
    started = time.monotonic()
    client = openai.AsyncOpenAI(
        base_url=endpoint,
        api_key=key,
        max_retries=0,
        default_headers={"Accept-Encoding": "identity"},
        # every answer read through smoke's counter: at most 1 MB, plus 4 KB per streamed token (a
        # vLLM chunk is a few hundred bytes), and never past the deadline
        http_client=openai.DefaultAsyncHttpxClient(
            verify=context or True,
            follow_redirects=False,
            event_hooks=smoke.capped_response_hooks(
                deadline, smoke.MAX_BODY_BYTES + 4096 * options.output_tokens, asynchronous=True
            ),
        ),
    )

    def show(text: str) -> None:
        progress.show(text, time.monotonic() - started)

    try:
        try:
            if not data["model"]:
                page = await asyncio.wait_for(client.models.list(), min(30.0, max(deadline.left(), 0.001)))
                served = [str(getattr(m, "id", "")) for m in getattr(page, "data", None) or []]
                if not served:
                    raise ValueError("no model listed: is the endpoint vLLM's OpenAI-compatible API?")
                if len(served[0]) > MODEL_ID_MAX:  # a Hugging Face repo id is at most 96 characters
                    raise ValueError(f"the served model id is {len(served[0]):,} characters long "
                                     f"({smoke.clip(served[0], 40)}...): is the endpoint vLLM?")
                data["model"] = served[0]
            show("sizing the prompt by the server's token count")
            data["promptSizing"] = await size_prompt(client, data["model"], options.input_tokens, deadline)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one line, no traceback
            message = smoke.unreachable(error, endpoint) or smoke.too_large(error) or (
                smoke.api_failure(error, 30.0)
                if isinstance(error, openai.OpenAIError)
                else f"{type(error).__name__}: {smoke.clip(str(error), 200)}"
            )
            data["stoppedBy"] = "error"
            data["error"] = message
            data["notes"].append(f"the endpoint failed before the first level: {message}")
            return
        words = data["promptSizing"]["words"]
        prompts = [prompt_text(words, seed) for seed in range(1, max(options.levels) * 4 + 1)]
        for concurrency in options.levels:
            if stop.is_set() or deadline.left() <= 0:
                break
            samples, window_start, complete = await run_level(
                client, data["model"], prompts, concurrency, options, deadline, stop, show
            )
            level = summarize(
                samples, window_start, options.duration, concurrency, complete, estimate.hourly_usd
            )
            attach_estimate(level, estimate, options)
            if level["requests"] or complete:
                data["levels"].append(level)
            if not complete and data["stoppedBy"] is None:
                data["stoppedBy"] = "timeout"
        if deadline.left() <= 0 and data["stoppedBy"] is None and len(data["levels"]) < len(options.levels):
            data["stoppedBy"] = "timeout"
    finally:
        await client.close()
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


if __name__ == "__main__":  # python -m stacks.bench [options]: the same command, without the plan's imports
    import argparse

    from .stackfile import ROOT

    _parser = argparse.ArgumentParser(prog="python -m stacks")
    add_parser(_parser.add_subparsers(dest="command", required=True))
    sys.exit(command(_parser.parse_args(["bench", *sys.argv[1:]]), ROOT))
