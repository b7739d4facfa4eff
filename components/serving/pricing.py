"""Prices, each with where it came from and when, and the whole monthly cost of a deployment.

Plain data and arithmetic: no Pulumi. A ``Price`` is one of three kinds, said on every cost line:
- ``snapshot``: a dated copy of the Azure Retail Prices API (prices.azure.com);
- ``list``: a figure from an Azure pricing page, not tied to a dated snapshot: check it;
- ``estimate``: no published number in our sources; the note says what it rests on.
All prices are USD, Linux, pay-as-you-go, East US unless the line says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

HOURS_PER_MONTH = 730  # Azure's pricing calculator convention
# Stated duty cycle for "monthly at duty": 8 hours a day on 22 workdays
DUTY_HOURS_PER_MONTH = 8 * 22
DUTY_CYCLE = "8 h/day on 22 workdays (176 h/month)"

RETAIL_SNAPSHOT = ("Azure Retail Prices API snapshot 2026-06-18 (Azure/karpenter-provider-azure "
                   "zz_generated.pricing.go), on-demand")
RETAIL_SNAPSHOT_DATE = "2026-06-18"
SPOT_SNAPSHOT = ("Azure Retail Prices API, 'NC24ads A100 v4 Spot' / 'NC96ads A100 v4 Spot' meters, eastus2, "
                 "as queried 2026-06 in a public cost workbook; spot prices move with demand")
SPOT_SNAPSHOT_DATE = "2026-06"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str  # "hour", "month", "GiB-month", "GB"
    source: str
    as_of: str
    kind: str  # snapshot | list | estimate


# Spot prices we have a dated figure for (eastus2, where the list price equals East US's 3.673/h).
# NCads A100 v4 prices scale with the GPU count (list 3.673 / 7.346 / 14.692; spot 4 x 0.948736 =
# 3.794944 in the same query), so the 2-GPU size is the same per-GPU figure doubled.
_SPOT_A100 = 0.948736
SPOT_PRICES: dict[str, Price] = {
    "Standard_NC24ads_A100_v4": Price(_SPOT_A100, "hour", SPOT_SNAPSHOT, SPOT_SNAPSHOT_DATE, "snapshot"),
    "Standard_NC48ads_A100_v4": Price(2 * _SPOT_A100, "hour", SPOT_SNAPSHOT + " (per-GPU price x 2)",
                                      SPOT_SNAPSHOT_DATE, "snapshot"),
    "Standard_NC96ads_A100_v4": Price(3.794944, "hour", SPOT_SNAPSHOT, SPOT_SNAPSHOT_DATE, "snapshot"),
}
# Other sizes: the list price times the NC A100 v4 spot/list ratio above (0.948736 / 3.673 = 0.258)
SPOT_RATIO = _SPOT_A100 / 3.673

# Everything besides the GPU machines. Sources beside each; "list" figures are the pricing pages' East
# US figures (listed with their sources in docs/cost.md), not re-read from a dated snapshot.
PRICES: dict[str, Price] = {
    # AKS system pool size (components/aks.py SYSTEM_VM_SIZE)
    "Standard_D4ds_v5": Price(0.226, "hour", RETAIL_SNAPSHOT, RETAIL_SNAPSHOT_DATE, "snapshot"),
    "public_ip": Price(0.005, "hour", "Azure IP addresses pricing page: Standard static public IPv4",
                       "read 2026-11", "list"),
    # Standard Load Balancer: first 5 rules per hour (Azure Load Balancer pricing page); data processed
    # ($0.005/GB) is left out
    "load_balancer": Price(0.025, "hour", "Azure Load Balancer pricing page: Standard, first 5 rules",
                           "read 2026-11", "list"),
    "nat_gateway": Price(0.045, "hour", "Azure NAT Gateway pricing page (plus $0.045/GB processed)",
                         "read 2026-11", "list"),
    # Azure Files premium (SSD, provisioned v1, LRS): billed on the provisioned size
    "premium_files_gib": Price(0.16, "GiB-month", "Azure Files pricing page: premium (SSD) provisioned v1, "
                               "LRS", "read 2026-11", "list"),
    # Azure Files standard (transaction optimized, LRS) for AKS's 1 GiB gateway share; transactions extra
    "standard_files_gib": Price(0.06, "GiB-month", "Azure Files pricing page: standard transaction "
                                "optimized, LRS (transactions extra)", "read 2026-11", "list"),
    "log_analytics_gb": Price(2.30, "GB", "estimate: Log Analytics Analytics Logs pay-as-you-go ingestion "
                              "as last published for East US; the first 5 GB a month per billing account "
                              "are free; check the Azure Monitor pricing page", "read 2026-11", "estimate"),
    # Container Apps dedicated plan management fee, per environment hour with a dedicated profile
    "aca_dedicated_management": Price(0.10, "hour", "estimate: Container Apps dedicated plan management "
                                      "fee as last published; check the Container Apps pricing page",
                                      "read 2026-11", "estimate"),
}
# Premium SSD v1 monthly prices per tier (Azure managed disks pricing page, East US LRS). P10, P20 and
# P30 are quoted in several public write-ups ($19.71, $73.22, $135.17); the others are list figures
# not re-checked.
PREMIUM_SSD_MONTHLY = {"P4": 5.28, "P6": 10.21, "P10": 19.71, "P15": 38.01, "P20": 73.22,
                       "P30": 135.17, "P40": 259.05, "P50": 495.57}
PREMIUM_SSD_SOURCE = "Azure managed disks pricing page: Premium SSD, LRS, East US"

# Log ingestion per month: estimates, not measurements. Container Apps: vLLM's console log and the
# system log of one app (~0.1 GB/day). AKS: Container Insights' default collection on a small cluster
# (~1 GB/day; Microsoft's Container Insights cost docs show it grows with pods and nodes).
LOG_GB_PER_MONTH = {"containerapp": 3.0, "aks": 30.0, "vm": 0.0}
LOG_FREE_GB_PER_MONTH = 5.0


@dataclass(frozen=True)
class CostLine:
    """One thing that bills: per hour while it runs, or per month regardless."""

    item: str
    usd_per_hour: float | None  # set for things billed by running time
    usd_per_month: float  # what it adds to the always-on month (0 for machines that may be off)
    source: str
    as_of: str
    kind: str
    always: bool  # bills even when no GPU runs

    def to_json(self) -> dict:
        return {"item": self.item, "usdPerHour": self.usd_per_hour,
                "usdPerMonth": round(self.usd_per_month, 2), "source": self.source,
                "asOf": self.as_of, "kind": self.kind, "always": self.always}


@dataclass(frozen=True)
class CostBreakdown:
    lines: tuple[CostLine, ...]
    gpu_usd_per_hour: float | None  # one running GPU machine/replica, at the price actually paid
    fixed_usd_per_month: float  # everything that bills with no GPU running
    monthly_duty_usd: float | None
    monthly_24x7_usd: float | None
    duty_cycle: str
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        money = (lambda v: None if v is None else round(v, 2))
        return {"lines": [line.to_json() for line in self.lines],
                "gpuUsdPerHour": self.gpu_usd_per_hour,
                "fixedUsdPerMonth": money(self.fixed_usd_per_month),
                "monthlyAtDutyCycleUsd": money(self.monthly_duty_usd),
                "monthly24x7Usd": money(self.monthly_24x7_usd),
                "dutyCycle": self.duty_cycle, "notes": list(self.notes)}


def spot_price(sku, region: str | None = None) -> Price | None:
    """The spot price of a VM size: a dated figure where we have one, else an estimate from the ratio."""
    where = (region or "eastus").replace(" ", "").lower()
    if sku.name in SPOT_PRICES and where in ("eastus", "eastus2"):
        return SPOT_PRICES[sku.name]
    if (list_price := on_demand_price(sku, region)) is None:
        return None
    return Price(round(list_price.usd * SPOT_RATIO, 4), "hour",
                 f"estimate: list price x {SPOT_RATIO:.3f}, the NC A100 v4 spot/list ratio of the "
                 f"{SPOT_SNAPSHOT_DATE} spot snapshot; spot prices differ per size, region and hour",
                 SPOT_SNAPSHOT_DATE, "estimate")


def _monthly(price: Price, amount: float = 1.0) -> float:
    return price.usd * amount * (HOURS_PER_MONTH if price.unit == "hour" else 1)


def _fixed(item: str, price: Price, amount: float = 1.0, note: str = "") -> CostLine:
    hourly = price.usd * amount if price.unit == "hour" else None
    return CostLine(item + note, hourly, _monthly(price, amount), price.source, price.as_of, price.kind, True)


# On-demand hourly prices per region of the sizes this project uses, from the dated snapshot above
# (data/retail_prices_2026-06-18.json, extracted from it; 57 regions). They match the catalog's East US
# list prices, and add ND96isr_H100_v5, which the catalog leaves unpriced.
SNAPSHOT_FILE = Path(__file__).parent / "data" / "retail_prices_2026-06-18.json"


@lru_cache(maxsize=1)
def _snapshot() -> dict[str, dict[str, float]]:
    return json.loads(SNAPSHOT_FILE.read_text())["pricesUsdPerHour"]


def snapshot_region(size: str, region: str | None) -> tuple[str, str | None]:
    """The region asked for (normalised) and the one whose snapshot price stands for the size there:
    that region, else East US, else None (not in the snapshot)."""
    regions = _snapshot()
    where = (region or "eastus").replace(" ", "").lower()
    if size in regions.get(where, {}):
        return where, where
    return where, "eastus" if size in regions["eastus"] else None


def snapshot_price(size: str, region: str | None) -> Price | None:
    """The snapshot's hourly price of a VM size in the region (East US when the region is not in it)."""
    where, priced = snapshot_region(size, region)
    if priced is None:
        return None
    note = where if priced == where else f"eastus: no {where} price in it"
    return Price(_snapshot()[priced][size], "hour", f"{RETAIL_SNAPSHOT} ({note})", RETAIL_SNAPSHOT_DATE,
                 "snapshot")


