"""The serving planner: does the model fit, on which GPU, with what TP size and context, at what cost.

Memory model: vLLM 0.33's own accounting (vllm/v1/worker/gpu_worker.py,
``Worker.determine_available_memory``). Per GPU, vLLM requests ``gpu_memory_utilization`` x the
memory the device reports, and gives the KV cache what is left after
  - the weights (its share at TP > 1; FP8 stores Linear layers in 1 byte),
  - the non-torch memory the profile run adds (cuBLAS workspaces; NCCL and custom all-reduce
    buffers at TP > 1),
  - the torch activation peak of the profile run: a dummy forward pass of max_num_batched_tokens
    tokens, then a dummy sampler pass over max_num_seqs rows of float32 logits (vLLM's defaults
    for the GPU: gpus.vllm_default_batch),
  - the CUDA-graph memory estimate, counted by default since vLLM 0.21
    (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1; vllm-project/vllm#30515 added it off by default,
    and 0.2x logs say "CUDA graph memory profiling is enabled (default since v0.21.0)",
    gpustack/runner#251 on 0.27.1). Before 0.21 graphs were captured after the KV cache was sized,
    out of the (1 - utilization) headroom (llm-d-planner vLLM 0.19 accuracy report, "CUDA Graph
    Memory"), so they took nothing from the KV cache.
``memory_plan`` takes the vLLM version: the planner serves VLLM_VERSION (the default image's) and
counts all four terms; the calibration (tests/test_kv_calibration.py) predicts each public log with
the terms its own version counted and prints the errors on the fit and the held-out sources. One
constant is fitted, SAMPLER_FP32_COPIES, on one source's rows (FIT_SOURCES); the other sources are
held out and only judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ConfigError
from .coldstart import ColdStart, cache_needed_gib, estimate_cold_start
from .gpus import GIB, GPUS, HOSTS, GpuSku, check_gpu_name, gpus_for_host
from .launch import LaunchSpec, build_launch_spec
from .models import KV_CACHE_DTYPES, QUANTIZATIONS, ModelSpec
from .pricing import HOURS_PER_MONTH, RETAIL_SNAPSHOT_DATE, on_demand_price, priced_from_east_us

# Non-torch memory the profile run adds per GPU: 0.24-0.25 GiB at TP 1 and 2.06-2.13 GiB at TP 2-4
# ("non-torch forward increase memory", vLLM 0.19.0 on H100; llm-d-incubation/llm-d-planner
# docs/accuracy/vllm-v0.19.0-accuracy-report.md). The largest of each is used.
NON_TORCH_BYTES_TP1 = 0.25 * GIB
NON_TORCH_BYTES_TP = 2.13 * GIB
# The sampler's dummy pass holds this many float32 [max_num_seqs, vocab] tensors at its peak.
# Measured: 9.6-9.7 (Llama-3.1-8B 4.76 GiB, Qwen3-32B 5.64 GiB, Qwen3-0.6B 5.56 GiB at
# max_num_seqs 1024, H100; llm-d/llm-d-benchmark config_explorer/empirical-vllm-memory-results.md,
# version not stated), 3.8-3.9 for 0.19 (Llama-3.1-8B 1.89 GiB, Qwen2.5-7B 2.21 GiB; llm-d-planner
# accuracy report). No public log of 0.21+ on an A100/H100 gives it, so the plan keeps the larger
# level. Fitted on FIT_SOURCES only: the smallest tenth that predicts none of their rows
# optimistic (tests/test_kv_calibration.py::test_the_fitted_constant_comes_from_the_fit_set_only).
SAMPLER_FP32_COPIES = 9.7
FIT_SOURCES = ("https://github.com/llm-d/llm-d-benchmark/",)
# CUDA-graph memory per GPU, counted from vLLM 0.21 (CUDAGRAPH_COUNTED_FROM). Not fitted: the
# "Estimated CUDA graph memory" vLLM 0.2x logs for a dense model with the default 51 piecewise +
# 35 full graphs is 0.52 GiB (Qwen3-8B, LMCache/LMCache#3430); 0.19's graph pools measured
# 0.51-1.85 GiB, mean 1.04 GiB, over 49 H100 runs (llm-d-planner accuracy report). 1 GiB is kept
# for 8B-70B; no A100/H100 0.21+ log checks it (see docs/planner.md).
CUDAGRAPH_BYTES = 1.0 * GIB
CUDAGRAPH_COUNTED_FROM = (0, 21)
VLLM_VERSION = "0.33.0"  # the default image's (launch.DEFAULT_IMAGE): the version the plan is for
KV_BLOCK_TOKENS = 16  # vLLM's default KV block size on CUDA: the cache holds whole blocks
CONTEXT_STEP = 1024  # a shortened context is a multiple of this
MIN_UTILIZATION, MAX_UTILIZATION = 0.5, 0.99
ALTERNATIVES = 3
# The estimate's error band: tests/test_kv_calibration.py fails when the median error on public
# vLLM start-up logs passes 10% or any estimate is more than 10% optimistic (issue 11's bounds).
# A fit closer than this to one sequence is "tight": vLLM may find less room and refuse to start.
ESTIMATE_ERROR_BAND = 0.10


@dataclass(frozen=True)
class MemoryPlan:
    """One GPU's budget at one TP size, as vLLM accounts it; kv_cache_tokens is for the replica."""

    tensor_parallel_size: int
    weight_bytes_per_gpu: float
    kv_bytes_per_gpu: float
    kv_cache_tokens: int
    requested_bytes_per_gpu: float = 0.0
    activation_bytes_per_gpu: float = 0.0
    non_torch_bytes_per_gpu: float = 0.0
    cudagraph_bytes_per_gpu: float = 0.0
    quantization: str = "none"
    kv_cache_dtype: str = "auto"


