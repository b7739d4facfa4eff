"""The throughput model against public vLLM serving benchmarks (tests/data/vllm_throughput_benchmarks.csv).

Each row is one published measurement: model, GPU, TP size, concurrency, prompt and output lengths
(where stated) and the decode rate, as decode tokens/s of the whole batch = concurrency / time per
output token (TPOT, or the page's own decode tokens/s); ``quote`` is the text it is read from,
``url`` where. ``components/serving/throughput.py`` predicts each from the model's config.json
figures and the GPU's datasheet; its one constant, EFFICIENCY, is fitted on FIT_SOURCES' rows, the
other sources are held out and only judged. The test prints both tables.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

from components.serving import GPUS, plan_serving, resolve_model, throughput
from components.serving.gpus import GPU_PERFORMANCE
from components.serving.launch import DEFAULT_IMAGE
from components.serving.throughput import EFFICIENCY, FIT_SOURCES, decode_tokens_per_second

DATA = Path(__file__).parent / "data" / "vllm_throughput_benchmarks.csv"

# config.json of each benchmarked model on Hugging Face (huggingface.co/<id>/blob/main/config.json);
# parameter counts from the model cards
BENCHMARKED_MODELS = {
    "meta-llama/Meta-Llama-3-8B-Instruct": dict(
        paramsBillion=8.03,
        layers=32,
        attentionHeads=32,
        kvHeads=8,
        headDim=128,
        hiddenSize=4096,
        intermediateSize=14336,
        vocabSize=128256,
        maxContext=8192,
    ),
    "meta-llama/Llama-3.1-8B-Instruct": dict(
        paramsBillion=8.03,
        layers=32,
        attentionHeads=32,
        kvHeads=8,
        headDim=128,
        hiddenSize=4096,
        intermediateSize=14336,
        vocabSize=128256,
        maxContext=131072,
    ),
    "mistralai/Mistral-7B-Instruct-v0.3": dict(
        paramsBillion=7.25,
        layers=32,
        attentionHeads=32,
        kvHeads=8,
        headDim=128,
        hiddenSize=4096,
        intermediateSize=14336,
        vocabSize=32768,
        maxContext=32768,
    ),
    "Qwen/Qwen2-7B-Instruct": dict(
        paramsBillion=7.62,
        layers=28,
        attentionHeads=28,
        kvHeads=4,
        headDim=128,
        hiddenSize=3584,
        intermediateSize=18944,
        vocabSize=152064,
        maxContext=32768,
    ),
    "meta-llama/Meta-Llama-3-70B-Instruct": dict(
        paramsBillion=70.55,
        layers=80,
        attentionHeads=64,
        kvHeads=8,
        headDim=128,
        hiddenSize=8192,
        intermediateSize=28672,
        vocabSize=128256,
        maxContext=8192,
    ),
    "neuralmagic/Meta-Llama-3.1-70B-Instruct-FP8": dict(
        paramsBillion=70.55,
        layers=80,
        attentionHeads=64,
        kvHeads=8,
        headDim=128,
        hiddenSize=8192,
        intermediateSize=28672,
        vocabSize=128256,
        maxContext=131072,
    ),
}
HELD_OUT_MEDIAN_LIMIT = 0.25  # issue 18: held-out median |error| of decode tokens/s


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def is_fit(row: dict[str, str]) -> bool:
    return row["source"].startswith(FIT_SOURCES)


def predict(row: dict[str, str], efficiency: float = EFFICIENCY) -> float:
    model = resolve_model({"id": row["model"], **BENCHMARKED_MODELS[row["model"]]})
    return decode_tokens_per_second(
        model,
        GPU_PERFORMANCE[row["gpu"]],
        int(row["tensor_parallel_size"]),
        int(row["concurrency"]),
        float(row["input_tokens"] or 0),
        float(row["output_tokens"] or 0),
        row["quantization"],
        row["kv_cache_dtype"],
        efficiency,
    )


def error(row: dict[str, str], efficiency: float = EFFICIENCY) -> float:
    measured = float(row["measured_decode_tokens_per_second"])
    return (predict(row, efficiency) - measured) / measured


def fitted_efficiency() -> float:
    """The efficiency (in hundredths) with the smallest median |error| on the fit source's rows."""
    fit = [r for r in rows() if is_fit(r)]
    return min(
        (c / 100 for c in range(30, 100)), key=lambda e: (statistics.median(abs(error(r, e)) for r in fit), e)
    )