# Container Apps GPU profiles have no published per-second rate in our sources: each is priced as the
# VM size with the same GPUs (workload profile types name their size: "Consumption-GPU-NC24-A100" is
# the NC24ads A100 v4 machine, per "Workload profiles in Azure Container Apps"), in the same region
ACA_PROFILE_VM = {
    "Consumption-GPU-NC8as-T4": "Standard_NC8as_T4_v3",
    "Consumption-GPU-NC24-A100": "Standard_NC24ads_A100_v4",
    "NC24-A100": "Standard_NC24ads_A100_v4",
    "NC48-A100": "Standard_NC48ads_A100_v4",
    "NC96-A100": "Standard_NC96ads_A100_v4",
}


def priced_from_east_us(sku, region: str | None) -> bool:
    """Whether the snapshot has no price of this GPU machine in ``region`` and East US's stands in
    (the size, or a Container Apps profile's VM size, is in the snapshot, but not in that region)."""
    if not region:
        return False
    where, priced = snapshot_region(ACA_PROFILE_VM.get(sku.name, sku.name), region)
    return priced == "eastus" != where


def on_demand_price(sku, region: str | None = None) -> Price | None:
    """A GPU machine's on-demand price in the region: the dated snapshot for VM sizes; for a
    Container Apps profile, an estimate from the VM size with the same GPUs."""
    if "containerapp" in sku.hosts:
        vm = snapshot_price(ACA_PROFILE_VM[sku.name], region) if sku.name in ACA_PROFILE_VM else None
        if vm is None:
            return None
        return Price(vm.usd, "hour", f"estimate: no published Container Apps GPU rate in our sources; "
                     f"the price of {ACA_PROFILE_VM[sku.name]}, the same GPUs, from the {vm.source}",
                     vm.as_of, "estimate")
    if (price := snapshot_price(sku.name, region)) is not None:
        return price
    if sku.price_usd_hour is None:
        return None
    return Price(sku.price_usd_hour, "hour", sku.price_source, "read 2026-11", "list")


