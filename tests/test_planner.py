"""The serving planner's figures against hand-computed values (components/serving, pure Python)."""

from __future__ import annotations

import pytest

from components.serving import pricing
from components.serving import (DEFAULT_IMAGE, GPUS, ConfigError, memory_plan, plan_serving,
                                 quota_request, resolve_model)
from components.serving.gpus import DEVICE_MEMORY, GIB
from components.serving.models import MODELS
from components.serving.plan import CUDAGRAPH_BYTES, NON_TORCH_BYTES_TP, NON_TORCH_BYTES_TP1

A8B, A70B = resolve_model("apertus-8b-instruct"), resolve_model("apertus-70b-instruct")


def plan(model="apertus-8b-instruct", host="vm", **kwargs):
    return plan_serving(host=host, model=resolve_model(model), image=DEFAULT_IMAGE, **kwargs)


def test_architecture_figures_follow_from_the_config():
    # 8.05e9 params x 2 bytes; K+V x 32 layers x 8 KV heads x 128 dims x 2 bytes
    assert A8B.weight_bytes == pytest.approx(16.1e9)
    assert A8B.kv_bytes_per_token == 131_072
    assert A70B.weight_bytes == pytest.approx(141.2e9)
    assert A70B.kv_bytes_per_token == 327_680  # 2 x 80 x 8 x 128 x 2
    assert A8B.max_context == A70B.max_context == 65_536
    # config.json: hidden 4096 / 8192, MLP 21504 / 43008, vocabulary 131072, untied embeddings
    assert (A8B.hidden, A8B.intermediate, A8B.vocab) == (4096, 21504, 131072)
    assert (A70B.hidden, A70B.intermediate, A70B.vocab) == (8192, 43008, 131072)
    # FP8 keeps the embedding and LM head (2 x 131072 x 4096 = 1.07e9 params) in bf16
    assert A8B.weight_bytes_for("fp8") == pytest.approx(8.05e9 - 1.074e9 + 2 * 1.074e9, rel=1e-3)
    assert A70B.weight_bytes_for("fp8") == pytest.approx(72.75e9, rel=1e-3)
    assert A8B.kv_bytes_per_token_for("fp8") == 65_536


def test_gpu_memory_is_what_the_device_reports():
    # an "80 GB" A100 reports 79.25 GiB = 85.1e9 bytes; the plan requests utilization x that
    a100 = GPUS["Standard_NC24ads_A100_v4"]
    assert a100.device_memory_bytes == pytest.approx(85.09e9, rel=1e-3)
    assert memory_plan(A8B, a100, 0.9, 1).requested_bytes_per_gpu == pytest.approx(0.9 * 85.09e9, rel=1e-3)
    for sku in GPUS.values():
        assert sku.gpu_memory_gb * 0.9e9 < sku.device_memory_bytes < sku.gpu_memory_gb * 1.1e9
    for card, memory in DEVICE_MEMORY.items():
        # the figure is the one in the quoted line, and the line says where it is published
        assert f"{memory.total_bytes / GIB:.2f} GiB" in memory.source, card
        assert memory.url is not None and memory.url.startswith("https://github.com/"), card


def test_vllm_default_batch_follows_the_gpu():
    # vLLM: >= 70 GiB and not an A100 -> 8192 tokens / 1024 sequences, else 2048 / 256
    assert GPUS["Standard_NC40ads_H100_v5"].vllm_default_batch == (8192, 1024)
    assert GPUS["Standard_NC24ads_A100_v4"].vllm_default_batch == (2048, 256)
    assert GPUS["Standard_NC4as_T4_v3"].vllm_default_batch == (2048, 256)


def test_memory_plan_is_none_when_the_weights_do_not_fit():
    assert memory_plan(A70B, GPUS["Standard_NC24ads_A100_v4"], 0.9, 1) is None
    assert memory_plan(A8B, GPUS["Standard_NC24ads_A100_v4"], 0.9, 1).kv_cache_tokens > 0


