"""The whole cost: every line with a source and a date, per host; spot, idle and always-on costs."""

from __future__ import annotations

import json
import re

import pytest

from components.serving import DEFAULT_IMAGE, GPUS, MODELS, plan_serving, quota_request
from components.serving import pricing
from components.serving.pricing import (
    DUTY_HOURS_PER_MONTH,
    HOURS_PER_MONTH,
    on_demand_price,
    snapshot_price,
    spot_price,
    whole_cost,
)
from stacks import plan as plan_command
from stacks.common import plan_stack

KINDS = {"snapshot", "list", "estimate"}


def plan(host="vm", model="apertus-8b-instruct", **kwargs):
    return plan_serving(host=host, model=MODELS[model], image=DEFAULT_IMAGE,
                        network_cache=host != "vm", **kwargs)


def items(costs) -> str:
    return " | ".join(line.item for line in costs.lines)


@pytest.mark.parametrize("host", ["containerapp", "vm", "aks"])
@pytest.mark.parametrize("spot", [False, True])
def test_every_line_says_where_its_price_came_from_and_when(host, spot):
    costs = whole_cost(plan(host), region="swedencentral", spot=spot and host != "containerapp")
    for line in costs.lines:
        assert line.source and line.kind in KINDS, line
        assert re.search(r"20\d\d-\d\d", line.as_of), line  # a date: snapshot day or when it was read
        if line.kind == "estimate":
            assert "estimate" in line.source
    assert costs.lines[0].item.startswith("GPU ") and not costs.lines[0].always


def test_spot_is_cheaper_and_cited_where_a_dated_spot_price_exists():
    p = plan("vm")
    on_demand = whole_cost(p, region="eastus")
    spot = whole_cost(p, region="eastus", spot=True)
    assert spot.gpu_usd_per_hour < on_demand.gpu_usd_per_hour
    assert spot.lines[0].kind == "snapshot" and "Spot" in spot.lines[0].source
    assert spot.monthly_24x7_usd < on_demand.monthly_24x7_usd
    # a size without a dated spot figure: an estimate from the ratio, and it says so
    h100 = spot_price(GPUS["Standard_NC80adis_H100_v5"], "swedencentral")
    assert h100.kind == "estimate" and h100.usd < on_demand_price(GPUS["Standard_NC80adis_H100_v5"],
                                                                  "swedencentral").usd


def test_region_prices_come_from_the_dated_snapshot():
    sweden = snapshot_price("Standard_NC24ads_A100_v4", "swedencentral")
    assert sweden.usd == 4.775 and sweden.as_of == "2026-06-18" and "swedencentral" in sweden.source
    a100 = GPUS["Standard_NC24ads_A100_v4"]
    assert snapshot_price(a100.name, "eastus").usd == a100.price_usd_hour
    fallback = snapshot_price("Standard_NC24ads_A100_v4", "nowhere")
    assert fallback.usd == 3.673 and "no nowhere price" in fallback.source
    # the snapshot agrees with the catalog's East US list prices wherever both have one
    for sku in GPUS.values():
        if "vm" in sku.hosts and sku.price_usd_hour is not None:
            assert snapshot_price(sku.name, "eastus").usd == sku.price_usd_hour, sku.name


def test_container_apps_bills_nothing_for_the_gpu_at_zero_replicas_but_bills_storage_and_ip():
    costs = whole_cost(plan("containerapp"), region="swedencentral", min_machines=0)
    always = [line for line in costs.lines if line.always]
    assert not any(line.item.startswith("GPU") for line in always)
    assert "model cache" in items(costs) and "public IP" in items(costs) and "Log Analytics" in items(costs)
    assert costs.fixed_usd_per_month == pytest.approx(sum(line.usd_per_month for line in always))
    assert costs.fixed_usd_per_month > 0
    # at the duty cycle the GPU runs 176 h; 24/7 it runs 730 h
    gpu = costs.gpu_usd_per_hour
    assert costs.monthly_duty_usd == pytest.approx(costs.fixed_usd_per_month + gpu * DUTY_HOURS_PER_MONTH)
    assert costs.monthly_24x7_usd == pytest.approx(costs.fixed_usd_per_month + gpu * HOURS_PER_MONTH)
    assert costs.lines[0].kind == "estimate"  # no published Container Apps GPU rate in our sources