def test_the_data_is_broad_enough_sourced_and_quoted():
    data = rows()
    assert len(data) >= 12
    assert len({r["source"] for r in data}) >= 4
    assert {r["gpu"].split()[0] for r in data} == {"A100", "H100"}
    sizes = {BENCHMARKED_MODELS[r["model"]]["paramsBillion"] for r in data}
    assert any(7 <= s <= 9 for s in sizes) and any(s >= 65 for s in sizes)  # 7-9B and 70B-class
    for row in data:
        assert row["url"].startswith("https://") and row["quote"]
        assert row["url"].startswith(row["source"]) or row["url"] == row["source"]
        assert row["gpu"] in GPU_PERFORMANCE and row["model"] in BENCHMARKED_MODELS
        measured = float(row["measured_decode_tokens_per_second"])
        concurrency = int(row["concurrency"])
        # the judged figure follows from the quoted text: concurrency / TPOT, or the rate itself
        if "tpot" in row["quote"].lower():
            quote = row["quote"]
            tpot = float(
                quote.split('median_tpot_ms": ')[1]
                if "median_tpot_ms" in quote
                else quote.split("Median TPOT (ms): ")[1]
                if "Median TPOT" in quote
                else quote.split(" | ")[4].split()[0]
            )
            assert measured == pytest.approx(concurrency * 1000 / tpot, abs=0.1), row["quote"]
        else:
            assert f"{measured:g} tokens/sec" in row["quote"]
        if row["input_tokens"]:
            assert float(row["input_tokens"]) > 0 and float(row["output_tokens"]) > 0


def test_fit_and_held_out_sets_are_split_by_source():
    fit = [r for r in rows() if is_fit(r)]
    held = [r for r in rows() if not is_fit(r)]
    assert fit and held
    assert not {r["source"] for r in fit} & {r["source"] for r in held}


def test_the_efficiency_comes_from_the_fit_source_only():
    assert fitted_efficiency() == pytest.approx(EFFICIENCY)


def _table(title: str, data: list[dict[str, str]]) -> tuple[str, list[float]]:
    lines = [title, f"{'model':36s} {'gpu':14s} TP  conc  in/out        measured  predicted   error"]
    errors = []
    for row in data:
        errors.append(error(row))
        lengths = (
            f"{float(row['input_tokens']):.0f}/{float(row['output_tokens']):.0f}"
            if row["input_tokens"]
            else "not stated"
        )
        lines.append(
            f"{row['model'][-36:]:36s} {row['gpu']:14s} {row['tensor_parallel_size']:>2}  "
            f"{row['concurrency']:>4}  {lengths:12s} "
            f"{float(row['measured_decode_tokens_per_second']):>9,.1f} "
            f"{predict(row):>10,.1f} {errors[-1]:+7.1%}"
        )
    lines.append(
        f"median |error| {statistics.median(abs(e) for e in errors):.1%}, most optimistic "
        f"{max(errors):+.1%}, most pessimistic {min(errors):+.1%} ({len(errors)} rows, "
        f"{len({r['source'] for r in data})} source(s))"
    )
    return "\n".join(lines), errors


def test_decode_rate_against_public_vllm_benchmarks(capsys):
    fit_text, fit_errors = _table(
        f"FIT (EFFICIENCY {EFFICIENCY} fitted here)", [r for r in rows() if is_fit(r)]
    )
    held_text, held_errors = _table(
        "HELD-OUT (other sources, judged only)", [r for r in rows() if not is_fit(r)]
    )
    with capsys.disabled():
        print(f"\n{fit_text}\n\n{held_text}")
    assert statistics.median(abs(e) for e in held_errors) <= HELD_OUT_MEDIAN_LIMIT
    assert statistics.median(abs(e) for e in fit_errors + held_errors) <= HELD_OUT_MEDIAN_LIMIT


# ---- the model's shape: what a user comparing GPUs relies on ----

LLAMA_8B = resolve_model(
    {"id": "meta-llama/Llama-3.1-8B-Instruct", **BENCHMARKED_MODELS["meta-llama/Llama-3.1-8B-Instruct"]}
)


def test_a_single_stream_is_bandwidth_bound():
    # one sequence: about weights / bandwidth / efficiency per token, faster on the faster memory
    a100, h100 = GPU_PERFORMANCE["A100 SXM 80GB"], GPU_PERFORMANCE["H100 SXM"]
    one_a100 = decode_tokens_per_second(LLAMA_8B, a100, 1, 1, 512, 256)
    ideal = a100.memory_bandwidth_gbs * 1e9 / throughput.weight_bytes_read(LLAMA_8B, "none")
    assert one_a100 == pytest.approx(ideal * EFFICIENCY, rel=0.03)
    assert decode_tokens_per_second(LLAMA_8B, h100, 1, 1, 512, 256) / one_a100 == pytest.approx(
        h100.memory_bandwidth_gbs / a100.memory_bandwidth_gbs, rel=0.05
    )


def test_batching_raises_throughput_with_diminishing_returns():
    chip = GPU_PERFORMANCE["H100 SXM"]
    rates = [decode_tokens_per_second(LLAMA_8B, chip, 1, b, 512, 256) for b in (1, 8, 64, 256)]
    assert rates == sorted(rates)
    per_sequence = [rate / b for rate, b in zip(rates, (1, 8, 64, 256))]
    assert per_sequence == sorted(per_sequence, reverse=True)  # each user gets slower


