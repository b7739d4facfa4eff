"""Cold start: the time from `pulumi up` finishing (or a scale-from-zero request) to a ready endpoint.

An estimate, as a sum of named parts, each with its assumption and source, for the first start
(nothing cached: image pull, weight download, compilation) and a warm start (weights and the
torch.compile cache on the persistent model-cache volume, ``VLLM_CACHE_ROOT`` included). The model
cache is sized here too: a larger premium file share or disk tier reads faster, and is chosen when
that meets the warm-load target for little money. Plain Python: no Pulumi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ConfigError
from .pricing import PREMIUM_SSD_MONTHLY, PREMIUM_SSD_SOURCE, PRICES, Price

# ---- the vLLM image (vllm/vllm-openai) ----
# Compressed (pulled) size: "docker pull vllm/vllm-openai:latest -- the image is around 12 GB"
# (vllm-project/vllm#27154, Oct 2025); unpacked: 28.6 GB for vllm-openai:latest (vllm-project/vllm#22377,
# Dec 2025). v0.33.0 itself was not measured here: both are estimates for it.
IMAGE_COMPRESSED_BYTES = 12e9
IMAGE_UNPACKED_BYTES = 28.6e9
# Assumptions, not measurements: Docker Hub to an Azure region with parallel layer downloads, and
# layer decompression + writes on a premium disk
REGISTRY_BYTES_PER_SECOND = 150e6
EXTRACT_BYTES_PER_SECOND = 300e6
# First weight download from Hugging Face with hf_xet (HF_XET_HIGH_PERFORMANCE=1): assumed rate
HF_BYTES_PER_SECOND = 100e6

# Host to GPU copy, per GPU (TP ranks copy in parallel): PCIe x16 effective rates, assumed ~80% of
# the link (Gen3 16, Gen4 32, Gen5 64 GB/s per direction, PCI-SIG); the hosts' GPUs: T4 Gen3, A100
# Gen4, H100 NVL / H100 / H200 Gen5 (NVIDIA data sheets)
PCIE_BYTES_PER_SECOND = {"T4": 12e9, "A100": 25e9, "H100 NVL": 50e9, "H100": 50e9, "H200": 50e9}

# vLLM's own start (estimates from maintainers' and users' logs, shared/reference/apertus-and-vllm.md):
# torch.compile ~20-70 s, skipped with a warm compile cache in VLLM_CACHE_ROOT
# (vllm docs/design/torch_compile.md), which still costs a few seconds to load; CUDA-graph capture
# ~10-60 s every start; process start, imports, tokenizer, profiling run, KV-cache allocation.
COMPILE_SECONDS, COMPILE_CACHED_SECONDS = 60, 10
CUDA_GRAPH_SECONDS = 30
ENGINE_INIT_SECONDS = 30
# TP > 1: worker processes and NCCL initialisation (estimate). vLLM's P2P check is skipped by default
# (VLLM_SKIP_P2P_CHECK) and its result is cached in VLLM_CACHE_ROOT anyway, so it is not counted.
TP_INIT_SECONDS = 15

# Host start-up (estimates): a serverless GPU replica being placed; a pod on an existing GPU node;
# a VM booting; the VM's first-boot setup (components/cloudinit.py: apt, the Canonical-signed
# 580-server driver, Docker, the NVIDIA container toolkit; earlier estimates put the whole setup at
# 10-15 min including the image pull counted separately here) and the one reboot that loads the driver.
ACA_REPLICA_SECONDS = 60
ACA_REQUEST_TIMEOUT_SECONDS = 240  # Container Apps ingress request timeout (ingress overview)
AKS_POD_SECONDS = 10
VM_BOOT_SECONDS = 90
VM_SETUP_SECONDS = 420
VM_REBOOT_SECONDS = 90

# The probe window and the smoke command's default timeout: the first-start estimate times this.
# Rates above can be off by half; a window too short restarts a server that was still loading.
SAFETY_FACTOR = 1.5

# ---- the model cache ----
# Premium SSD v1 tiers: billed as the smallest tier that holds the disk, so the disk takes the whole
# tier. Sizes and throughput from Microsoft Learn "Azure managed disk types"; P1-P20 burst to 170 MB/s
# for up to 30 minutes on credits, and a new disk starts with full credits ("Managed disk bursting").
@dataclass(frozen=True)
class PremiumSsdTier:
    name: str
    size_gib: int
    mb_per_second: int

    @property
    def bursts(self) -> bool:
        return self.size_gib <= 512


PREMIUM_SSD_TIERS = [PremiumSsdTier(*tier) for tier in [
    ("P4", 32, 25), ("P6", 64, 50), ("P10", 128, 100), ("P15", 256, 125), ("P20", 512, 150),
    ("P30", 1024, 200), ("P40", 2048, 250), ("P50", 4096, 250)]]
BURST_BYTES_PER_SECOND, BURST_SECONDS = 170e6, 30 * 60

# Azure Files SSD (premium), provisioned v1: at least 100 GiB; throughput (ingress + egress) in MiB/s
# = 100 + CEILING(0.04 x GiB) + CEILING(0.06 x GiB) (Microsoft Learn "Understand Azure Files billing",
# provisioned v1, and "Azure Files scalability and performance targets"); at most 100 TiB per share.
PREMIUM_FILES_MIN_GIB = 100
PREMIUM_FILES_MAX_GIB = 102_400

# Sizing: grow the cache until the warm load takes at most this long, if that costs at most this
# share of one GPU machine's month at its list price. Otherwise keep the smallest and say what it would take.
WARM_LOAD_TARGET_SECONDS = 120
CACHE_BUDGET_FRACTION = 0.05


def cache_needed_gib(weight_bytes: float) -> int:
    """Room for the weights (25% spare for a revision) and the compile cache."""
    return math.ceil(weight_bytes * 1.25 / 2**30) + 16


def premium_files_mib_per_second(size_gib: int) -> int:
    return 100 + math.ceil(0.04 * size_gib) + math.ceil(0.06 * size_gib)


def data_disk_tier(cache_size_gib: int) -> PremiumSsdTier:
    for tier in PREMIUM_SSD_TIERS:
        if tier.size_gib >= cache_size_gib:
            return tier
    raise ConfigError("model", f"{cache_size_gib} GiB cache", "is larger than the largest Premium "
                      f"SSD tier this host uses ({PREMIUM_SSD_TIERS[-1].size_gib} GiB)",
                      "use a smaller model")


def disk_seconds(tier: PremiumSsdTier, size_bytes: float) -> float:
    """Time to move ``size_bytes`` through a Premium SSD, with its credit burst where it has one."""
    burst = tier.bursts and size_bytes / BURST_BYTES_PER_SECOND <= BURST_SECONDS
    return size_bytes / (BURST_BYTES_PER_SECOND if burst else tier.mb_per_second * 1e6)


@dataclass(frozen=True)
class CacheVolume:
    """The persistent model cache as the host provisions it, with its speed and its monthly price."""

    kind: str  # premium-files-nfs | premium-files-smb | premium-ssd
    size_gib: int
    tier: str | None  # the Premium SSD tier, for disks
    monthly_usd: float
    price: Price
    sizing: str  # why this size

    @property
    def description(self) -> str:
        if self.kind == "premium-ssd":
            return f"Premium SSD {self.tier} ({self.size_gib} GiB)"
        protocol = "NFS" if self.kind.endswith("nfs") else "SMB"
        return (f"premium Azure Files {protocol} share, {self.size_gib} GiB "
                f"({premium_files_mib_per_second(self.size_gib)} MiB/s)")

    def seconds_for(self, size_bytes: float) -> float:
        if self.kind == "premium-ssd":
            return disk_seconds(next(t for t in PREMIUM_SSD_TIERS if t.name == self.tier), size_bytes)
        return size_bytes / (premium_files_mib_per_second(self.size_gib) * 2**20)

    def to_json(self) -> dict:
        return {"kind": self.kind, "sizeGib": self.size_gib, "tier": self.tier,
                "monthlyUsd": round(self.monthly_usd, 2), "sizing": self.sizing}


CACHE_KIND = {"containerapp": "premium-files-nfs", "aks": "premium-files-smb", "vm": "premium-ssd"}


def _files_volume(kind: str, size_gib: int, sizing: str) -> CacheVolume:
    price = PRICES["premium_files_gib"]
    return CacheVolume(kind, size_gib, None, size_gib * price.usd, price, sizing)


def _disk_volume(tier: PremiumSsdTier, sizing: str) -> CacheVolume:
    price = Price(PREMIUM_SSD_MONTHLY[tier.name], "month", PREMIUM_SSD_SOURCE, "read 2026-11", "list")
    return CacheVolume("premium-ssd", tier.size_gib, tier.name, price.usd, price, sizing)


def size_cache(host: str, weight_bytes: float, gpu_monthly_usd: float | None) -> CacheVolume:
    """The smallest cache that holds the model, grown when a faster one meets the target cheaply."""
    needed = cache_needed_gib(weight_bytes)
    budget = (gpu_monthly_usd or 0) * CACHE_BUDGET_FRACTION
    target = (f"warm-load target {WARM_LOAD_TARGET_SECONDS} s, budget {CACHE_BUDGET_FRACTION:.0%} of one GPU "
              f"machine's month (${budget:,.0f})")
    if host == "vm":
        smallest = data_disk_tier(needed)
        if disk_seconds(smallest, weight_bytes) <= WARM_LOAD_TARGET_SECONDS:
            return _disk_volume(smallest, f"smallest tier holding {needed} GiB; meets the {target}")
        for tier in PREMIUM_SSD_TIERS:
            extra = PREMIUM_SSD_MONTHLY[tier.name] - PREMIUM_SSD_MONTHLY[smallest.name]
            if (tier.size_gib >= smallest.size_gib and extra <= budget
                    and disk_seconds(tier, weight_bytes) <= WARM_LOAD_TARGET_SECONDS):
                return _disk_volume(tier, f"grown from {smallest.name} to meet the {target}: "
                                          f"+${extra:,.2f}/month")
        return _disk_volume(smallest, f"smallest tier holding {needed} GiB; the {target} is out of reach "
                                      "for Premium SSD v1 (at most 250 MB/s), so not grown")
    kind = CACHE_KIND[host]
    smallest = max(PREMIUM_FILES_MIN_GIB, needed)
    want_mib = weight_bytes / WARM_LOAD_TARGET_SECONDS / 2**20
    size = smallest
    while premium_files_mib_per_second(size) < want_mib and size < PREMIUM_FILES_MAX_GIB:
        size = min(PREMIUM_FILES_MAX_GIB, max(size + 1, math.ceil((want_mib - 100) / 0.1)))
    extra = (size - smallest) * PRICES["premium_files_gib"].usd
    if size == smallest:
        return _files_volume(kind, size, f"smallest share holding {needed} GiB (minimum "
                                         f"{PREMIUM_FILES_MIN_GIB}); meets the {target}")
    if premium_files_mib_per_second(size) >= want_mib and extra <= budget:
        return _files_volume(kind, size, f"grown from {smallest} GiB for throughput to meet the {target}: "
                                         f"+${extra:,.2f}/month")
    return _files_volume(kind, smallest, f"smallest share holding {needed} GiB; meeting the {target} would "
                                         f"take a {size:,} GiB share (+${extra:,.0f}/month), so not grown")


@dataclass(frozen=True)
class ColdStartPart:
    name: str
    first_seconds: float
    warm_seconds: float
    assumption: str

    def to_json(self) -> dict:
        return {"name": self.name, "firstSeconds": round(self.first_seconds),
                "warmSeconds": round(self.warm_seconds), "assumption": self.assumption}


@dataclass(frozen=True)
class ColdStart:
    host: str
    parts: tuple[ColdStartPart, ...]
    cache: CacheVolume
    warm_means: str  # what a warm start is on this host
    notes: tuple[str, ...] = field(default=())

    @property
    def first_seconds(self) -> int:
        return math.ceil(sum(part.first_seconds for part in self.parts))

    @property
    def warm_seconds(self) -> int:
        return math.ceil(sum(part.warm_seconds for part in self.parts))

    @property
    def startup_window_seconds(self) -> int:
        """The readiness budget: the first-start estimate with the safety factor."""
        return math.ceil(self.first_seconds * SAFETY_FACTOR)

    def to_json(self) -> dict:
        return {"firstSeconds": self.first_seconds, "warmSeconds": self.warm_seconds,
                "startupWindowSeconds": self.startup_window_seconds, "safetyFactor": SAFETY_FACTOR,
                "warmMeans": self.warm_means, "parts": [part.to_json() for part in self.parts],
                "cache": self.cache.to_json(), "notes": list(self.notes)}


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def estimate_cold_start(*, host: str, weight_bytes: float, gpu_model: str, tensor_parallel_size: int,
                        gpu_monthly_usd: float | None, compile_cache: bool = True,
                        cache: CacheVolume | None = None) -> ColdStart:
    """First and warm start of one replica, part by part. ``compile_cache``: VLLM_CACHE_ROOT persists."""
    cache = cache or size_cache(host, weight_bytes, gpu_monthly_usd)
    parts: list[ColdStartPart] = []
    if host == "vm":
        parts += [
            ColdStartPart("VM boot", VM_BOOT_SECONDS, VM_BOOT_SECONDS,
                          "estimate; warm: start after deallocation"),
            ColdStartPart("first-boot setup: apt, NVIDIA driver, Docker, container toolkit",
                          VM_SETUP_SECONDS, 0, "estimate (components/cloudinit.py setup; once per VM)"),
            ColdStartPart("reboot so the NVIDIA driver loads", VM_REBOOT_SECONDS, 0, "estimate; once per VM"),
        ]
        warm_means = ("the VM started again after a deallocation (image on the OS disk, weights on the "
                      "data disk)")
    elif host == "containerapp":
        parts.append(ColdStartPart("serverless GPU replica placed", ACA_REPLICA_SECONDS, ACA_REPLICA_SECONDS,
                                   "estimate"))
        warm_means = "a scale from zero (weights and compile cache on the share; the image pulled again)"
    else:
        parts.append(ColdStartPart("pod scheduled on the GPU node", AKS_POD_SECONDS, AKS_POD_SECONDS,
                                   "estimate; a node the autoscaler adds first takes minutes to join"))
        warm_means = ("a pod restart on a node that has the image (weights and compile cache on the share); "
                      "a new node adds its provisioning and the image pull")
    pull = (IMAGE_COMPRESSED_BYTES / REGISTRY_BYTES_PER_SECOND
            + IMAGE_UNPACKED_BYTES / EXTRACT_BYTES_PER_SECOND)
    parts.append(ColdStartPart(
        "vLLM image pull", pull, pull if host == "containerapp" else 0,
        f"{_gb(IMAGE_COMPRESSED_BYTES)} compressed at {REGISTRY_BYTES_PER_SECOND / 1e6:g} MB/s, "
        f"{_gb(IMAGE_UNPACKED_BYTES)} unpacked at {EXTRACT_BYTES_PER_SECOND / 1e6:g} MB/s "
        "(sizes: vllm#27154, vllm#22377; rates assumed)"))
    download_rate = min(HF_BYTES_PER_SECOND, weight_bytes / cache.seconds_for(weight_bytes))
    parts.append(ColdStartPart(
        "weights downloaded from Hugging Face", weight_bytes / download_rate, 0,
        f"{_gb(weight_bytes)} at {download_rate / 1e6:.0f} MB/s (Hugging Face assumed "
        f"{HF_BYTES_PER_SECOND / 1e6:g} MB/s, bounded by the cache's write rate)"))
    read = cache.seconds_for(weight_bytes)
    parts.append(ColdStartPart(
        "weights read from the model cache", read, read,
        f"{_gb(weight_bytes)} from the {cache.description} at {weight_bytes / read / 1e6:.0f} MB/s"))
    pcie = PCIE_BYTES_PER_SECOND.get(gpu_model, min(PCIE_BYTES_PER_SECOND.values()))
    to_gpu = weight_bytes / tensor_parallel_size / pcie
    parts.append(ColdStartPart("weights copied to the GPUs", to_gpu, to_gpu,
                               f"{_gb(weight_bytes / tensor_parallel_size)} per GPU over PCIe at "
                               f"{pcie / 1e9:g} GB/s (assumed effective rate)"))
    if tensor_parallel_size > 1:
        parts.append(ColdStartPart(f"TP {tensor_parallel_size} workers and NCCL", TP_INIT_SECONDS,
                                   TP_INIT_SECONDS, "estimate"))
    parts += [
        ColdStartPart("engine start, profiling run, KV-cache allocation", ENGINE_INIT_SECONDS,
                      ENGINE_INIT_SECONDS, "estimate"),
        ColdStartPart("torch.compile", COMPILE_SECONDS,
                      COMPILE_CACHED_SECONDS if compile_cache else COMPILE_SECONDS,
                      "20-70 s cold; warm from the compile cache on the cache volume (VLLM_CACHE_ROOT)"
                      if compile_cache else "20-70 s; no persistent compile cache"),
        ColdStartPart("CUDA-graph capture", CUDA_GRAPH_SECONDS, CUDA_GRAPH_SECONDS, "10-60 s, every start"),
    ]
    cold = ColdStart(host, tuple(parts), cache, warm_means)
    if host == "containerapp" and cold.warm_seconds > ACA_REQUEST_TIMEOUT_SECONDS:
        cold = ColdStart(host, cold.parts, cache, warm_means, (
            f"a request that wakes the app from zero waits ~{cold.warm_seconds} s, longer than the ingress's "
            f"{ACA_REQUEST_TIMEOUT_SECONDS} s request timeout: poll /health first, or keep minReplicas 1",))
    return cold