def test_container_apps_with_a_warm_replica_pays_the_gpu_all_month():
    costs = whole_cost(plan("containerapp"), min_machines=1)
    assert costs.monthly_duty_usd == pytest.approx(costs.monthly_24x7_usd)


def test_aks_includes_the_system_pool_load_balancer_and_public_ips():
    costs = whole_cost(plan("aks"), region="swedencentral", min_machines=1)
    text = items(costs)
    assert "system pool: 2 x Standard_D4ds_v5" in text and "load balancer" in text
    assert "2 public IP(s)" in text and "model cache" in text
    system = next(line for line in costs.lines if line.item.startswith("system pool"))
    assert system.usd_per_hour == pytest.approx(2 * snapshot_price("Standard_D4ds_v5", "swedencentral").usd)
    internal = whole_cost(plan("aks"), internal=True)
    assert "1 public IP(s)" in items(internal)
    # the GPU node that always runs is in both totals; the fixed part is far more than nothing
    assert costs.monthly_24x7_usd == pytest.approx(costs.fixed_usd_per_month
                                                   + costs.gpu_usd_per_hour * HOURS_PER_MONTH)
    assert costs.fixed_usd_per_month > 2 * 0.29 * HOURS_PER_MONTH


def test_vm_bills_disks_and_ip_when_deallocated_and_nat_when_internal():
    costs = whole_cost(plan("vm"), auto_shutdown=True)
    text = items(costs)
    assert "OS disk" in text and "Premium SSD P6" in text and "public IP" in text
    assert costs.monthly_duty_usd == pytest.approx(costs.fixed_usd_per_month
                                                   + costs.gpu_usd_per_hour * DUTY_HOURS_PER_MONTH)
    assert "autoShutdown" in " ".join(costs.notes)
    assert "NAT gateway" in items(whole_cost(plan("vm"), internal=True))


def test_a_grown_cache_costs_what_the_sizing_says():
    p = plan("containerapp")
    line = next(line for line in whole_cost(p).lines if line.item.startswith("model cache"))
    per_gib = pricing.PRICES["premium_files_gib"].usd
    assert line.usd_per_month == pytest.approx(p.cold_start.cache.size_gib * per_gib)


def test_spot_quota_names_the_low_priority_family():
    p = plan("vm")
    assert quota_request(p, 1, spot=True).low_priority_cores == GPUS["Standard_NC24ads_A100_v4"].vcpus
    assert quota_request(p, 1).low_priority_cores == 0


def test_plan_json_carries_cold_start_and_costs():
    data = plan_stack("dev")
    json.dumps(data)  # serialisable
    p = data["plan"]
    cold = p["coldStart"]
    assert {"firstSeconds", "warmSeconds", "parts", "startupWindowSeconds"} <= set(cold)
    assert cold["warmSeconds"] < cold["firstSeconds"]
    assert p["startupWindowSeconds"] == cold["startupWindowSeconds"]
    assert all({"name", "firstSeconds", "warmSeconds", "assumption"} <= set(part) for part in cold["parts"])
    costs = p["costs"]
    assert {"lines", "fixedUsdPerMonth", "monthlyAtDutyCycleUsd", "monthly24x7Usd", "dutyCycle"} <= set(costs)
    assert all(line["source"] and line["asOf"] for line in costs["lines"])
    # one running replica's GPU machine, at the stack region's price: the GPU cost line's figure
    gpu_line = next(line for line in costs["lines"] if line["item"].startswith("GPU "))
    assert p["hourlyCostUsd"] == gpu_line["usdPerHour"] == 4.775  # swedencentral, not East US's 3.673
    text = plan_command.render_detail("dev", data)
    assert "cold start    first ~" in text and "always billed:" in text and "24/7:" in text