def _gpu_line(plan, spot: bool, count_text: str, region: str | None) -> tuple[CostLine, float | None]:
    sku = plan.gpu
    price = spot_price(sku, region) if spot else on_demand_price(sku, region)
    label = f"GPU {sku.name}{' (spot)' if spot else ''}, per running {count_text}"
    if price is None:
        return CostLine(label, None, 0.0, "no price in our sources", "", "estimate", False), None
    return CostLine(label, price.usd, 0.0, price.source, price.as_of, price.kind, False), price.usd


def _cache_line(plan) -> CostLine:
    cache = plan.cold_start.cache if plan.cold_start else None
    if cache is None:
        return CostLine("model cache", None, 0.0, "no cache sizing in this plan", "", "estimate", True)
    return CostLine(f"model cache: {cache.description}", None, cache.monthly_usd, cache.price.source,
                    cache.price.as_of, cache.price.kind, True)


def _logs_line(host: str) -> CostLine | None:
    gb = LOG_GB_PER_MONTH[host]
    if not gb:
        return None
    price = PRICES["log_analytics_gb"]
    billed = max(0.0, gb - LOG_FREE_GB_PER_MONTH)
    return CostLine(f"Log Analytics ingestion, ~{gb:g} GB/month assumed ({billed:g} GB above the free 5)",
                    None, billed * price.usd, price.source, price.as_of, "estimate", True)