def test_non_kv_memory_per_gpu():
    # 8B on one A100: sampler peak 9.7 x 256 seqs x 131072 vocab x 4 bytes = 1.30e9 beats the
    # layer peak (2048 tokens x 2 bytes x (2 x 4096 + 48 x 128 + 2 x 21504) = 0.24e9)
    plan = memory_plan(A8B, GPUS["Standard_NC24ads_A100_v4"], 0.9, 1)
    assert plan.activation_bytes_per_gpu == pytest.approx(9.7 * 256 * 131072 * 4)
    assert plan.non_torch_bytes_per_gpu == NON_TORCH_BYTES_TP1 and plan.cudagraph_bytes_per_gpu == CUDAGRAPH_BYTES
    # on an H100 vLLM profiles 1024 sequences; at TP 2 NCCL buffers join the non-torch memory
    h100 = memory_plan(A70B, GPUS["Standard_NC80adis_H100_v5"], 0.9, 2)
    assert h100.activation_bytes_per_gpu == pytest.approx(9.7 * 1024 * 131072 * 4)
    assert h100.non_torch_bytes_per_gpu == NON_TORCH_BYTES_TP
    assert h100.weight_bytes_per_gpu == pytest.approx(141.2e9 / 2)


# (model, host, gpu, utilization, expected gpu, TP, max context, KV tokens)
# KV tokens by hand: (util x device bytes - weights/TP - activation - non-torch - 1 GiB CUDA graphs)
# / (KV bytes per token / TP), whole 16-token blocks. A100 80 GB: 85.09e9 bytes, activation
# 9.7 x 256 x 131072 x 4 = 1.30e9; H100 NVL: 99.95e9 bytes, activation 9.7 x 1024 x 131072 x 4 =
# 5.21e9; non-torch 0.27e9 (TP 1) or 2.29e9 (TP > 1)
CASES = [
    # 8B on one A100 80 GB: (76.58e9 - 16.1e9 - 1.30e9 - 0.27e9 - 1.07e9) / 131072 = 441,2xx
    ("apertus-8b-instruct", "vm", None, 0.9, "Standard_NC24ads_A100_v4", 1, 65536, 441_280),
    ("apertus-8b-instruct", "containerapp", None, 0.9, "Consumption-GPU-NC24-A100", 1, 65536, 441_280),
    ("apertus-8b-instruct", "aks", None, 0.9, "Standard_NC24ads_A100_v4", 1, 65536, 441_280),
    # 8B on one H100 NVL (93.00 GiB): (89.87e9 - 16.1e9 - 5.21e9 - 0.27e9 - 1.07e9) / 131072 = 512,8xx
    ("apertus-8b", "vm", "Standard_NC40ads_H100_v5", 0.9, "Standard_NC40ads_H100_v5", 1, 65536, 512_864),
    # 70B: 2 x H100 NVL (TP 2, 70.6e9 of weights per GPU) leave (89.87e9 - 70.6e9 - 5.21e9 - 2.29e9
    # - 1.07e9) / 163840 = 65,2xx tokens, short of one 65,536-token sequence: 4 x A100 at TP 4
    ("apertus-70b-instruct", "vm", None, 0.9, "Standard_NC96ads_A100_v4", 4, 65536, 447_040),
    # 70B on 4 x A100 80 GB: TP 2 holds the weights but not one 65,536-token sequence; TP 4:
    # (76.58e9 - 35.3e9 - 1.30e9 - 2.29e9 - 1.07e9) / 81920 = 447,0xx
    ("apertus-70b", "aks", "Standard_NC96ads_A100_v4", 0.9, "Standard_NC96ads_A100_v4", 4, 65536, 447_040),
    # 70B on 2 x A100 80 GB at 0.98 (the quickstart's setting): (83.39e9 - 70.6e9 - 1.30e9 - 2.29e9
    # - 1.07e9) / 163840 = 49,616 tokens, so the context shrinks to 48 x 1024 = 49,152
    ("apertus-70b-instruct", "vm", "Standard_NC48ads_A100_v4", 0.98, "Standard_NC48ads_A100_v4", 2, 49152, 49_616),
]


