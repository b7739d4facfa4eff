"""The serving planner: does the model fit, on which GPU, with what TP size and context, at what cost.

Memory model (vLLM's own accounting, simplified): vLLM takes ``gpu_memory_utilization`` of each
GPU, subtracts its share of the weights and the memory that is neither weights nor KV cache
(CUDA context, cuBLAS/NCCL workspaces, the activation peak of its profiling run), and gives the
rest to the KV cache (vllm/v1/worker/gpu_worker.py, ``determine_available_memory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ConfigError
from .gpus import GPUS, HOSTS, GpuSku, gpus_for_host
from .coldstart import ColdStart, cache_needed_gib, estimate_cold_start
from .launch import LaunchSpec, build_launch_spec
from .pricing import HOURS_PER_MONTH
from .models import ModelSpec

# Per-GPU memory that is neither weights nor KV cache. Estimate: CUDA context and non-torch
# allocations ~0.5-1 GB, activation peak of the profiling run at vLLM's default batch ~1 GB.
NON_KV_OVERHEAD_BYTES = 2e9
CONTEXT_STEP = 1024  # a shortened context is a multiple of this
MIN_UTILIZATION, MAX_UTILIZATION = 0.5, 0.99


@dataclass(frozen=True)
class MemoryPlan:
    tensor_parallel_size: int
    weight_bytes_per_gpu: float
    kv_bytes_per_gpu: float
    kv_cache_tokens: int


@dataclass(frozen=True)
class Cost:
    hourly_usd: float | None
    monthly_usd: float | None
    hourly_usd_per_sequence: float | None
    source: str


@dataclass(frozen=True)
class ServingPlan:
    """Everything every host needs to know about how the model is served."""

    host: str
    model: ModelSpec
    gpu: GpuSku
    gpu_reason: str
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    kv_cache_tokens: int
    cost: Cost
    launch: LaunchSpec
    warnings: tuple[str, ...] = field(default=())
    cold_start: ColdStart | None = None  # first/warm start estimate and the model cache's size

    @property
    def max_concurrent_sequences(self) -> int:
        """Full-context sequences the KV cache holds at once (vLLM's 'Maximum concurrency')."""
        return self.kv_cache_tokens // self.max_model_len

    @property
    def weights_gb(self) -> float:
        return self.model.weight_bytes / 1e9

    @property
    def cache_size_gib(self) -> int:
        """Room for the weights (25% spare for a revision) and the compile cache."""
        return cache_needed_gib(self.model.weight_bytes)


def usable_bytes_per_gpu(sku: GpuSku, utilization: float) -> float:
    return utilization * sku.gpu_memory_gb * 1e9 - NON_KV_OVERHEAD_BYTES


def memory_plan(model: ModelSpec, sku: GpuSku, utilization: float,
                tensor_parallel_size: int) -> MemoryPlan | None:
    """KV-cache room at one TP size; None when the weights do not fit."""
    weights_per_gpu = model.weight_bytes / tensor_parallel_size
    kv_per_gpu = usable_bytes_per_gpu(sku, utilization) - weights_per_gpu
    if kv_per_gpu <= 0:
        return None
    tokens = int(kv_per_gpu * tensor_parallel_size // model.kv_bytes_per_token)
    return MemoryPlan(tensor_parallel_size, weights_per_gpu, kv_per_gpu, tokens)


def tp_candidates(model: ModelSpec, sku: GpuSku) -> list[int]:
    """Powers of two that divide the attention heads and fit in one replica's GPUs."""
    sizes, tp = [], 1
    while tp <= sku.gpus_per_replica:
        if model.attention_heads % tp == 0:
            sizes.append(tp)
        tp *= 2
    return sizes


def fit(model: ModelSpec, sku: GpuSku, utilization: float, tokens_wanted: int) -> MemoryPlan | None:
    """The smallest TP that holds one ``tokens_wanted`` sequence; else the smallest holding the weights."""
    if model.dtype == "bfloat16" and not sku.bf16:
        return None
    plans = [p for tp in tp_candidates(model, sku) if (p := memory_plan(model, sku, utilization, tp))]
    full = [p for p in plans if p.kv_cache_tokens >= tokens_wanted]
    return (full or plans or [None])[0]


def _fitting_gpus(model: ModelSpec, utilization: float, tokens: int, host: str = "") -> list[str]:
    """Catalog GPUs that hold one ``tokens`` sequence, this host's first, cheapest first, for errors."""
    fitting = [(host not in sku.hosts, sku.price_usd_hour or math.inf, sku.name, sorted(sku.hosts))
               for sku in GPUS.values()
               if (p := fit(model, sku, utilization, tokens)) and p.kv_cache_tokens >= tokens]
    return [f"host {' or '.join(repr(h) for h in hosts)} with gpu '{name}'"
            for _, _, name, hosts in sorted(fitting)[:2]]


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def choose_gpu(model: ModelSpec, host: str, utilization: float, tokens: int) -> tuple[GpuSku, str]:
    """The cheapest GPU valid for the host that holds the weights and one full sequence."""
    candidates = sorted(gpus_for_host(host), key=lambda s: (s.price_usd_hour is None,
                                                            s.price_usd_hour or 0, s.name))
    for sku in candidates:
        plan = fit(model, sku, utilization, tokens)
        if plan and plan.kv_cache_tokens >= tokens:
            price = f"${sku.price_usd_hour:.3f}/h" if sku.price_usd_hour is not None else "unpriced"
            return sku, (f"cheapest of {len(candidates)} {host} GPU options ({price}) that holds the "
                         f"{_gb(model.weight_bytes)} of weights and one {tokens:,}-token sequence "
                         f"({_gb(tokens * model.kv_bytes_per_token)} of KV cache)")
    weights_fit = any(fit(model, sku, utilization, 1) for sku in candidates)
    largest = max(candidates, key=lambda s: s.gpus_per_replica * s.gpu_memory_gb)
    offer = f"{largest.gpus_per_replica} x {largest.gpu_memory_gb:g} GB"
    if weights_fit:
        raise ConfigError(
            "maxModelLen", tokens,
            f"no '{host}' GPU holds {model.hf_id}'s {_gb(model.weight_bytes)} of weights plus "
            f"{_gb(tokens * model.kv_bytes_per_token)} of KV cache for one {tokens:,}-token sequence",
            "set a smaller maxModelLen, a higher gpuMemoryUtilization, or use "
            + (" or ".join(_fitting_gpus(model, utilization, tokens, host)) or "a smaller model"))
    raise ConfigError(
        "model", model.hf_id,
        f"needs {_gb(model.weight_bytes)} for weights but host '{host}' offers at most {offer} "
        "per replica",
        f"use {' or '.join(_fitting_gpus(model, utilization, tokens, host)) or 'a smaller model'}")


def plan_serving(*, host: str, model: ModelSpec, gpu: str | None = None,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 image: str, region: str | None = None, hf_token: bool = True,
                 network_cache: bool = False) -> ServingPlan:
    """Check that the model fits, pick GPU, TP size and context, price it; raise ConfigError if not."""
    if host not in HOSTS:
        raise ConfigError("host", host, "unknown host", f"use one of {', '.join(HOSTS)}")
    if not MIN_UTILIZATION <= gpu_memory_utilization <= MAX_UTILIZATION:
        raise ConfigError("gpuMemoryUtilization", gpu_memory_utilization,
                          f"must be between {MIN_UTILIZATION} and {MAX_UTILIZATION}",
                          "use 0.9 (vLLM's default) or up to 0.98 to make room for more KV cache")
    if max_model_len is not None and not 0 < max_model_len <= model.max_context:
        raise ConfigError("maxModelLen", max_model_len,
                          f"must be between 1 and the model's max context {model.max_context:,}",
                          f"use at most {model.max_context}, or leave it unset")
    tokens = max_model_len or model.max_context
    warnings: list[str] = []

    if gpu is None:
        sku, reason = choose_gpu(model, host, gpu_memory_utilization, tokens)
    else:
        sku = _lookup_gpu(gpu, host)
        reason = "set in the stack config (gpu)"
    plan = fit(model, sku, gpu_memory_utilization, tokens)
    if plan is None:
        why = (f"{sku.gpus_per_replica} x {sku.gpu_memory_gb:g} GB per replica cannot hold "
               f"{_gb(model.weight_bytes)} of {model.hf_id} weights plus runtime overhead")
        if model.dtype == "bfloat16" and not sku.bf16:
            why = (f"{sku.gpu_model} has no bf16 (compute capability {sku.compute_capability}) for "
                   f"{model.hf_id}'s bfloat16 weights" + (
                       f", and {why}" if not memory_plan(model, sku, gpu_memory_utilization,
                                                         sku.gpus_per_replica) else ""))
        elsewhere = _fitting_gpus(model, gpu_memory_utilization, min(tokens, CONTEXT_STEP * 4), host)
        fix = f"use {' or '.join(elsewhere) if elsewhere else 'a smaller model'}"
        if sku.bf16 and fit(model, sku, MAX_UTILIZATION - 0.01, CONTEXT_STEP * 4):
            fix = f"set gpuMemoryUtilization {MAX_UTILIZATION - 0.01:g}, or {fix}"
        raise ConfigError("gpu", sku.name, why, fix)

    if max_model_len is not None:
        if plan.kv_cache_tokens < max_model_len:
            largest = plan.kv_cache_tokens // CONTEXT_STEP * CONTEXT_STEP
            raise ConfigError("maxModelLen", max_model_len,
                              f"one sequence needs {_gb(max_model_len * model.kv_bytes_per_token)} of "
                              f"KV cache but {sku.name} at TP {plan.tensor_parallel_size} leaves room "
                              f"for {plan.kv_cache_tokens:,} tokens",
                              f"use at most {largest}, a larger gpu, or a higher gpuMemoryUtilization")
        context = max_model_len
    elif plan.kv_cache_tokens >= model.max_context:
        context = model.max_context
    else:
        context = plan.kv_cache_tokens // CONTEXT_STEP * CONTEXT_STEP
        if context < CONTEXT_STEP:
            raise ConfigError("gpu", sku.name,
                              f"leaves room for only {plan.kv_cache_tokens:,} KV-cache tokens after "
                              f"{_gb(model.weight_bytes)} of weights",
                              "use a larger gpu or a higher gpuMemoryUtilization")
        warnings.append(f"context shortened to {context:,} tokens (model max {model.max_context:,}): "
                        f"that is all the KV cache {sku.name} leaves for one sequence")

    if sku.documented_regions is not None and region and region not in sku.documented_regions:
        warnings.append(f"{sku.name} is not documented in region '{region}' (documented: "
                        f"{', '.join(sorted(sku.documented_regions))}); check availability before "
                        "pulumi up")
    if plan.tensor_parallel_size < sku.gpus_per_replica:
        warnings.append(f"{sku.name} has {sku.gpus_per_replica} GPUs; TP {plan.tensor_parallel_size} "
                        "uses only some of them")

    # ---- cold start (components/serving/coldstart.py): sizes the cache, sets the startup window ----
    cold_start = estimate_cold_start(
        host=host, weight_bytes=model.weight_bytes, gpu_model=sku.gpu_model,
        tensor_parallel_size=plan.tensor_parallel_size,
        gpu_monthly_usd=sku.price_usd_hour * HOURS_PER_MONTH if sku.price_usd_hour else None)
    launch = build_launch_spec(
        hf_id=model.hf_id, image=image, tensor_parallel_size=plan.tensor_parallel_size,
        max_model_len=context, gpu_memory_utilization=gpu_memory_utilization,
        tool_call_parser=model.tool_call_parser, startup_window_seconds=cold_start.startup_window_seconds,
        network_cache=network_cache, hf_token=hf_token)
    return ServingPlan(
        host=host, model=model, gpu=sku, gpu_reason=reason,
        tensor_parallel_size=plan.tensor_parallel_size, max_model_len=context,
        gpu_memory_utilization=gpu_memory_utilization, kv_cache_tokens=plan.kv_cache_tokens,
        cost=estimate_cost(sku, plan.kv_cache_tokens // context), launch=launch,
        warnings=tuple(warnings), cold_start=cold_start)


def estimate_cost(sku: GpuSku, concurrent_sequences: int) -> Cost:
    """Cost of one serving replica running for an hour, a month, and per concurrent sequence."""
    if sku.price_usd_hour is None:
        return Cost(None, None, None, sku.price_source)
    hourly = sku.price_usd_hour
    return Cost(hourly, round(hourly * HOURS_PER_MONTH, 2),
                round(hourly / max(concurrent_sequences, 1), 4), sku.price_source)


def _lookup_gpu(name: str, host: str) -> GpuSku:
    sku = GPUS.get(name) or next((s for s in GPUS.values() if s.name.lower() == name.lower()), None)
    valid = ", ".join(s.name for s in gpus_for_host(host))
    if sku is None:
        raise ConfigError("gpu", name, f"not a GPU {'workload profile' if host == 'containerapp' else 'VM size'} "
                          "in the catalog", f"for host '{host}' use one of {valid}")
    if host not in sku.hosts:
        kind = "a Container Apps workload profile" if "containerapp" in sku.hosts else "a VM size"
        raise ConfigError("gpu", name, f"is {kind}, not valid for host '{host}'", f"use one of {valid}")
    return sku


# Spot VMs and spot node pools draw on the regional low-priority vCPU quota, shared by all VM
# families, whose usage name in the Compute usages API (`az vm list-usage`) is "lowPriorityCores"
# ("Total Regional Low-priority vCPUs"); the family quota stays for on-demand (AKS's fallback pool)
LOW_PRIORITY_QUOTA = "lowPriorityCores"


@dataclass(frozen=True)
class QuotaRequest:
    family: str
    amount: int
    unit: str
    low_priority_cores: int = 0  # spot: vCPUs of LOW_PRIORITY_QUOTA as well


def quota_request(plan: ServingPlan, machines: int, spot: bool = False) -> QuotaRequest:
    """What to ask Azure for: serverless Container Apps count GPUs, everything else counts vCPUs."""
    if plan.gpu.serverless:
        return QuotaRequest(plan.gpu.quota_family, machines * plan.gpu.gpus_per_replica, "GPUs")
    return QuotaRequest(plan.gpu.quota_family, machines * plan.gpu.vcpus, "vCPUs",
                        machines * plan.gpu.vcpus if spot else 0)