@dataclass(frozen=True)
class Alternative:
    """Another GPU (or FP8 weights) that holds the same model and context; offered, never applied."""

    gpu: str
    hosts: tuple[str, ...]
    tensor_parallel_size: int
    max_model_len: int
    kv_cache_tokens: int
    hourly_usd: float
    quantization: str
    tight: bool = False  # within ESTIMATE_ERROR_BAND of one sequence: see tight_fit


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
    quantization: str = "none"
    kv_cache_dtype: str = "auto"
    alternatives: tuple[Alternative, ...] = field(default=())
    # why fewer than ALTERNATIVES are listed (never padded with the chosen GPUs at the same price)
    alternatives_note: str = ""
    cold_start: ColdStart | None = None  # first/warm start estimate and the model cache's size

    @property
    def max_concurrent_sequences(self) -> int:
        """Full-context sequences the KV cache holds at once (vLLM's 'Maximum concurrency')."""
        return self.kv_cache_tokens // self.max_model_len

    @property
    def weights_gb(self) -> float:
        return self.model.weight_bytes_for(self.quantization) / 1e9

    @property
    def cache_size_gib(self) -> int:
        """Room for the weights (25% spare for a revision) and the compile cache."""
        return cache_needed_gib(self.model.weight_bytes)


def activation_bytes(model: ModelSpec, sku: GpuSku, tensor_parallel_size: int) -> float:
    """Torch peak of vLLM's profile run on one GPU: the larger of one decoder layer's bf16
    activations for max_num_batched_tokens tokens (residual and normed hidden states, the q/k/v
    projection, the MLP's up (and gate) and
    activation outputs, ModelSpec.mlp_activation_widths) and the sampler's float32 logits copies
    for max_num_seqs rows (logits are gathered to the full vocabulary on every rank)."""
    tokens, seqs = sku.vllm_default_batch
    seqs = min(seqs, tokens)
    tp = tensor_parallel_size
    qkv = (model.attention_heads + 2 * model.kv_heads) * model.head_dim / tp
    layer = tokens * 2 * (2 * model.hidden + qkv + model.mlp_activation_widths * model.intermediate / tp)
    sampler = SAMPLER_FP32_COPIES * seqs * model.vocab * 4
    return max(layer, sampler)