@pytest.mark.parametrize("model,host,gpu,util,want_gpu,want_tp,want_len,want_tokens", CASES)
def test_plan_figures(model, host, gpu, util, want_gpu, want_tp, want_len, want_tokens):
    result = plan(model, host, gpu=gpu, gpu_memory_utilization=util)
    assert result.gpu.name == want_gpu
    assert result.tensor_parallel_size == want_tp
    assert result.max_model_len == want_len
    assert result.kv_cache_tokens == want_tokens
    assert result.max_concurrent_sequences == want_tokens // want_len


def test_shortened_context_is_a_warning_not_silence():
    result = plan("apertus-70b-instruct", gpu="Standard_NC48ads_A100_v4", gpu_memory_utilization=0.98)
    assert any("context shortened to 49,152" in w for w in result.warnings)


def test_cost_per_hour_month_and_sequence():
    result = plan()
    assert result.cost.hourly_usd == 3.673
    assert result.cost.monthly_usd == pytest.approx(3.673 * 730, abs=0.01)
    assert result.cost.hourly_usd_per_sequence == pytest.approx(3.673 / 6, abs=1e-4)
    assert "2026-06-18" in result.cost.source and "(eastus)" in result.cost.source


def test_cost_is_the_regions_price_the_cost_lines_show():
    # the same dated snapshot the whole-cost lines read: Sweden Central is dearer than East US
    swedish = plan(region="swedencentral")
    assert swedish.cost.hourly_usd == 4.775 and "(swedencentral)" in swedish.cost.source
    assert swedish.cost.hourly_usd == pricing.on_demand_price(swedish.gpu, "swedencentral").usd
    assert "($4.775/h)" in swedish.gpu_reason


def test_gpu_choice_says_why():
    assert "cheapest" in plan().gpu_reason and "65,536-token" in plan().gpu_reason
    assert plan(gpu="Standard_NC40ads_H100_v5").gpu_reason == "set in the stack config (gpu)"


def test_quota_counts_vcpus_for_vms_and_gpus_for_serverless():
    vm = quota_request(plan(), 1)
    assert (vm.family, vm.amount, vm.unit) == ("StandardNCADSA100v4Family", 24, "vCPUs")
    aca = quota_request(plan(host="containerapp"), 3)
    assert (aca.amount, aca.unit) == (3, "GPUs")


def test_region_without_documented_serverless_gpu_warns():
    result = plan(host="containerapp", region="switzerlandnorth")
    assert any("not documented in region 'switzerlandnorth'" in w for w in result.warnings)
    assert not plan(host="containerapp", region="swedencentral").warnings


