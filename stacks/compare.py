"""``python -m stacks plan --compare [--stack NAME] [--json]``: what a token costs on every fit.

For the stack's model and context (maxModelLen as planned, gpuMemoryUtilization, region): every
host x GPU size x quantization x kvCacheDtype the planner accepts, one row each, sorted by the
estimated $ per million output tokens at saturation (components/serving/throughput.py), the
stack's current choice marked. Offline, like ``plan``.

Also here: the plan's throughput figures (``throughput_json``, in ``plan --json`` and the plan
text) and the optional ``expectedRequestsPerMinute`` key they price a real load with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.serving import HOSTS, ConfigError, plan_serving, resolve_model, throughput
from components.serving.gpus import gpus_for_host
from components.serving.launch import DEFAULT_IMAGE
from components.serving.models import KV_CACHE_DTYPES, MODELS, QUANTIZATIONS
from components.serving.plan import unsupported
from components.serving.pricing import HOURS_PER_MONTH, whole_cost

EXPECTED_LOAD_KEY = "expectedRequestsPerMinute"
# a million requests a minute (16,667 a second) is far beyond any deployment this project plans (a few
# hundred requests a second even at Container Apps' 1,000 replicas); a larger figure is a typo and would
# plan absurd replica counts (9.2e18 planned 9.67e15 replicas)
EXPECTED_LOAD_MAX = 1_000_000


def read_expected_load(reader: Any = None) -> int | None:
    """``expectedRequestsPerMinute``: a whole number of requests a minute, or None when unset."""
    if reader is None:
        from .config import ConfigReader

        reader = ConfigReader()
    value = reader.raw(EXPECTED_LOAD_KEY)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            EXPECTED_LOAD_KEY,
            value,
            "must be a whole number of requests per minute, at least 1",
            f"e.g. pulumi config set {EXPECTED_LOAD_KEY} 30, or remove it",
        )
    if value > EXPECTED_LOAD_MAX:
        raise ConfigError(
            EXPECTED_LOAD_KEY,
            value,
            f"is more than {EXPECTED_LOAD_MAX:,} requests per minute, beyond any deployment this project plans",
            f"give your real peak load, at most {EXPECTED_LOAD_MAX}",
        )
    return value


def running_hourly_usd(costs: Any, machines: int = 1) -> float | None:
    """The whole deployment running with ``machines`` GPU machines: GPU hours plus everything fixed."""
    if costs.gpu_usd_per_hour is None:
        return None
    return costs.gpu_usd_per_hour * machines + costs.fixed_usd_per_month / HOURS_PER_MONTH


def plan_throughput(
    args: Any, expected_requests_per_minute: int | None = None
) -> throughput.ThroughputEstimate:
    """The throughput and $/Mtok of a host's args (its plan, region, spot, always-on machines)."""
    plan = args.plan
    bounds = getattr(args, "gpu_node_bounds", None)
    always = max(bounds[0] if bounds else getattr(args, "min_replicas", 1), 1)
    costs = whole_cost(
        plan,
        region=args.location,
        spot=getattr(args, "spot", False),
        min_machines=always,
        internal=args.internal,
    )
    return throughput.estimate(
        plan.model,
        plan.gpu,
        plan.tensor_parallel_size,
        plan.kv_cache_tokens,
        running_hourly_usd(costs, always),
        plan.quantization,
        plan.kv_cache_dtype,
        expected_requests_per_minute,
        replica_hourly_usd=costs.gpu_usd_per_hour,
    )


def throughput_json(args: Any) -> dict[str, Any]:
    """The plan's ``throughput`` entry (plan --json); the expected load from the stack config."""
    return plan_throughput(args, read_expected_load()).to_json()


def throughput_lines(p: dict[str, Any]) -> list[str]:
    """The plan text's throughput lines, from its ``throughput`` entry."""
    t = p.get("throughput")
    if not t:
        return []
    ref = t["referenceRequest"]
    lines = [
        f"  throughput    est. {t['outputTokensPerSecondSaturated']:,.0f} output tokens/s per replica at "
        f"{t['saturationBatch']} concurrent {ref['inputTokens']}+{ref['outputTokens']}-token requests "
        f"({t['singleStreamTokensPerSecond']:,.0f} tokens/s for one alone); "
        f"{_usd(t['usdPerMillionOutputTokensSaturated'])}/M output tokens when saturated"
    ]
    if t["expectedRequestsPerMinute"] is not None:
        lines.append(
            f"                at {t['expectedRequestsPerMinute']} requests/min: "
            f"{t['expectedOutputTokensPerSecond']:,.1f} tokens/s on {t['replicasForExpectedLoad']} "
            f"replica(s), {_usd(t['usdPerMillionOutputTokensExpected'])}/M output tokens"
        )
    lines.append(
        "                (roofline estimate, see docs/cost-per-token.md; measure: python -m stacks bench)"
    )
    return lines


