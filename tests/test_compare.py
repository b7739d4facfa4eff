"""`python -m stacks plan --compare`, and the plan's throughput figures (stacks/compare.py)."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import pytest

from components.serving import ConfigError, GPUS
from stacks import compare
from stacks import __main__ as plan_cli
from stacks.common import plan_stack

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def compared(stack: str) -> dict:
    return compare.compare_stack(stack, ROOT)


def test_dev_lists_every_fit_cheapest_token_first_with_the_current_choice_marked():
    data = compared("dev")
    rows = data["rows"]
    assert data["model"] == "swiss-ai/Apertus-8B-Instruct-2509" and data["maxModelLen"] == 65536
    prices = [r["usdPerMillionOutputTokens"] for r in rows]
    assert prices == sorted(prices)
    current = [r for r in rows if r["current"]]
    assert len(current) == 1
    assert (current[0]["host"], current[0]["gpu"]) == ("containerapp", "Consumption-GPU-NC24-A100")
    assert {r["host"] for r in rows} == {"containerapp", "vm", "aks"}
    # the combinations the issue names: bf16 weights with an FP8 KV cache, on a GPU that runs it
    both = [r for r in rows if r["quantization"] == "none" and r["kvCacheDtype"] == "fp8"]
    assert both and all(GPUS[r["gpu"]].fp8_kv_cache for r in both)
    # FP8 KV needs compute capability 8.9: never offered on an A100 (vllm-project/vllm#26431)
    assert not [r for r in rows if "A100" in r["gpu"] and r["kvCacheDtype"] == "fp8"]
    for row in rows:
        assert row["maxModelLen"] == 65536 and row["kvCacheTokens"] >= 65536
        assert row["runningUsdPerHour"] > 0 and row["outputTokensPerSecond"] > 0
        assert row["coldStartSeconds"] > 0 and row["idleUsdPerMonth"] >= 0
        # $/Mtok is the running hour over the tokens it serves
        assert row["usdPerMillionOutputTokens"] == pytest.approx(
            row["runningUsdPerHour"] / (row["outputTokensPerSecond"] * 3600) * 1e6, rel=0.01
        )


def test_the_idle_month_is_what_bills_with_no_gpu_running():
    rows = compared("dev")["rows"]
    serverless = next(r for r in rows if r["gpu"] == "Consumption-GPU-NC24-A100")
    vm = next(r for r in rows if r["host"] == "vm" and r["gpu"] == "Standard_NC24ads_A100_v4")
    aks = next(r for r in rows if r["host"] == "aks" and r["gpu"] == "Standard_NC24ads_A100_v4")
    assert serverless["idleUsdPerMonth"] < serverless["runningUsdPerHour"] * 730 / 10
    assert vm["idleUsdPerMonth"] < aks["idleUsdPerMonth"]  # AKS keeps its system pool running


def test_70b_needs_big_gpus_and_tensor_parallelism():
    rows = compared("vm-70b")["rows"]
    assert rows and not [r for r in rows if "T4" in r["gpuHardware"]]
    assert [r for r in rows if r["current"]] == [r for r in rows if r["current"]][:1]
    assert all(r["tensorParallelSize"] >= 2 or r["quantization"] == "fp8" for r in rows)


def test_the_command_prints_one_table_and_json(capsys):
    # through the CLI's argument parsing, in this process (a subprocess would import Pulumi again)
    assert plan_cli.main(["plan", "--compare", "--stack", "dev"]) == 0
    text = capsys.readouterr().out
    marked = [line for line in text.splitlines() if line.startswith("  * ")]
    assert len(marked) == 1 and "Consumption-GPU-NC24-A100" in marked[0]
    assert "$/Mtok" in text and "python -m stacks bench" in text
    assert plan_cli.main(["plan", "--compare", "--stack", "dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == compared("dev")["rows"]
    assert plan_cli.main(["plan", "--compare", "--stack", "nosuchstack", "--json"]) == 2
    assert "error" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("stack", ["dev", "vm-70b"])
def test_the_cold_start_is_given_per_host_not_as_a_column(stack):
    """Within a host the estimate moves by seconds between GPUs (the PCIe copy, TP workers): a column
    would repeat one figure per host as if the GPU decided it. The legend gives it once per host, as
    the plan rounds it. Should the GPU come to matter by minutes, this fails: then make it a column."""
    data = compared(stack)
    first: dict[str, list[int]] = {}
    for row in data["rows"]:
        first.setdefault(row["host"], []).append(row["coldStartSeconds"])
    assert all(max(values) - min(values) < 60 for values in first.values()), first
    lines = compare.render(data).splitlines()
    assert "cold" not in lines[2] and "min" not in " ".join(lines[3:3 + len(data["rows"])])
    [legend] = [line for line in lines if line.startswith("  cold start, first: ")]
    hosts = ", ".join(f"{host} ~{max(first[host]) / 60:.0f} min" for host in ("containerapp", "vm", "aks")
                      if host in first)
    assert legend.startswith(f"  cold start, first: {hosts}. Per host, not a column") and "off by half" in legend
    plan = plan_stack(stack, ROOT)["plan"]  # the same figure as the plan's own cold-start line
    assert f"{plan['host']} ~{plan['coldStart']['firstSeconds'] / 60:.0f} min" in legend


@pytest.mark.parametrize("value", [0, -3, 2.5, "many", True])
def test_expected_load_must_be_a_whole_positive_number(value):
    class Reader:
        def raw(self, key):
            assert key == "expectedRequestsPerMinute"
            return value

    with pytest.raises(ConfigError) as error:
        compare.read_expected_load(Reader())
    assert "expectedRequestsPerMinute" in str(error.value) and "at least 1" in str(error.value)


def test_the_plan_prices_tokens_at_the_expected_load(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.load.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        "  apertus-azure:expectedRequestsPerMinute: 30\n"
    )
    plan = plan_stack("load", tmp_path)["plan"]
    t = plan["throughput"]
    assert t["expectedRequestsPerMinute"] == 30
    assert t["expectedOutputTokensPerSecond"] == pytest.approx(30 / 60 * 256)
    assert t["replicasForExpectedLoad"] == 1
    # a mostly idle replica: each token costs more than at saturation
    assert t["usdPerMillionOutputTokensExpected"] > t["usdPerMillionOutputTokensSaturated"]
    assert t["deploymentHourlyUsd"] >= plan["hourlyCostUsd"]
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  azure-native:location: swedencentral\n  apertus-azure:host: vm\n"
        "  apertus-azure:expectedRequestsPerMinute: 0\n"
    )
    with pytest.raises(ConfigError, match="expectedRequestsPerMinute"):
        plan_stack("bad", tmp_path)


def test_the_dev_plan_has_throughput_without_an_expected_load():
    t = plan_stack("dev", ROOT)["plan"]["throughput"]
    assert t["expectedRequestsPerMinute"] is None and t["usdPerMillionOutputTokensExpected"] is None
    row = next(r for r in compared("dev")["rows"] if r["current"])
    assert t["outputTokensPerSecondSaturated"] == pytest.approx(row["outputTokensPerSecond"], rel=0.001)