@pytest.mark.parametrize("kwargs,key,words", [
    (dict(model="apertus-70b-instruct", host="containerapp"), "model",
     ["141.2 GB", "containerapp", "1 x 80 GB", "Standard_NC96ads_A100_v4"]),
    (dict(host="containerapp", gpu="Consumption-GPU-NC8as-T4"), "gpu",
     ["no bf16", "16.1 GB", "Consumption-GPU-NC24-A100"]),
    (dict(gpu="Standard_NC4as_T4_v3"), "gpu", ["no bf16", "1 x 16 GB"]),
    (dict(model="apertus-70b-instruct", gpu="Standard_NC24ads_A100_v4"), "gpu",
     ["cannot hold 141.2 GB", "Standard_NC80adis_H100_v5"]),
    (dict(model="apertus-70b-instruct", gpu="Standard_NC40ads_H100_v5"), "gpu",
     ["cannot hold 141.2 GB", "set quantization fp8"]),
    (dict(gpu="Standard_D4s_v5"), "gpu", ["not a GPU VM size", "Standard_NC24ads_A100_v4"]),
    (dict(gpu="Consumption-GPU-NC24-A100"), "gpu", ["not valid for host 'vm'"]),
    (dict(host="containerapp", gpu="Standard_NC24ads_A100_v4"), "gpu",
     ["not valid for host 'containerapp'", "Consumption-GPU-NC24-A100"]),
    (dict(max_model_len=70000), "maxModelLen", ["max context 65,536"]),
    (dict(max_model_len=0), "maxModelLen", ["between 1"]),
    (dict(model="apertus-70b-instruct", gpu="Standard_NC48ads_A100_v4", gpu_memory_utilization=0.98,
          max_model_len=65536), "maxModelLen", ["49,616 tokens", "at most 49152"]),
    (dict(quantization="int4"), "quantization", ["none, fp8"]),
    (dict(kv_cache_dtype="fp16"), "kvCacheDtype", ["auto, fp8"]),
    (dict(host="containerapp", kv_cache_dtype="fp8"), "kvCacheDtype",
     ["no 'containerapp' GPU runs it", "no FP8 KV cache", "Standard_NC40ads_H100_v5"]),
    (dict(gpu="Standard_NC24ads_A100_v4", kv_cache_dtype="fp8"), "kvCacheDtype",
     ["A100 (compute capability 8) has no FP8 KV cache", "remove kvCacheDtype"]),
    (dict(gpu_memory_utilization=1.2), "gpuMemoryUtilization", ["between 0.5 and 0.99"]),
    (dict(host="kubernetes"), "host", ["containerapp, vm, aks"]),
])
def test_bad_plans_are_one_line_errors(kwargs, key, words):
    model = kwargs.pop("model", "apertus-8b-instruct")
    host = kwargs.pop("host", "vm")
    with pytest.raises(ConfigError) as caught:
        plan(model, host, **kwargs)
    message = str(caught.value)
    assert caught.value.key == key and f"apertus-azure:{key}" in message
    assert "\n" not in message
    for word in words:
        assert word in message


def test_custom_model_object():
    custom = resolve_model({"id": "org/tiny", "paramsBillion": 1, "layers": 16, "attentionHeads": 32,
                            "kvHeads": 8, "headDim": 64, "maxContext": 8192, "dtype": "float16"})
    assert custom.weight_bytes == 2e9 and custom.kv_bytes_per_token == 2 * 16 * 8 * 64 * 2
    assert not custom.gated and custom.tool_call_parser is None
    # float16 runs on a T4 (no bf16 needed): the cheapest VM size is chosen
    assert plan_serving(host="vm", model=custom, image="x").gpu.name == "Standard_NC4as_T4_v3"


@pytest.mark.parametrize("value,key", [
    ("apertus-9b", "model"),
    ({"id": "org/x"}, "model.paramsBillion"),
    ({"id": "org/x", "paramsBillion": 1, "layers": 2, "attentionHeads": 4, "kvHeads": 3,
      "headDim": 8, "maxContext": 10}, "model.kvHeads"),
    ({"id": "org/x", "paramsBillion": -1, "layers": 2, "attentionHeads": 4, "kvHeads": 2,
      "headDim": 8, "maxContext": 10}, "model.paramsBillion"),
    ({"id": "org/x", "paramsBillion": 1, "layers": 2, "attentionHeads": 4, "kvHeads": 2,
      "headDim": 8, "maxContext": 10, "contextLength": 5}, "model.contextLength"),
])
def test_bad_models(value, key):
    with pytest.raises(ConfigError) as caught:
        resolve_model(value)
    assert caught.value.key == key


def test_hugging_face_id_resolves_to_catalog_model():
    assert resolve_model("swiss-ai/Apertus-70B-Instruct-2509") is resolve_model("apertus-70b-instruct")


def test_every_catalog_gpu_has_a_price_source():
    for sku in GPUS.values():
        assert sku.price_source and sku.quota_family and sku.gpu_memory_gb > 0