def _usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


@dataclass(frozen=True)
class Row:
    host: str
    gpu: str
    gpu_hardware: str
    quantization: str
    kv_cache_dtype: str
    tensor_parallel_size: int
    max_model_len: int
    kv_cache_tokens: int
    cold_start_seconds: int | None
    running_usd_per_hour: float | None
    idle_usd_per_month: float
    tokens_per_second: float
    usd_per_mtok: float | None
    current: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "gpu": self.gpu,
            "gpuHardware": self.gpu_hardware,
            "quantization": self.quantization,
            "kvCacheDtype": self.kv_cache_dtype,
            "tensorParallelSize": self.tensor_parallel_size,
            "maxModelLen": self.max_model_len,
            "kvCacheTokens": self.kv_cache_tokens,
            "coldStartSeconds": self.cold_start_seconds,
            "runningUsdPerHour": None
            if self.running_usd_per_hour is None
            else round(self.running_usd_per_hour, 3),
            "idleUsdPerMonth": round(self.idle_usd_per_month, 2),
            "outputTokensPerSecond": round(self.tokens_per_second, 1),
            "usdPerMillionOutputTokens": None if self.usd_per_mtok is None else round(self.usd_per_mtok, 3),
            "current": self.current,
        }


def compare_rows(
    model_name: str,
    max_model_len: int,
    utilization: float,
    region: str | None,
    current: tuple[str, str, str, str] | None = None,
) -> list[Row]:
    """Every host x GPU x quantization x KV dtype that holds ``model_name`` at ``max_model_len``."""
    from .program import host_module

    model = MODELS.get(model_name) or resolve_model(model_name)
    rows = []
    for host in HOSTS:
        network_cache = host_module(host).NETWORK_CACHE
        for sku in gpus_for_host(host):
            for quantization in QUANTIZATIONS:
                for kv_cache_dtype in KV_CACHE_DTYPES:
                    if unsupported(model, sku, quantization, kv_cache_dtype):
                        continue
                    try:
                        plan = plan_serving(
                            host=host,
                            model=model,
                            gpu=sku.name,
                            max_model_len=max_model_len,
                            gpu_memory_utilization=utilization,
                            image=DEFAULT_IMAGE,
                            region=region,
                            network_cache=network_cache,
                            quantization=quantization,
                            kv_cache_dtype=kv_cache_dtype,
                        )
                    except ConfigError:
                        continue  # does not hold the model and context
                    if plan.tensor_parallel_size < sku.gpus_per_replica:
                        continue  # idle GPUs: the smaller size of the same GPU is the fit
                    running = whole_cost(plan, region=region, min_machines=1)
                    # idle: no requests. AKS keeps minReplicas >= 1 (KEDA scales on what running replicas
                    # report), so one replica's GPU machine runs all month; the others stop
                    idle_usd = (running.monthly_24x7_usd if host == "aks"
                                else whole_cost(plan, region=region, min_machines=0).fixed_usd_per_month)
                    hourly = running_hourly_usd(running)
                    estimate = throughput.estimate(
                        model,
                        sku,
                        plan.tensor_parallel_size,
                        plan.kv_cache_tokens,
                        hourly,
                        quantization,
                        kv_cache_dtype,
                    )
                    rows.append(
                        Row(
                            host,
                            sku.name,
                            f"{sku.gpus_per_replica} x {sku.gpu_model} {sku.gpu_memory_gb:g} GB",
                            quantization,
                            kv_cache_dtype,
                            plan.tensor_parallel_size,
                            plan.max_model_len,
                            plan.kv_cache_tokens,
                            plan.cold_start.first_seconds if plan.cold_start else None,
                            hourly,
                            idle_usd,
                            estimate.saturation_tokens_per_second,
                            estimate.usd_per_mtok_saturated,
                            current == (host, sku.name, quantization, kv_cache_dtype),
                        )
                    )
    return sorted(rows, key=lambda r: (r.usd_per_mtok is None, r.usd_per_mtok or 0, r.host, r.gpu))