def test_fp8_weights_and_kv_cache_read_fewer_bytes():
    chip = GPU_PERFORMANCE["H100 SXM"]
    base = decode_tokens_per_second(LLAMA_8B, chip, 1, 64, 512, 256)  # memory-bound
    assert decode_tokens_per_second(LLAMA_8B, chip, 1, 64, 512, 256, "fp8") > base * 1.3
    assert decode_tokens_per_second(LLAMA_8B, chip, 1, 64, 512, 256, "none", "fp8") > base


def test_large_batches_are_compute_bound():
    # at hundreds of sequences the tensor cores, not the memory, set the pace: FLOPS decide
    chip = GPU_PERFORMANCE["H100 SXM"]
    memory = throughput.weight_bytes_read(LLAMA_8B, "none") / (chip.memory_bandwidth_gbs * 1e9)
    compute = 2 * LLAMA_8B.params_billion * 1e9 * 1024 * 3 / (chip.bf16_tflops * 1e12)
    assert compute > memory
    assert throughput.step_seconds(LLAMA_8B, chip, 1, 1024, 512, 256) >= compute / EFFICIENCY


def test_tensor_parallelism_pays_a_communication_term():
    chip = GPU_PERFORMANCE["A100 PCIe 80GB"]
    one = throughput.step_seconds(LLAMA_8B, chip, 1, 16, 512, 256)
    two = throughput.step_seconds(LLAMA_8B, chip, 2, 16, 512, 256)
    assert one / 2 < two < one  # faster, but not twice


def test_plan_estimate_prices_tokens_at_saturation_and_at_an_expected_load():
    plan = plan_serving(host="vm", model=resolve_model("apertus-8b-instruct"), image=DEFAULT_IMAGE)
    hourly = plan.cost.hourly_usd
    idle = throughput.estimate(
        plan.model,
        plan.gpu,
        plan.tensor_parallel_size,
        plan.kv_cache_tokens,
        hourly,
        expected_requests_per_minute=6,
    )
    assert idle.saturation_batch == min(plan.gpu.vllm_default_batch[1], plan.kv_cache_tokens // 768)
    assert idle.usd_per_mtok_saturated == pytest.approx(
        hourly / (idle.saturation_tokens_per_second * 3600) * 1e6
    )
    # 6 requests a minute of 256 tokens: 25.6 tokens/s, one replica, the hour is mostly idle
    assert idle.expected_tokens_per_second == pytest.approx(25.6)
    assert idle.replicas_for_expected == 1
    assert idle.usd_per_mtok_expected > 10 * idle.usd_per_mtok_saturated
    busy = throughput.estimate(
        plan.model,
        plan.gpu,
        plan.tensor_parallel_size,
        plan.kv_cache_tokens,
        hourly,
        expected_requests_per_minute=100_000,
    )
    assert busy.replicas_for_expected > 1  # more than a replica serves: priced with the extra replicas
    assert busy.usd_per_mtok_expected == pytest.approx(busy.usd_per_mtok_saturated, rel=0.6)


def test_every_catalog_gpu_has_cited_datasheet_figures():
    for sku in GPUS.values():
        perf = sku.performance
        assert perf.memory_bandwidth_gbs > 0 and perf.bf16_tflops > 0 and perf.link_gbs > 0
        assert "https://www.nvidia.com/" in perf.source
        assert (perf.fp8_tflops is not None) == sku.fp8_kv_cache  # FP8 tensor cores from Hopper (cc 8.9)


def test_links_are_one_way_and_nc_a100_v4_pairs_talk_over_their_nvlink_bridge():
    # the datasheets print both directions added: A100 NVLink 600, PCIe Gen4 64, H100 SXM 900, H100 NVL 600
    one_way = {"A100 SXM 80GB": 300, "A100 PCIe 80GB": 32, "H100 SXM": 450, "H100 NVL": 300, "H200": 450}
    assert {chip: GPU_PERFORMANCE[chip].link_gbs for chip in one_way} == one_way
    from components.serving.gpus import GPUS as SKUS
    pairs = {name: sku.performance for name, sku in SKUS.items()
             if name in ("Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4")}
    assert len(pairs) == 2 and all("nca100v4-series" in p.source for p in pairs.values())
    chip = pairs["Standard_NC96ads_A100_v4"]
    assert (chip.link_for(2), chip.link_for(4)) == (300, 32)  # TP 2 on the bridge, TP 4 across pairs on PCIe
    assert SKUS["Standard_NC24ads_A100_v4"].performance.pair_link_gbs is None
    two = throughput.step_seconds(LLAMA_8B, chip, 2, 16, 512, 256)
    unbridged = throughput.step_seconds(LLAMA_8B, GPU_PERFORMANCE["A100 PCIe 80GB"], 2, 16, 512, 256)
    assert two < unbridged