def test_fp8_kv_cache_halves_kv_bytes_where_the_gpu_has_it():
    auto = plan(gpu="Standard_NC40ads_H100_v5")
    fp8 = plan(gpu="Standard_NC40ads_H100_v5", kv_cache_dtype="fp8")
    assert fp8.kv_cache_tokens == pytest.approx(2 * auto.kv_cache_tokens, abs=16)
    assert fp8.launch.args[fp8.launch.args.index("--kv-cache-dtype") + 1] == "fp8"
    assert "--kv-cache-dtype" not in auto.launch.args
    # without a gpu, the cheapest that runs an FP8 KV cache is chosen (the A100 cannot), and the plan
    # warns that asking to save memory nearly doubled the price
    moved = plan(kv_cache_dtype="fp8")
    assert moved.gpu.name == "Standard_NC40ads_H100_v5"
    [warning] = [w for w in moved.warnings if "moved the GPU" in w]
    assert warning.startswith("kvCacheDtype fp8 moved the GPU from Standard_NC24ads_A100_v4 ($")
    assert "remove it to stay on Standard_NC24ads_A100_v4" in warning
    assert not any("moved the GPU" in w for w in plan(gpu="Standard_NC40ads_H100_v5", kv_cache_dtype="fp8").warnings)
    assert not any("moved the GPU" in w for w in plan(quantization="fp8").warnings)  # the A100 runs it


def test_fp8_weights_halve_weight_memory_and_run_weight_only_on_ampere():
    result = plan(gpu="Standard_NC24ads_A100_v4", quantization="fp8")
    assert result.launch.args[result.launch.args.index("--quantization") + 1] == "fp8"
    assert result.weights_gb == pytest.approx(9.12, abs=0.01)
    assert result.kv_cache_tokens > plan().kv_cache_tokens
    assert any("weight-only (FP8 Marlin" in w for w in result.warnings)
    assert not any("weight-only" in w for w in plan(gpu="Standard_NC40ads_H100_v5", quantization="fp8").warnings)
    # a float16 model runs FP8 weights on a T4 (compute capability 7.5: FP8 Marlin) but no FP8 KV cache
    tiny = resolve_model({"id": "org/tiny", "paramsBillion": 1, "layers": 16, "attentionHeads": 32,
                          "kvHeads": 8, "headDim": 64, "maxContext": 8192, "dtype": "float16"})
    t4 = plan_serving(host="vm", model=tiny, image="x", gpu="Standard_NC4as_T4_v3", quantization="fp8")
    assert t4.quantization == "fp8"
    with pytest.raises(ConfigError) as caught:
        plan_serving(host="vm", model=tiny, image="x", gpu="Standard_NC4as_T4_v3", kv_cache_dtype="fp8")
    assert caught.value.key == "kvCacheDtype" and "T4 (compute capability 7.5)" in str(caught.value)


def test_alternatives_are_offered_never_applied():
    # 70B at 24k on a VM: bf16 needs two H100 NVL; FP8 weights fit one for half the price
    result = plan("apertus-70b-instruct", max_model_len=24576)
    assert (result.gpu.name, result.quantization) == ("Standard_NC80adis_H100_v5", "none")
    assert "--quantization" not in result.launch.args
    first = result.alternatives[0]
    assert (first.gpu, first.quantization, first.tensor_parallel_size) == ("Standard_NC40ads_H100_v5", "fp8", 1)
    assert first.hourly_usd == pytest.approx(result.cost.hourly_usd / 2)
    assert first.max_model_len == 24576 and first.kv_cache_tokens >= 24576
    assert len(result.alternatives) <= 3
    prices = [alt.hourly_usd for alt in result.alternatives]
    assert prices == sorted(prices)
    for alt in result.alternatives:  # each really holds the model and context
        assert alt.kv_cache_tokens >= 24576 and alt.hosts
        assert (alt.gpu, alt.quantization) != ("Standard_NC80adis_H100_v5", "none")


def test_alternatives_are_cheaper_or_other_hardware_never_padding():
    # 8B on a VM's A100 is the cheapest fit: Container Apps' A100 is the same GPU at the same price
    # and FP8 on it saves nothing, so nothing is listed and the plan says why
    result = plan()
    assert result.alternatives == ()
    assert result.alternatives_note.startswith("no other GPU or quantization options at or below "
                                               "Standard_NC24ads_A100_v4's price")
    # 70B at 24k on two H100 NVL: every listed option is strictly cheaper or other hardware at no
    # more; fewer than three qualify, and the plan says so instead of padding the list
    result = plan("apertus-70b-instruct", max_model_len=24576)
    chosen = (result.gpu.gpu_model, result.gpu.gpus_per_replica)
    for alt in result.alternatives:
        sku = GPUS[alt.gpu]
        assert alt.hourly_usd < result.cost.hourly_usd or (
            (sku.gpu_model, sku.gpus_per_replica) != chosen and alt.hourly_usd <= result.cost.hourly_usd)
        assert set(alt.hosts) <= {"containerapp", "vm", "aks"}
    assert len(result.alternatives) == 2
    assert result.alternatives_note.startswith("only 2 other GPU or quantization options")