def compare_stack(stack: str, root: Path, source: str = "--stack") -> dict[str, Any]:
    from .common import plan_stack

    p = plan_stack(stack, root)["plan"]
    current = (p["host"], p["gpu"], p["quantization"], p["kvCacheDtype"])
    rows = compare_rows(p["model"], p["maxModelLen"], p["gpuMemoryUtilization"], p["region"], current)
    return {
        "stack": stack,
        "stackSource": source,
        "model": p["model"],
        "maxModelLen": p["maxModelLen"],
        "region": p["region"],
        "gpuMemoryUtilization": p["gpuMemoryUtilization"],
        "referenceRequest": {
            "inputTokens": throughput.REFERENCE_INPUT_TOKENS,
            "outputTokens": throughput.REFERENCE_OUTPUT_TOKENS,
        },
        "rows": [row.to_json() for row in rows],
    }


def cold_start_legend(rows: list[dict[str, Any]]) -> list[str]:
    """The first start per host, not per row: in the estimate (components/serving/coldstart.py) the
    host's own start, the image pull and the weight download make it; the GPU changes it by seconds
    (the PCIe copy, TP workers), well inside an estimate whose rates can be off by half."""
    first: dict[str, int] = {}
    for r in rows:
        if r["coldStartSeconds"] is not None:
            first[r["host"]] = max(first.get(r["host"], 0), r["coldStartSeconds"])
    if not first:
        return []
    hosts = ", ".join(f"{host} ~{first[host] / 60:.0f} min" for host in HOSTS if host in first)
    return [f"  cold start, first: {hosts}. Per host, not a column: the host's own start, the image pull "
            "and the weight download make it, the GPU changes it by seconds; an estimate whose rates can be "
            "off by half (docs/cold-start.md)."]


def render(data: dict[str, Any]) -> str:
    from .common import stack_label

    ref = data["referenceRequest"]
    lines = [
        f"apertus-azure plan --compare: {stack_label(data['stack'], data['stackSource'])}, {data['model']} "
        f"at {data['maxModelLen']:,} "
        f"tokens of context, region {data['region']} (offline estimates)",
        "",
        f"  {'':1s} {'host':12s} {'gpu':27s} {'TP':>2s} {'weights/KV':10s} {'context':>7s} "
        f"{'KV tokens':>10s} "
        f"{'$/h run':>8s} {'$/mo idle':>9s} {'tok/s':>7s} {'$/Mtok':>7s}",
    ]
    for r in data["rows"]:
        run = f"{r['runningUsdPerHour']:.2f}" if r["runningUsdPerHour"] is not None else "-"
        per = f"{r['usdPerMillionOutputTokens']:.2f}" if r["usdPerMillionOutputTokens"] is not None else "-"
        options = (
            f"{'bf16' if r['quantization'] == 'none' else r['quantization']}/"
            f"{'bf16' if r['kvCacheDtype'] == 'auto' else r['kvCacheDtype']}"
        )
        lines.append(
            f"  {'*' if r['current'] else ' '} {r['host']:12s} {r['gpu']:27s} {r['tensorParallelSize']:>2} "
            f"{options:10s} {r['maxModelLen']:>7,} {r['kvCacheTokens']:>10,} {run:>8s} "
            f"{r['idleUsdPerMonth']:>9,.2f} {r['outputTokensPerSecond']:>7,.0f} {per:>7s}"
        )
    lines += [
        "",
        "  (*) the stack's current choice. $/h run: the whole deployment with one GPU machine running; "
        "$/mo idle: what bills with no requests (containerapp scaled to zero, vm deallocated, aks with "
        "its one minimum replica's GPU node).",
        f"  tok/s and $/Mtok: one replica saturated with {ref['inputTokens']}+{ref['outputTokens']}-token "
        "requests, from the roofline model (docs/cost-per-token.md); measure yours with "
        "python -m stacks bench.",
        *cold_start_legend(data["rows"]),
    ]
    if not data["rows"]:
        lines.insert(2, "  no host, GPU or quantization holds this model and context")
    return "\n".join(lines)


def command(args: Any, root: Path, stack: str, source: str) -> int:
    """``plan --compare`` of ``stack`` (plan.py resolved it, and ``source`` says why that one)."""
    from .common import print_error, with_stack_source
    from .stackfile import StackFileError

    try:
        data = compare_stack(stack, root, source)
    except (ConfigError, StackFileError) as error:
        return print_error(with_stack_source(error, stack, source), args.json)
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0
