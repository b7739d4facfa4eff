"""The serving planner's figures against hand-computed values (components/serving, pure Python)."""

from __future__ import annotations

import pytest

from components.serving import (DEFAULT_IMAGE, GPUS, ConfigError, plan_serving, quota_request,
                                 resolve_model)
from components.serving.plan import NON_KV_OVERHEAD_BYTES

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
    assert NON_KV_OVERHEAD_BYTES == 2e9  # the hand computations below use it


# (model, host, gpu, utilization, expected gpu, TP, max context, KV tokens)
# KV tokens by hand: (util x GB x 1e9 - 2e9 overhead - weights/TP) x TP / KV bytes per token
CASES = [
    # 8B on one A100 80 GB: (72e9 - 2e9 - 16.1e9) / 131072 = 411,224.4
    ("apertus-8b-instruct", "vm", None, 0.9, "Standard_NC24ads_A100_v4", 1, 65536, 411_224),
    ("apertus-8b-instruct", "containerapp", None, 0.9, "Consumption-GPU-NC24-A100", 1, 65536, 411_224),
    ("apertus-8b-instruct", "aks", None, 0.9, "Standard_NC24ads_A100_v4", 1, 65536, 411_224),
    # 8B on one H100 NVL 94 GB: (84.6e9 - 2e9 - 16.1e9) / 131072 = 507,354.7
    ("apertus-8b", "vm", "Standard_NC40ads_H100_v5", 0.9, "Standard_NC40ads_H100_v5", 1, 65536, 507_354),
    # 70B, cheapest fit: 2 x H100 NVL, TP 2: (84.6e9 - 2e9 - 70.6e9) x 2 / 327680 = 73,242.2
    ("apertus-70b-instruct", "vm", None, 0.9, "Standard_NC80adis_H100_v5", 2, 65536, 73_242),
    # 70B on 4 x A100 80 GB: TP 2 leaves no room (70e9 < 70.6e9), TP 4: 34.7e9 x 4 / 327680 = 423,583.9
    ("apertus-70b", "aks", "Standard_NC96ads_A100_v4", 0.9, "Standard_NC96ads_A100_v4", 4, 65536, 423_583),
    # 70B on 2 x A100 80 GB at 0.98 (the quickstart's setting): (78.4e9 - 2e9 - 70.6e9) x 2 / 327680
    # = 35,400.4 tokens, so the context shrinks to 34 x 1024 = 34,816
    ("apertus-70b-instruct", "vm", "Standard_NC48ads_A100_v4", 0.98, "Standard_NC48ads_A100_v4", 2, 34816, 35_400),
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
    assert any("context shortened to 34,816" in w for w in result.warnings)


def test_cost_per_hour_month_and_sequence():
    result = plan()
    assert result.cost.hourly_usd == 3.673
    assert result.cost.monthly_usd == pytest.approx(3.673 * 730, abs=0.01)
    assert result.cost.hourly_usd_per_sequence == pytest.approx(3.673 / 6, abs=1e-4)
    assert "East US" in result.cost.source


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
     ["141.2 GB", "containerapp", "1 x 80 GB", "Standard_NC80adis_H100_v5"]),
    (dict(host="containerapp", gpu="Consumption-GPU-NC8as-T4"), "gpu",
     ["no bf16", "16.1 GB", "Consumption-GPU-NC24-A100"]),
    (dict(gpu="Standard_NC4as_T4_v3"), "gpu", ["no bf16", "1 x 16 GB"]),
    (dict(model="apertus-70b-instruct", gpu="Standard_NC48ads_A100_v4"), "gpu",
     ["cannot hold 141.2 GB", "gpuMemoryUtilization 0.98"]),
    (dict(gpu="Standard_D4s_v5"), "gpu", ["not a GPU VM size", "Standard_NC24ads_A100_v4"]),
    (dict(gpu="Consumption-GPU-NC24-A100"), "gpu", ["not valid for host 'vm'"]),
    (dict(host="containerapp", gpu="Standard_NC24ads_A100_v4"), "gpu",
     ["not valid for host 'containerapp'", "Consumption-GPU-NC24-A100"]),
    (dict(max_model_len=70000), "maxModelLen", ["max context 65,536"]),
    (dict(max_model_len=0), "maxModelLen", ["between 1"]),
    (dict(model="apertus-70b-instruct", gpu="Standard_NC48ads_A100_v4", gpu_memory_utilization=0.98,
          max_model_len=65536), "maxModelLen", ["35,400 tokens", "at most 34816"]),
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