def test_a_tight_fit_warns_with_the_error_band_and_alternatives_mark_it():
    # 70B FP8 on one H100 NVL at 30k: 32,256 KV tokens for a 30,720-token sequence (5.0% spare)
    result = plan("apertus-70b-instruct", max_model_len=30720)
    one_nvl = result.alternatives[0]
    assert (one_nvl.gpu, one_nvl.kv_cache_tokens, one_nvl.tight) == ("Standard_NC40ads_H100_v5", 32_256, True)
    assert [alt.tight for alt in result.alternatives[1:]] == [False]  # 2 x A100 FP8: 216,960 tokens
    chosen = plan("apertus-70b-instruct", gpu="Standard_NC40ads_H100_v5", max_model_len=30720,
                  quantization="fp8")
    assert any(w.startswith("tight: 32,256 KV-cache tokens are within 5.0% of the 30,720 one sequence "
                            "needs; the estimate's error band is \u00b110%") for w in chosen.warnings)
    roomy = plan("apertus-70b-instruct", gpu="Standard_NC40ads_H100_v5", max_model_len=24576,
                 quantization="fp8")
    assert not any(w.startswith("tight") for w in roomy.warnings)


def test_the_activation_peak_follows_the_models_mlp():
    # Apertus' MLP is up_proj -> xIELU -> down_proj (no gate): 2 x intermediate_size wide at its
    # peak, where a gated SwiGLU MLP holds 3 x; a custom model is gated unless it says otherwise
    from components.serving.plan import activation_bytes

    assert (A8B.gated_mlp, A8B.mlp_activation_widths) == (False, 2)
    base = {"id": "org/m", "paramsBillion": 8.05, "layers": 32, "attentionHeads": 32, "kvHeads": 8,
            "headDim": 128, "maxContext": 65536, "hiddenSize": 4096, "intermediateSize": 21504,
            "vocabSize": 1000}  # a small vocabulary, so the layer peak (not the sampler) counts
    gated, plain = resolve_model(base), resolve_model({**base, "gatedMlp": False})
    assert gated.mlp_activation_widths == 3
    a100 = GPUS["Standard_NC24ads_A100_v4"]  # 2048 tokens: 2 bytes x (2 x 4096 + 48 x 128 + k x 21504)
    assert activation_bytes(plain, a100, 1) == 2048 * 2 * (2 * 4096 + 48 * 128 + 2 * 21504)
    assert activation_bytes(gated, a100, 1) == 2048 * 2 * (2 * 4096 + 48 * 128 + 3 * 21504)


def test_plan_json_carries_alternatives_and_the_fp8_keys():
    from stacks.common import plan_stack

    described = plan_stack("vm-70b")["plan"]
    assert (described["quantization"], described["kvCacheDtype"]) == ("none", "auto")
    alternatives = described["alternatives"]
    assert 1 <= len(alternatives) <= 3
    assert set(alternatives[0]) == {"gpu", "hosts", "tensorParallelSize", "maxModelLen", "kvCacheTokens",
                                    "hourlyCostUsd", "quantization", "tight"}
    assert alternatives[0]["hourlyCostUsd"] < described["hourlyCostUsd"]


