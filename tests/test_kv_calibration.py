"""The KV-cache estimate against public vLLM start-up logs (tests/data/vllm_kv_cache_logs.csv).

Each row is one vLLM start: model, GPU, TP size, gpu_memory_utilization and max_model_len as
launched, and the KV cache vLLM reported ("GPU KV cache size: N tokens" and/or "Available KV cache
memory: X GiB"), or a start failure; ``kind`` says whether the quote is the log's lines or a
report's table row. ``memory_plan`` predicts each from the model's config.json figures with the
accounting of the row's vLLM version; one constant is fitted on the FIT source, the other sources
are held out. The test prints both tables and bounds the errors the way issue 11 asks.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

import components.serving.plan as plan_module
from components.serving import GPUS, memory_plan, resolve_model
from components.serving.gpus import GIB
from components.serving.plan import CUDAGRAPH_BYTES, FIT_SOURCES, VLLM_VERSION, counts_cudagraphs

DATA = Path(__file__).parent / "data" / "vllm_kv_cache_logs.csv"

# config.json of each logged model on Hugging Face (huggingface.co/<id>/blob/main/config.json);
# parameter counts from the model cards / safetensors index
LOGGED_MODELS = {
    "Qwen/Qwen2-7B-Instruct": dict(paramsBillion=7.62, layers=28, attentionHeads=28, kvHeads=4,
                                   headDim=128, hiddenSize=3584, intermediateSize=18944,
                                   vocabSize=152064, maxContext=32768),
    "Qwen/Qwen2.5-7B-Instruct": dict(paramsBillion=7.62, layers=28, attentionHeads=28, kvHeads=4,
                                     headDim=128, hiddenSize=3584, intermediateSize=18944,
                                     vocabSize=152064, maxContext=32768),
    "meta-llama/Llama-3.1-8B-Instruct": dict(paramsBillion=8.03, layers=32, attentionHeads=32,
                                             kvHeads=8, headDim=128, hiddenSize=4096,
                                             intermediateSize=14336, vocabSize=128256,
                                             maxContext=131072),
    "Qwen/Qwen3-0.6B": dict(paramsBillion=0.6, layers=28, attentionHeads=16, kvHeads=8, headDim=128,
                            hiddenSize=1024, intermediateSize=3072, vocabSize=151936,
                            tieWordEmbeddings=True, maxContext=40960),
    "Qwen/Qwen3-32B": dict(paramsBillion=32.76, layers=64, attentionHeads=64, kvHeads=8, headDim=128,
                           hiddenSize=5120, intermediateSize=25600, vocabSize=151936,
                           maxContext=40960),
    "meta-llama/Llama-3.1-70B": dict(paramsBillion=70.55, layers=80, attentionHeads=64, kvHeads=8,
                                     headDim=128, hiddenSize=8192, intermediateSize=28672,
                                     vocabSize=128256, maxContext=131072),
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic": dict(
        paramsBillion=70.55, layers=80, attentionHeads=64, kvHeads=8, headDim=128, hiddenSize=8192,
        intermediateSize=28672, vocabSize=128256, maxContext=131072),
}
# a catalog VM size with enough of each logged GPU for the logged TP size
GPU_SKU = {"A100 80GB": "Standard_ND96amsr_A100_v4", "A100 40GB": "Standard_ND96asr_v4",
           "H100 80GB": "Standard_ND96isr_H100_v5"}
# A row whose source does not state its version: llm-d-benchmark's figures add up without CUDA
# graphs (requested - weights - activation - non-torch = KV, see the rows' notes), as before 0.21.
UNSTATED_VERSION = "0.0"


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as handle:  # a quoted table cell has a "×"
        return list(csv.DictReader(handle))


def is_fit(row: dict[str, str]) -> bool:
    return row["source"].startswith(FIT_SOURCES)


def predict(row: dict[str, str]):
    model = resolve_model({"id": row["model"], **LOGGED_MODELS[row["model"]]})
    return model, memory_plan(model, GPUS[GPU_SKU[row["gpu"]]], float(row["gpu_memory_utilization"]),
                              int(row["tensor_parallel_size"]), row["quantization"],
                              row["kv_cache_dtype"], row["vllm_version"] or UNSTATED_VERSION)


def relative_error(row: dict[str, str]) -> tuple[str, float, float]:
    """(unit, logged, predicted): tokens where the log gives them, else KV GiB per GPU."""
    _, plan = predict(row)
    if row["logged_kv_tokens"]:
        return "tokens", float(row["logged_kv_tokens"]), float(plan.kv_cache_tokens if plan else 0)
    return "GiB", float(row["logged_kv_gib"]), (plan.kv_bytes_per_gpu / GIB if plan else 0.0)


def error(row: dict[str, str]) -> float:
    _, logged, predicted = relative_error(row)
    return (predicted - logged) / logged


def started(fit: bool) -> list[dict[str, str]]:
    return [r for r in rows() if r["outcome"] == "started" and is_fit(r) == fit]


def test_the_data_is_broad_enough_sourced_and_quoted():
    data = rows()
    # issue 11 asks for at least 15 starts from at least 3 models and 2 GPU types: 17 distinct
    # starts, the fp8-KV copies of the same runs and an LLM-class/enforce_eager run left out
    assert len(data) >= 17
    assert len({r["model"] for r in data}) >= 3 and len({r["gpu"] for r in data}) >= 2
    assert any(r["outcome"] == "failed" for r in data)
    for row in data:
        assert row["source"].startswith("https://github.com/") and row["quote"]
        assert row["kind"] in ("log", "table")  # a report's table row is quoted as such
        assert row["model"] in LOGGED_MODELS and row["gpu"] in GPU_SKU
        assert row["outcome"] == "failed" or row["logged_kv_tokens"] or row["logged_kv_gib"]
        # every figure the test judges against is in the quoted text
        if row["logged_kv_tokens"]:
            assert f"{int(row['logged_kv_tokens']):,}" in row["quote"], row["quote"]
        if row["logged_kv_gib"]:
            assert f" {row['logged_kv_gib']} " in f" {row['quote']} ", row["quote"]
        if row["kind"] == "table":
            assert row["quote"].startswith("| ") and row["quote"].endswith(" |")
            assert "GiB" not in row["quote"]  # cells, not a log line
        else:
            assert "Available KV cache memory" in row["quote"] or "GPU KV cache size" in row["quote"]
    # one run counts once: no two rows with the same setup and the same logged memory
    setups = [(r["source"], r["model"], r["gpu"], r["tensor_parallel_size"], r["gpu_memory_utilization"],
               r["quantization"], r["logged_kv_gib"]) for r in data if r["outcome"] == "started"]
    assert len(setups) == len(set(setups))


def test_fit_and_held_out_sets_are_split_by_source():
    fit, held = started(True), started(False)
    assert fit and len(held) >= len(fit)
    assert not {r["source"] for r in fit} & {r["source"] for r in held}


def test_the_fitted_constant_comes_from_the_fit_set_only(monkeypatch):
    # SAMPLER_FP32_COPIES: the smallest tenth that predicts no fit row optimistic
    def worst(copies: float) -> float:
        monkeypatch.setattr(plan_module, "SAMPLER_FP32_COPIES", copies)
        return max(error(r) for r in started(True))

    fitted = next(c / 10 for c in range(10, 200) if worst(c / 10) <= 0)
    assert fitted == pytest.approx(plan_module.SAMPLER_FP32_COPIES)


def test_cuda_graphs_count_from_vllm_0_21():
    assert not counts_cudagraphs("0.19.0") and not counts_cudagraphs("0.10.1.1")
    assert counts_cudagraphs("0.21.0") and counts_cudagraphs(VLLM_VERSION)
    model = resolve_model("apertus-8b-instruct")
    h100 = GPUS["Standard_NC40ads_H100_v5"]
    old, new = (memory_plan(model, h100, 0.9, 1, vllm_version=v) for v in ("0.19.0", VLLM_VERSION))
    assert old.kv_bytes_per_gpu - new.kv_bytes_per_gpu == pytest.approx(CUDAGRAPH_BYTES)
    assert memory_plan(model, h100, 0.9, 1).kv_cache_tokens == new.kv_cache_tokens  # the plan's is 0.33's


def _table(title: str, data: list[dict[str, str]]) -> tuple[str, list[float]]:
    lines, errors = [title, "model                            gpu        TP  util  quant/kv  vLLM     "
                     "     logged    predicted unit   error"], []
    for row in data:
        unit, logged, predicted = relative_error(row)
        errors.append((predicted - logged) / logged)
        lines.append(f"{row['model'][-32:]:32s} {row['gpu']:10s} TP{row['tensor_parallel_size']} "
                     f"u{row['gpu_memory_utilization']:5s} {row['quantization']:4s}/{row['kv_cache_dtype']:4s} "
                     f"{row['vllm_version'] or '?':8s} {logged:>12,.2f} {predicted:>12,.2f} {unit:6s} "
                     f"{errors[-1]:+7.1%}")
    lines.append(f"median |error| {statistics.median(abs(e) for e in errors):.1%}, most optimistic "
                 f"{max(errors):+.1%}, most pessimistic {min(errors):+.1%}")
    return "\n".join(lines), errors


def test_kv_estimate_against_public_vllm_logs(capsys):
    fit_text, fit_errors = _table("FIT (SAMPLER_FP32_COPIES fitted here)", started(True))
    held_text, held_errors = _table("HELD-OUT (other sources, judged only)", started(False))
    with capsys.disabled():
        print(f"\n{fit_text}\n\n{held_text}")
    for errors in (held_errors, fit_errors + held_errors):
        assert statistics.median(abs(e) for e in errors) <= 0.10
        assert max(errors) <= 0.10, "an optimistic plan is a vLLM that refuses to start"


@pytest.mark.parametrize("row", [r for r in rows() if r["outcome"] == "failed"],
                         ids=lambda r: f"{r['model']}-TP{r['tensor_parallel_size']}-{r['max_model_len']}")
def test_every_logged_start_failure_is_predicted_as_no_fit(row):
    assert row["max_model_len"] in row["quote"]
    _, plan = predict(row)
    assert plan is None or plan.kv_cache_tokens < int(row["max_model_len"])