def whole_cost(plan, *, region: str | None = None, spot: bool = False, min_machines: int = 1,
               internal: bool = False, auto_shutdown: bool = False) -> CostBreakdown:
    """Every line that bills for this plan's host, and monthly totals at the duty cycle and 24/7.

    ``min_machines``: GPU machines that run all the time (VM: 1; Container Apps: minReplicas; AKS: the
    GPU pools' minimum nodes). GPU time is per running machine; everything else bills regardless.
    """
    host = plan.host
    lines: list[CostLine] = []
    notes: list[str] = []
    if host == "vm":
        gpu, gpu_hourly = _gpu_line(plan, spot, "VM", region)
        lines.append(gpu)
        os_tier = "P10"  # components/vm.py OS_DISK_GIB = 128 is billed as a P10
        lines.append(CostLine(f"OS disk, Premium SSD {os_tier} (128 GiB)", None, PREMIUM_SSD_MONTHLY[os_tier],
                              PREMIUM_SSD_SOURCE, "read 2026-11", "list", True))
        lines.append(_cache_line(plan))
        if internal:
            lines.append(_fixed("NAT gateway (outbound for the private VM)", PRICES["nat_gateway"]))
            lines.append(_fixed("public IP of the NAT gateway", PRICES["public_ip"]))
        else:
            lines.append(_fixed("public IP (Standard, static)", PRICES["public_ip"]))
        # a VM bills while it runs; deallocated (az vm deallocate, autoShutdown, spot eviction) it does not
        duty_machines = 0
        notes.append("the VM bills per second while running; deallocated, only disks and IPs bill"
                     + ("; autoShutdown deallocates it daily (start it again with startCommand)"
                        if auto_shutdown else "; at the duty cycle it is deallocated outside working hours"))
    elif host == "containerapp":
        gpu, gpu_hourly = _gpu_line(plan, False, "replica", region)
        lines.append(gpu)
        lines.append(_cache_line(plan))
        if not plan.gpu.serverless:
            lines.append(_fixed("Container Apps dedicated plan management",
                                PRICES["aca_dedicated_management"]))
            notes.append("dedicated GPU profiles bill per node while nodes run; minReplicas keeps nodes up")
        else:
            notes.append("serverless GPU: billed per second while a replica runs, nothing for the GPU at "
                         "zero replicas")
        lines.append(_fixed("public IP of the environment's load balancer (ME_ resource group; may bill)",
                            PRICES["public_ip"]))
        duty_machines = min_machines
    else:  # aks
        gpu, gpu_hourly = _gpu_line(plan, spot, "GPU node", region)
        lines.append(gpu)
        # components/aks.py: SYSTEM_VM_SIZE x SYSTEM_NODES (2..3); the autoscaler keeps at least 2
        system = snapshot_price("Standard_D4ds_v5", region) or PRICES["Standard_D4ds_v5"]
        lines.append(_fixed("system pool: 2 x Standard_D4ds_v5 (autoscales to 3)", system, 2))
        lines.append(_fixed("Standard load balancer (AKS outbound + gateway service)",
                            PRICES["load_balancer"]))
        ips = 1 if internal else 2
        lines.append(_fixed(f"{ips} public IP(s): outbound" + ("" if internal else " + gateway"),
                            PRICES["public_ip"], ips))
        lines.append(_cache_line(plan))
        lines.append(_fixed("gateway certificate share, standard Azure Files 1 GiB",
                            PRICES["standard_files_gib"]))
        notes.append("AKS Free tier: no control-plane charge; node OS disks are ephemeral (no disk charge) "
                     "where the size's local disk holds them")
        duty_machines = min_machines
    if (logs := _logs_line(host)) is not None:
        lines.append(logs)
    fixed = sum(line.usd_per_month for line in lines if line.always)
    if gpu_hourly is None:
        return CostBreakdown(tuple(lines), None, fixed, None, None, DUTY_CYCLE, tuple(notes))
    # at the duty cycle: the machines that never stop run all month, else one runs the duty hours
    duty = fixed + gpu_hourly * (duty_machines * HOURS_PER_MONTH if duty_machines else DUTY_HOURS_PER_MONTH)
    full = fixed + gpu_hourly * max(min_machines, 1) * HOURS_PER_MONTH
    return CostBreakdown(tuple(lines), gpu_hourly, fixed, duty, full, DUTY_CYCLE, tuple(notes))


def cache_monthly_usd(kind: str, size_gib: int, tier: str | None = None) -> float:
    if kind == "premium-ssd":
        return PREMIUM_SSD_MONTHLY[tier or ""]
    return size_gib * PRICES["premium_files_gib"].usd