def test_custom_model_architecture_figures_and_their_defaults():
    base = {"id": "org/m", "paramsBillion": 7, "layers": 32, "attentionHeads": 32, "kvHeads": 8,
            "headDim": 128, "maxContext": 32768}
    bare = resolve_model(base)
    # documented defaults: hidden = heads x head dim, MLP 6 x hidden, vocabulary 256,000 (Gemma's)
    assert (bare.hidden, bare.intermediate, bare.vocab) == (4096, 6 * 4096, 256_000)
    given = resolve_model({**base, "hiddenSize": 3584, "intermediateSize": 18944, "vocabSize": 152064,
                           "tieWordEmbeddings": True})
    assert (given.hidden, given.intermediate, given.vocab, given.tie_word_embeddings) == (
        3584, 18944, 152064, True)
    # the defaults err on the safe side: never more KV room than the model's own figures give
    a100 = GPUS["Standard_NC24ads_A100_v4"]
    assert memory_plan(bare, a100, 0.9, 1).kv_cache_tokens <= memory_plan(
        resolve_model({**base, "hiddenSize": 4096, "intermediateSize": 14336, "vocabSize": 128256}),
        a100, 0.9, 1).kv_cache_tokens


@pytest.mark.parametrize("key,value,words", [
    ("quantization", "int4", ["none, fp8"]),
    ("kvCacheDtype", "fp16", ["auto, fp8"]),
])
def test_fp8_keys_are_read_from_the_stack_config(key, value, words):
    from conftest import assert_config_error, stack_config

    assert_config_error(stack_config("vm", **{key: value}), key, words)


def test_stack_config_fp8_reaches_the_vllm_command(tmp_path):
    import shutil
    from pathlib import Path

    from stacks.common import plan_stack

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.fp8.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        "  apertus-azure:gpu: Standard_NC40ads_H100_v5\n  apertus-azure:quantization: fp8\n"
        "  apertus-azure:kvCacheDtype: fp8\n")
    described = plan_stack("fp8", tmp_path)["plan"]
    command = " ".join(described["vllmCommand"])
    assert "--quantization fp8" in command and "--kv-cache-dtype fp8" in command
    assert (described["quantization"], described["kvCacheDtype"]) == ("fp8", "fp8")


def test_the_reason_says_when_an_option_rules_out_cheaper_gpus():
    # FP8 KV cache needs compute capability 8.9: no A100, so the planner goes to an H100 and says why
    result = plan(kv_cache_dtype="fp8")
    assert result.gpu.gpu_model.startswith("H100")
    assert "cheaper GPUs cannot run quantization none / kvCacheDtype fp8" in result.gpu_reason
    assert "cannot run" not in plan().gpu_reason


@pytest.mark.parametrize("base, instruct", [("apertus-8b", "apertus-8b-instruct"),
                                            ("apertus-70b", "apertus-70b-instruct")])
def test_a_base_model_says_it_is_not_for_chat_and_names_its_instruct_variant(base, instruct):
    spec = MODELS[base]
    assert spec.instruct_variant == instruct and MODELS[instruct].hf_id == spec.hf_id.replace("-2509", "-Instruct-2509")
    assert spec.base_model_note == ("base model, not instruction-tuned: chat answers will be poor; for chat use "
                                    f"model {instruct}")
    assert MODELS[instruct].base_model_note is None and resolve_model(spec.hf_id) is spec  # by its id too


def test_a_size_the_snapshot_prices_only_in_east_us_says_so_in_the_plan():
    """switzerlandwest is in the price snapshot with two sizes only: a plan there priced (and chosen)
    at East US's prices says so in a warning, not only in --detail's cost source."""
    model = MODELS["apertus-8b-instruct"]
    west = plan_serving(host="vm", model=model, image=DEFAULT_IMAGE, region="switzerlandwest")
    assert pricing.priced_from_east_us(west.gpu, "switzerlandwest")
    [warning] = [w for w in west.warnings if "price" in w]
    assert f"{west.gpu.name} has no switzerlandwest price" in warning and "East US" in warning
    north = plan_serving(host="vm", model=model, image=DEFAULT_IMAGE, region="switzerlandnorth")
    assert not any("price" in w for w in north.warnings), north.warnings
    aca = plan_serving(host="containerapp", model=model, image=DEFAULT_IMAGE, region="switzerlandwest")
    assert any("no switzerlandwest price" in w for w in aca.warnings)  # its profile's VM size