def kv_bytes_per_token_per_gpu(model: ModelSpec, tensor_parallel_size: int, kv_cache_dtype: str) -> float:
    """Each GPU holds its share of the KV heads (all of one head when there are fewer heads than GPUs)."""
    heads_per_gpu = max(model.kv_heads / tensor_parallel_size, 1)
    return model.kv_bytes_per_token_for(kv_cache_dtype) * heads_per_gpu / model.kv_heads


def counts_cudagraphs(vllm_version: str) -> bool:
    """Whether this vLLM takes its CUDA-graph estimate out of the KV cache (0.21 and later)."""
    release = tuple(int(part) for part in vllm_version.split(".")[:2])
    return release >= CUDAGRAPH_COUNTED_FROM


def memory_plan(model: ModelSpec, sku: GpuSku, utilization: float, tensor_parallel_size: int,
                quantization: str = "none", kv_cache_dtype: str = "auto",
                vllm_version: str = VLLM_VERSION) -> MemoryPlan | None:
    """KV-cache room at one TP size, as ``vllm_version`` accounts it; None when the weights and
    runtime memory do not fit."""
    tp = tensor_parallel_size
    requested = utilization * sku.device_memory_bytes
    weights = model.weight_bytes_for(quantization) / tp
    activation = activation_bytes(model, sku, tp)
    non_torch = NON_TORCH_BYTES_TP1 if tp == 1 else NON_TORCH_BYTES_TP
    cudagraphs = CUDAGRAPH_BYTES if counts_cudagraphs(vllm_version) else 0.0
    kv_per_gpu = requested - weights - activation - non_torch - cudagraphs
    if kv_per_gpu <= 0:
        return None
    tokens = int(kv_per_gpu // kv_bytes_per_token_per_gpu(model, tp, kv_cache_dtype))
    return MemoryPlan(tp, weights, kv_per_gpu, tokens // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS,
                      requested, activation, non_torch, cudagraphs, quantization, kv_cache_dtype)


def tight_fit(kv_cache_tokens: int, tokens: int) -> bool:
    """The KV cache holds one ``tokens`` sequence by less than the estimate's error band."""
    return kv_cache_tokens < tokens * (1 + ESTIMATE_ERROR_BAND)


def tight_warning(kv_cache_tokens: int, tokens: int) -> str:
    margin = (kv_cache_tokens - tokens) / tokens
    return (f"tight: {kv_cache_tokens:,} KV-cache tokens are within {margin:.1%} of the {tokens:,} one "
            f"sequence needs; the estimate's error band is \u00b1{ESTIMATE_ERROR_BAND:.0%}, so vLLM "
            "may refuse to start: set a smaller maxModelLen, a higher gpuMemoryUtilization, or a "
            "larger gpu")


def unsupported(model: ModelSpec, sku: GpuSku, quantization: str, kv_cache_dtype: str) -> str | None:
    """Why vLLM cannot run this model with these settings on this GPU, or None."""
    cc = f"compute capability {sku.compute_capability:g}"
    if model.dtype == "bfloat16" and not sku.bf16:
        return f"{sku.gpu_model} has no bf16 ({cc}) for {model.hf_id}'s bfloat16 weights"
    if quantization == "fp8" and sku.fp8_weights is None:
        return f"{sku.gpu_model} ({cc}) cannot run FP8 weights; vLLM needs 7.5 (weight-only) or 8.9"
    if kv_cache_dtype == "fp8" and not sku.fp8_kv_cache:
        return (f"{sku.gpu_model} ({cc}) has no FP8 KV cache in vLLM (needs 8.9, Ada/Hopper; "
                "vllm-project/vllm#26431)")
    return None


def tp_candidates(model: ModelSpec, sku: GpuSku) -> list[int]:
    """Powers of two that divide the attention heads and fit in one replica's GPUs."""
    sizes, tp = [], 1
    while tp <= sku.gpus_per_replica:
        if model.attention_heads % tp == 0:
            sizes.append(tp)
        tp *= 2
    return sizes


def fit(model: ModelSpec, sku: GpuSku, utilization: float, tokens_wanted: int,
        quantization: str = "none", kv_cache_dtype: str = "auto") -> MemoryPlan | None:
    """The smallest TP that holds one ``tokens_wanted`` sequence; else the smallest holding the weights."""
    if unsupported(model, sku, quantization, kv_cache_dtype):
        return None
    plans = [p for tp in tp_candidates(model, sku)
             if (p := memory_plan(model, sku, utilization, tp, quantization, kv_cache_dtype))]
    full = [p for p in plans if p.kv_cache_tokens >= tokens_wanted]
    return (full or plans or [None])[0]


def _fitting_gpus(model: ModelSpec, utilization: float, tokens: int, host: str = "",
                  quantization: str = "none", kv_cache_dtype: str = "auto") -> list[str]:
    """Catalog GPUs that hold one ``tokens`` sequence, this host's first, cheapest first, for errors;
    each says what it gives (``gives``)."""
    fitting = [(host not in sku.hosts, sku.price_usd_hour or math.inf, sku.name, sorted(sku.hosts))
               for sku in GPUS.values()
               if (p := fit(model, sku, utilization, tokens, quantization, kv_cache_dtype))
               and p.kv_cache_tokens >= tokens]
    return [f"host {' or '.join(repr(h) for h in hosts)} with gpu '{name}' "
            f"({gives(model, GPUS[name], utilization, quantization, kv_cache_dtype)})"
            for _, _, name, hosts in sorted(fitting)[:2]]


def _context_on(model: ModelSpec, sku: GpuSku, utilization: float, quantization: str,
                kv_cache_dtype: str) -> int:
    """The context plan_serving would give on ``sku`` without maxModelLen (0: none)."""
    plan = fit(model, sku, utilization, model.max_context, quantization, kv_cache_dtype)
    return min(model.max_context, plan.kv_cache_tokens // CONTEXT_STEP * CONTEXT_STEP) if plan else 0


def gives(model: ModelSpec, sku: GpuSku, utilization: float, quantization: str = "none",
          kv_cache_dtype: str = "auto") -> str:
    """What a suggested GPU gives: '7,168-token context in bf16; 65,536 with quantization fp8'."""
    context = _context_on(model, sku, utilization, quantization, kv_cache_dtype)
    weights = "bf16" if quantization == "none" else f"quantization {quantization}"
    text = f"{context:,}-token context in {weights}"
    if quantization == "none" and context < model.max_context:
        quantized = _context_on(model, sku, utilization, "fp8", kv_cache_dtype)
        if quantized > context:
            text += f"; {quantized:,} with quantization fp8"
    return text


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def hourly_usd(sku: GpuSku, region: str | None = None) -> float | None:
    """One GPU machine's on-demand price in the region: the one figure the plan ranks, shows and
    outputs (components/serving/pricing.py says where each comes from and when)."""
    price = on_demand_price(sku, region)
    return price.usd if price is not None else None


def _price_order(sku: GpuSku, region: str | None = None) -> tuple:
    price = hourly_usd(sku, region)
    return (price is None, price or 0, sku.name)


def choose_gpu(model: ModelSpec, host: str, utilization: float, tokens: int,
               quantization: str = "none", kv_cache_dtype: str = "auto",
               region: str | None = None) -> tuple[GpuSku, str]:
    """The cheapest GPU valid for the host (at the region's prices) that holds the weights and one
    full sequence."""
    candidates = sorted(gpus_for_host(host), key=lambda sku: _price_order(sku, region))
    runnable = [sku for sku in candidates if not unsupported(model, sku, "none", "auto")]
    for key, value, option in (("quantization", quantization, (quantization, "auto")),
                               ("kvCacheDtype", kv_cache_dtype, ("none", kv_cache_dtype))):
        if runnable and all(unsupported(model, sku, *option) for sku in runnable):
            others = _fitting_gpus(model, utilization, min(tokens, CONTEXT_STEP * 4), host, *option)
            raise ConfigError(key, value, f"no '{host}' GPU runs it: {unsupported(model, runnable[0], *option)}",
                              f"remove {key}, or use {' or '.join(others) or 'another host'}")
    weights = model.weight_bytes_for(quantization)
    kv_per_token = model.kv_bytes_per_token_for(kv_cache_dtype)
    for sku in candidates:
        plan = fit(model, sku, utilization, tokens, quantization, kv_cache_dtype)
        if plan and plan.kv_cache_tokens >= tokens:
            usd = hourly_usd(sku, region)
            price = f"${usd:.3f}/h" if usd is not None else "unpriced"
            cheaper_runs_nothing = [s.name for s in candidates[:candidates.index(sku)]
                                    if unsupported(model, s, quantization, kv_cache_dtype)]
            needs = (f"; cheaper GPUs cannot run quantization {quantization} / kvCacheDtype "
                     f"{kv_cache_dtype}" if cheaper_runs_nothing and (quantization, kv_cache_dtype)
                     != ("none", "auto") else "")
            return sku, (f"cheapest of {len(candidates)} {host} GPU options ({price}) that holds the "
                         f"{_gb(weights)} of weights and one {tokens:,}-token sequence "
                         f"({_gb(tokens * kv_per_token)} of KV cache){needs}")
    weights_fit = any(fit(model, sku, utilization, 1, quantization, kv_cache_dtype) for sku in candidates)
    largest = max(candidates, key=lambda s: s.gpus_per_replica * s.gpu_memory_gb)
    offer = f"{largest.gpus_per_replica} x {largest.gpu_memory_gb:g} GB"
    elsewhere = " or ".join(_fitting_gpus(model, utilization, tokens, host, quantization, kv_cache_dtype))
    if weights_fit:
        raise ConfigError(
            "maxModelLen", tokens,
            f"no '{host}' GPU holds {model.hf_id}'s {_gb(weights)} of weights plus "
            f"{_gb(tokens * kv_per_token)} of KV cache for one {tokens:,}-token sequence",
            "set a smaller maxModelLen, a higher gpuMemoryUtilization, or use "
            + (elsewhere or "a smaller model"))
    raise ConfigError(
        "model", model.hf_id,
        f"needs {_gb(weights)} for weights but host '{host}' offers at most {offer} per replica",
        f"use {elsewhere or 'a smaller model'}")


def _moved_by_options(model: ModelSpec, host: str, utilization: float, tokens: int, chosen: GpuSku,
                      options: tuple[str, str], region: str | None) -> str | None:
    """A warning when quantization/kvCacheDtype moved the choice to a dearer GPU than the plan without
    them would pick (cheaper GPUs cannot run the option): the user asked to save memory, not to pay more."""
    try:
        plain, _ = choose_gpu(model, host, utilization, tokens, region=region)
    except ConfigError:  # without the option nothing fits: the option is what makes it run
        return None
    before, after = hourly_usd(plain, region), hourly_usd(chosen, region)
    if plain.name == chosen.name or before is None or after is None or after <= before:
        return None
    set_options = " and ".join(f"{key} {value}" for key, value, default in (
        ("quantization", options[0], "none"), ("kvCacheDtype", options[1], "auto")) if value != default)
    return (f"{set_options} moved the GPU from {plain.name} (${before:.3f}/h) to {chosen.name} "
            f"(${after:.3f}/h): {plain.gpu_model} cannot run it; remove it to stay on {plain.name}")


def find_alternatives(model: ModelSpec, tokens: int, utilization: float, kv_cache_dtype: str,
                      host: str, chosen: tuple[str, str], limit: int = ALTERNATIVES,
                      region: str | None = None) -> tuple[Alternative, ...]:
    """The cheapest other catalog GPUs (any host) and quantizations that hold one ``tokens``
    sequence and are worth a look: strictly cheaper than the chosen GPU, or other hardware at a
    lower or equal price (the same GPUs with FP8 at the same price are no saving). One entry per
    GPU hardware, the chosen host's SKU preferred; fewer than ``limit`` when fewer qualify."""
    def hardware(sku: GpuSku, quantization: str) -> tuple:
        return (sku.gpu_model, sku.gpus_per_replica, hourly_usd(sku, region), quantization)

    chosen_sku = GPUS[chosen[0]]
    chosen_price = hourly_usd(chosen_sku, region)
    chosen_gpus = (chosen_sku.gpu_model, chosen_sku.gpus_per_replica)
    found: dict[tuple, tuple] = {}
    for sku in GPUS.values():
        price = hourly_usd(sku, region)
        if price is None:
            continue
        other_hardware = (sku.gpu_model, sku.gpus_per_replica) != chosen_gpus
        if chosen_price is not None and not (price < chosen_price
                                             or (other_hardware and price <= chosen_price)):
            continue
        for quantization in QUANTIZATIONS:
            if not other_hardware and quantization == chosen[1]:
                continue  # the same GPUs elsewhere are no alternative
            plan = fit(model, sku, utilization, tokens, quantization, kv_cache_dtype)
            if not plan or plan.kv_cache_tokens < tokens:
                continue
            if plan.tensor_parallel_size < sku.gpus_per_replica:  # idle GPUs: a smaller size is cheaper
                continue
            rank = (price, host not in sku.hosts, quantization != "none", sku.name)
            key = hardware(sku, quantization)
            if key not in found or rank < found[key][0]:
                found[key] = (rank, Alternative(
                    sku.name, tuple(h for h in HOSTS if h in sku.hosts), plan.tensor_parallel_size,
                    tokens, plan.kv_cache_tokens, price, quantization,
                    tight_fit(plan.kv_cache_tokens, tokens)))
    return tuple(alt for _, alt in sorted(found.values(), key=lambda item: item[0])[:limit])


def _check_choice(key: str, value: str, choices: tuple[str, ...], fix: str) -> None:
    if value not in choices:
        raise ConfigError(key, value, "is not a supported value", f"use one of {', '.join(choices)}; {fix}")


def plan_serving(*, host: str, model: ModelSpec, gpu: str | None = None,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 image: str, region: str | None = None, hf_token: bool = True,
                 network_cache: bool = False, quantization: str = "none",
                 kv_cache_dtype: str = "auto") -> ServingPlan:
    """Check that the model fits, pick GPU, TP size and context, price it; raise ConfigError if not."""
    if host not in HOSTS:
        raise ConfigError("host", host, "unknown host", f"use one of {', '.join(HOSTS)}")
    _check_choice("quantization", quantization, QUANTIZATIONS, "fp8 halves weight memory")
    _check_choice("kvCacheDtype", kv_cache_dtype, KV_CACHE_DTYPES, "fp8 halves KV memory per token")
    if not MIN_UTILIZATION <= gpu_memory_utilization <= MAX_UTILIZATION:
        raise ConfigError("gpuMemoryUtilization", gpu_memory_utilization,
                          f"must be between {MIN_UTILIZATION} and {MAX_UTILIZATION}",
                          "use 0.9 (vLLM's default) or up to 0.98 to make room for more KV cache")
    if max_model_len is not None and not 0 < max_model_len <= model.max_context:
        raise ConfigError("maxModelLen", max_model_len,
                          f"must be between 1 and the model's max context {model.max_context:,}",
                          f"use at most {model.max_context}, or leave it unset")
    tokens = max_model_len or model.max_context
    options = (quantization, kv_cache_dtype)
    weights = model.weight_bytes_for(quantization)
    kv_per_token = model.kv_bytes_per_token_for(kv_cache_dtype)
    warnings: list[str] = []

    if gpu is None:
        sku, reason = choose_gpu(model, host, gpu_memory_utilization, tokens, *options, region=region)
    else:
        sku = _lookup_gpu(gpu, host)
        reason = "set in the stack config (gpu)"
        why_not = unsupported(model, sku, *options)
        if why_not and not unsupported(model, sku, "none", "auto"):  # the model runs; the option does not
            key, value = (("quantization", quantization) if "FP8 weights" in why_not
                          else ("kvCacheDtype", kv_cache_dtype))
            others = _fitting_gpus(model, gpu_memory_utilization, min(tokens, CONTEXT_STEP * 4), host,
                                   *options)
            raise ConfigError(key, value, f"{why_not}, and gpu is '{sku.name}'",
                              f"remove {key}, or use {' or '.join(others) or 'a newer GPU'}")
    plan = fit(model, sku, gpu_memory_utilization, tokens, *options)
    if plan is None:
        why = (f"{sku.gpus_per_replica} x {sku.gpu_memory_gb:g} GB per replica cannot hold "
               f"{_gb(weights)} of {model.hf_id} weights plus runtime memory")
        if model.dtype == "bfloat16" and not sku.bf16:
            why = unsupported(model, sku, *options) + (
                f", and {why}" if not memory_plan(model, sku, gpu_memory_utilization,
                                                  sku.gpus_per_replica, *options) else "")
        elsewhere = _fitting_gpus(model, gpu_memory_utilization, min(tokens, CONTEXT_STEP * 4), host,
                                  *options)
        fix = f"use {' or '.join(elsewhere) if elsewhere else 'a smaller model'}"
        if sku.bf16 and fit(model, sku, MAX_UTILIZATION - 0.01, CONTEXT_STEP * 4, *options):
            fix = f"set gpuMemoryUtilization {MAX_UTILIZATION - 0.01:g}, or {fix}"
        elif sku.bf16 and quantization == "none" and fit(model, sku, gpu_memory_utilization,
                                                         CONTEXT_STEP * 4, "fp8", kv_cache_dtype):
            fix = f"set quantization fp8 (halves the weights), or {fix}"
        raise ConfigError("gpu", sku.name, why, fix)

    if max_model_len is not None:
        if plan.kv_cache_tokens < max_model_len:
            largest = plan.kv_cache_tokens // CONTEXT_STEP * CONTEXT_STEP
            raise ConfigError("maxModelLen", max_model_len,
                              f"one sequence needs {_gb(max_model_len * kv_per_token)} of "
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
                              f"{_gb(weights)} of weights",
                              "use a larger gpu or a higher gpuMemoryUtilization")
        warnings.append(f"context shortened to {context:,} tokens (model max {model.max_context:,}): "
                        f"that is all the KV cache {sku.name} leaves for one sequence")

    if tight_fit(plan.kv_cache_tokens, context):
        warnings.append(tight_warning(plan.kv_cache_tokens, context))
    if sku.documented_regions is not None and region and region not in sku.documented_regions:
        warnings.append(f"{sku.name} is not documented in region '{region}' (documented: "
                        f"{', '.join(sorted(sku.documented_regions))}); check availability before "
                        "pulumi up")
    if priced_from_east_us(sku, region):
        warnings.append(f"{sku.name} has no {region} price in the retail-price snapshot "
                        f"({RETAIL_SNAPSHOT_DATE}): it is priced, and compared with the other sizes, at "
                        f"East US's; check its {region} price and availability before pulumi up")
    if plan.tensor_parallel_size < sku.gpus_per_replica:
        warnings.append(f"{sku.name} has {sku.gpus_per_replica} GPUs; TP {plan.tensor_parallel_size} "
                        "uses only some of them")
    if gpu is None and options != ("none", "auto") and (moved := _moved_by_options(
            model, host, gpu_memory_utilization, tokens, sku, options, region)):
        warnings.append(moved)
    if quantization == "fp8" and sku.fp8_weights == "weight-only":
        warnings.append(f"{sku.gpu_model} runs FP8 weights weight-only (FP8 Marlin, W8A16): memory "
                        "halves, compute stays bf16")

    alternatives = find_alternatives(model, context, gpu_memory_utilization, kv_cache_dtype, host,
                                     (sku.name, quantization), region=region)
    alternatives_note = ""
    if len(alternatives) < ALTERNATIVES:
        n = len(alternatives)
        alternatives_note = (
            f"{'no' if n == 0 else f'only {n}'} other GPU or quantization option{'' if n == 1 else 's'} "
            f"at or below {sku.name}'s price hold{'s' if n == 1 else ''} the model and {context:,} tokens")

    # ---- cold start (components/serving/coldstart.py): sizes the cache, sets the startup window ----
    cold_start = estimate_cold_start(
        host=host, weight_bytes=model.weight_bytes, gpu_model=sku.gpu_model,
        tensor_parallel_size=plan.tensor_parallel_size,
        gpu_monthly_usd=hourly * HOURS_PER_MONTH if (hourly := hourly_usd(sku, region)) else None)
    launch = build_launch_spec(
        hf_id=model.hf_id, image=image, tensor_parallel_size=plan.tensor_parallel_size,
        max_model_len=context, gpu_memory_utilization=gpu_memory_utilization,
        tool_call_parser=model.tool_call_parser, startup_window_seconds=cold_start.startup_window_seconds,
        network_cache=network_cache, hf_token=hf_token, quantization=quantization,
        kv_cache_dtype=kv_cache_dtype)
    return ServingPlan(
        host=host, model=model, gpu=sku, gpu_reason=reason,
        tensor_parallel_size=plan.tensor_parallel_size, max_model_len=context,
        gpu_memory_utilization=gpu_memory_utilization, kv_cache_tokens=plan.kv_cache_tokens,
        cost=estimate_cost(sku, plan.kv_cache_tokens // context, region), launch=launch,
        warnings=tuple(warnings), quantization=quantization, kv_cache_dtype=kv_cache_dtype,
        alternatives=alternatives, alternatives_note=alternatives_note,
        cold_start=cold_start)


def estimate_cost(sku: GpuSku, concurrent_sequences: int, region: str | None = None) -> Cost:
    """Cost of one serving replica running for an hour, a month, and per concurrent sequence, at
    the region's price (the same figure as the plan's cost lines)."""
    price = on_demand_price(sku, region)
    if price is None:
        return Cost(None, None, None, sku.price_source)
    hourly = price.usd
    return Cost(hourly, round(hourly * HOURS_PER_MONTH, 2),
                round(hourly / max(concurrent_sequences, 1), 4), f"{price.source} ({price.kind})")


def _lookup_gpu(name: str, host: str) -> GpuSku:
    sku = GPUS.get(name) or next((s for s in GPUS.values() if s.name.lower() == name.lower()), None)
    valid = ", ".join(s.name for s in gpus_for_host(host))
    if sku is None:
        check_gpu_name(name, host)  # raises, naming the nearest size or profile
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
    """What to ask Azure for: Container Apps GPU profiles count GPUs, VM sizes count vCPUs."""
    if "containerapp" in plan.gpu.hosts:
        return QuotaRequest(plan.gpu.quota_family, machines * plan.gpu.gpus_per_replica, "GPUs")
    return QuotaRequest(plan.gpu.quota_family, machines * plan.gpu.vcpus, "vCPUs",
                        machines * plan.gpu.vcpus if spot else 0)
