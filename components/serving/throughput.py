"""Tokens per second and dollars per million tokens: the planner's throughput model. Pure arithmetic.

A decode step of vLLM's continuous batching reads every weight once for the whole batch and each
active sequence's KV cache, so at the batch sizes a replica runs it is bound by memory bandwidth
(the roofline): per GPU it reads ``weights / TP`` plus the batch's KV cache ``/ TP``. On top:
- tensor parallelism all-reduces the hidden state twice per layer (attention and MLP output), each
  ``2 (TP-1)/TP x batch x hidden x 2 bytes`` over the GPU link plus a fixed latency per ring hop;
- compute: ``2 x parameters`` FLOPs per token, decoded or prefilled; with chunked prefill the prompts
  of arriving requests share the steps with decode, ``input/output`` prompt tokens per generated
  token per sequence (steady state: one prompt per finished request).
Step time = max(bytes / bandwidth, FLOPs / peak FLOPS) / EFFICIENCY + communication, the roofline:
small batches wait on memory, large ones (hundreds of sequences) on the tensor cores.
Decode tokens/s = batch / step time. EFFICIENCY, the share of the datasheet peaks vLLM reaches, is
the one fitted constant: fitted on FIT_SOURCES' rows of tests/data/vllm_throughput_benchmarks.csv,
judged on the other sources' (tests/test_throughput.py prints both tables; docs/cost-per-token.md).

Dollars per million output tokens: the deployment's running hourly cost over the tokens an hour
at saturation gives (every slot of the batch busy), and at an expected load (``expected
requests per minute`` x the reference request), where a replica that waits for requests still bills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gpus import GpuPerformance, GpuSku
from .models import ModelSpec

# The fitted share of datasheet bandwidth/FLOPS a vLLM decode step reaches (see the module doc);
# tests/test_throughput.py::test_the_efficiency_comes_from_the_fit_source_only recomputes it.
EFFICIENCY = 0.63
FIT_SOURCES = ("https://github.com/LambdaLabsML/vllm-benchmark",)
# Per ring hop of one all-reduce (NCCL / vLLM custom all-reduce launch + sync). Not from a datasheet:
# an assumption of the order NCCL's small-message latency has, judged by the TP 2/4 rows of the
# calibration (their error is printed with the rest).
ALLREDUCE_HOP_SECONDS = 5e-6
ACTIVATION_BYTES = 2  # bf16 hidden state in the all-reduce
# The reference request the plan prices tokens for: bench's defaults (stacks/bench.py)
REFERENCE_INPUT_TOKENS = 512
REFERENCE_OUTPUT_TOKENS = 256
SECONDS_PER_HOUR = 3600


def weight_bytes_read(model: ModelSpec, quantization: str) -> float:
    """Bytes a decode step reads: all weights except the input embedding (a lookup of a few rows)."""
    embedding = model.vocab * model.hidden * model.bytes_per_param
    return model.weight_bytes_for(quantization) - (0 if model.tie_word_embeddings else embedding)


def step_seconds(
    model: ModelSpec,
    chip: GpuPerformance,
    tensor_parallel_size: int,
    batch: int,
    input_tokens: float,
    output_tokens: float,
    quantization: str = "none",
    kv_cache_dtype: str = "auto",
    efficiency: float = EFFICIENCY,
) -> float:
    """Seconds of one decode step of ``batch`` sequences of ``input_tokens`` + ``output_tokens``."""
    tp = tensor_parallel_size
    context = input_tokens + output_tokens / 2  # the average sequence length while it decodes
    kv_bytes = batch * context * model.kv_bytes_per_token_for(kv_cache_dtype)
    memory = (weight_bytes_read(model, quantization) + kv_bytes) / tp / (chip.memory_bandwidth_gbs * 1e9)
    prefill_tokens = batch * (input_tokens / output_tokens if output_tokens else 0.0)
    tflops = chip.fp8_tflops if quantization == "fp8" and chip.fp8_tflops else chip.bf16_tflops
    # every token of the step, decoded or prefilled, costs 2 FLOPs per parameter
    compute = 2 * model.params_billion * 1e9 * (batch + prefill_tokens) / tp / (tflops * 1e12)
    communication = 0.0
    if tp > 1:
        hops = 2 * (tp - 1)
        volume = hops / tp * batch * model.hidden * ACTIVATION_BYTES
        communication = 2 * model.layers * (hops * ALLREDUCE_HOP_SECONDS + volume / (chip.link_for(tp) * 1e9))
    return max(memory, compute) / efficiency + communication


def decode_tokens_per_second(
    model: ModelSpec,
    chip: GpuPerformance,
    tensor_parallel_size: int,
    batch: int,
    input_tokens: float,
    output_tokens: float,
    quantization: str = "none",
    kv_cache_dtype: str = "auto",
    efficiency: float = EFFICIENCY,
) -> float:
    """Output tokens per second of the whole batch."""
    return batch / step_seconds(
        model,
        chip,
        tensor_parallel_size,
        batch,
        input_tokens,
        output_tokens,
        quantization,
        kv_cache_dtype,
        efficiency,
    )


def prefill_seconds(
    model: ModelSpec,
    chip: GpuPerformance,
    tensor_parallel_size: int,
    tokens: int,
    quantization: str = "none",
    efficiency: float = EFFICIENCY,
) -> float:
    """Seconds to prefill one prompt of ``tokens`` alone: the time to first token of an idle server."""
    tflops = chip.fp8_tflops if quantization == "fp8" and chip.fp8_tflops else chip.bf16_tflops
    compute = 2 * model.params_billion * 1e9 * tokens / tensor_parallel_size / (tflops * 1e12)
    weights = (
        weight_bytes_read(model, quantization) / tensor_parallel_size / (chip.memory_bandwidth_gbs * 1e9)
    )
    return max(compute, weights) / efficiency


@dataclass(frozen=True)
class ThroughputEstimate:
    """What one replica serves of the reference request, and what a million output tokens cost."""

    input_tokens: int
    output_tokens: int
    saturation_batch: int  # sequences decoding at once when every slot is busy
    saturation_tokens_per_second: float
    single_stream_tokens_per_second: float  # one request alone: the per-user decode speed
    time_to_first_token_seconds: float  # one prompt on an idle replica
    hourly_usd: float | None  # the whole deployment running, per hour
    usd_per_mtok_saturated: float | None
    expected_requests_per_minute: int | None = None
    expected_tokens_per_second: float | None = None
    replicas_for_expected: int | None = None
    usd_per_mtok_expected: float | None = None

    @property
    def requests_per_minute_saturated(self) -> float:
        return self.saturation_tokens_per_second / self.output_tokens * 60

    def to_json(self) -> dict:
        rounded = lambda v, d=2: None if v is None else round(v, d)
        return {
            "referenceRequest": {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens},
            "saturationBatch": self.saturation_batch,
            "outputTokensPerSecondSaturated": rounded(self.saturation_tokens_per_second, 1),
            "requestsPerMinuteSaturated": rounded(self.requests_per_minute_saturated, 1),
            "singleStreamTokensPerSecond": rounded(self.single_stream_tokens_per_second, 1),
            "timeToFirstTokenSeconds": rounded(self.time_to_first_token_seconds, 3),
            "deploymentHourlyUsd": rounded(self.hourly_usd, 3),
            "usdPerMillionOutputTokensSaturated": rounded(self.usd_per_mtok_saturated, 3),
            "expectedRequestsPerMinute": self.expected_requests_per_minute,
            "expectedOutputTokensPerSecond": rounded(self.expected_tokens_per_second, 1),
            "replicasForExpectedLoad": self.replicas_for_expected,
            "usdPerMillionOutputTokensExpected": rounded(self.usd_per_mtok_expected, 3),
            "efficiency": EFFICIENCY,
        }


def usd_per_million(hourly_usd: float | None, tokens_per_second: float) -> float | None:
    if hourly_usd is None or tokens_per_second <= 0:
        return None
    return hourly_usd / (tokens_per_second * SECONDS_PER_HOUR) * 1e6


def estimate(
    model: ModelSpec,
    sku: GpuSku,
    tensor_parallel_size: int,
    kv_cache_tokens: int,
    hourly_usd: float | None,
    quantization: str = "none",
    kv_cache_dtype: str = "auto",
    expected_requests_per_minute: int | None = None,
    input_tokens: int = REFERENCE_INPUT_TOKENS,
    output_tokens: int = REFERENCE_OUTPUT_TOKENS,
    replica_hourly_usd: float | None = None,
) -> ThroughputEstimate:
    """Throughput and $/Mtok of one replica for the reference request. ``hourly_usd``: the whole
    deployment running; ``replica_hourly_usd``: what one more replica adds (default: the same)."""
    chip = sku.performance
    max_seqs = sku.vllm_default_batch[1]
    batch = max(1, min(max_seqs, kv_cache_tokens // (input_tokens + output_tokens)))
    saturated = decode_tokens_per_second(
        model, chip, tensor_parallel_size, batch, input_tokens, output_tokens, quantization, kv_cache_dtype
    )
    single = decode_tokens_per_second(
        model, chip, tensor_parallel_size, 1, input_tokens, output_tokens, quantization, kv_cache_dtype
    )
    ttft = prefill_seconds(model, chip, tensor_parallel_size, input_tokens, quantization)
    result = ThroughputEstimate(
        input_tokens,
        output_tokens,
        batch,
        saturated,
        single,
        ttft,
        hourly_usd,
        usd_per_million(hourly_usd, saturated),
    )
    if expected_requests_per_minute is None:
        return result
    demand = expected_requests_per_minute / 60 * output_tokens
    replicas = max(1, math.ceil(demand / saturated))
    extra = replica_hourly_usd if replica_hourly_usd is not None else hourly_usd
    hourly = None if hourly_usd is None or extra is None else hourly_usd + (replicas - 1) * extra
    return ThroughputEstimate(
        **{
            **result.__dict__,
            "expected_requests_per_minute": expected_requests_per_minute,
            "expected_tokens_per_second": demand,
            "replicas_for_expected": replicas,
            "usd_per_mtok_expected": usd_per_million(hourly, demand),
        }
    )
