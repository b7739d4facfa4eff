"""GPU catalog: Azure VM sizes and Container Apps GPU workload profiles, as data.

Sources (shared/reference/azure-gpu.md, which cites them):
- sizes, vCPUs, RAM, GPUs, quota families: Microsoft Learn "Sizes for virtual machines in Azure"
  (NCasT4_v3, NC A100 v4, NCads H100 v5, ND A100 v4, NDm A100 v4, ND H100 v5, ND H200 v5),
  MicrosoftDocs/azure-compute-docs;
- Container Apps profiles: Microsoft Learn "Workload profiles in Azure Container Apps" and
  "Serverless GPUs in Azure Container Apps", MicrosoftDocs/azure-docs;
- prices: East US, Linux, pay-as-you-go list prices from a public price catalog (date of the
  copy unknown, read 2026-11); indicative only, regional prices differ.

Not listed: NVadsA10 v5 (A10). Those sizes are vGPU machines that need NVIDIA's GRID driver
(Azure/AgentBaker#7986; Azure's driver extension defaults them to GRID 550), which neither the
VM's datacenter driver nor the CUDA 13 vLLM image (driver >= 580) works with.

The memory plan works from the memory each GPU reports to PyTorch/vLLM (``DEVICE_MEMORY``, one
cited line per card, with its URL), not from the marketed GB: an "80 GB" A100 reports 79.25 GiB =
85.1e9 bytes, 6% more than 80e9.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import ConfigError

HOSTS = ("containerapp", "vm", "aks")

PRICE_SOURCE_VM = "East US Linux pay-as-you-go list price, public price catalog read 2026-11"
PRICE_SOURCE_ACA = ("estimate: Container Apps GPU seconds are not in our sources; the price of the "
                    "VM size with the same GPU (East US list price, read 2026-11) is used")

# Container Apps serverless GPU regions documented by Microsoft (serverless GPU docs, 2025);
# elsewhere the plan warns instead of refusing, since Microsoft adds regions over time.
_ACA_A100_REGIONS = frozenset({"westus", "westus3", "australiaeast", "swedencentral"})
_ACA_T4_REGIONS = frozenset({"westus3", "australiaeast", "swedencentral", "westeurope"})

GIB = 2**30


@dataclass(frozen=True)
class DeviceMemory:
    """Total memory one GPU reports (torch.cuda.mem_get_info, the total vLLM multiplies by
    gpu_memory_utilization), with the public line it is read from and where that line is."""

    total_bytes: int
    source: str  # the quoted line, with what it is
    url: str | None = None  # where it is published; None only where no public page was found


# (GPU model, marketed GB) -> what the device reports, read from PyTorch or vLLM (nvidia-smi's total
# is larger: it counts memory the driver keeps, e.g. 81920MiB on an A100 80GB).
DEVICE_MEMORY: dict[tuple[str, int], DeviceMemory] = {
    ("T4", 16): DeviceMemory(
        round(14.73 * GIB), "PyTorch OOM on a Tesla T4 (nvidia-smi in the same report: 15079MiB): "
        "'(GPU 0; 14.73 GiB total capacity; 11.05 GiB already allocated; ...)'",
        "https://github.com/XuelianCheng/LEAStereo/issues/14"),
    ("A100", 40): DeviceMemory(
        round(39.50 * GIB), "PyTorch OOM on one A100 (the 40GB card, by its total): 'GPU 0 has a "
        "total capacity of 39.50 GiB of which 25.24 GiB is free'",
        "https://github.com/TianheWu/CoSeR/issues/10"),
    ("A100", 80): DeviceMemory(
        round(79.25 * GIB), "PyTorch OOM on an A100 (the 80GB card, by its total): '(GPU 0; 79.25 "
        "GiB total capacity; 27.98 GiB already allocated; ...)'; vLLM logs found without a public "
        "page say 'total_gpu_memory (79.15GiB)', 0.1 GiB less",
        "https://github.com/levihsu/OOTDiffusion/issues/235"),
    ("H100", 80): DeviceMemory(
        round(79.18 * GIB), "vLLM 'Free memory on device: 78.57/79.18 GiB on startup' on an H100 80GB",
        "https://github.com/llm-d/llm-d-benchmark/blob/main/config_explorer/"
        "empirical-vllm-memory-results.md"),
    ("H100 NVL", 94): DeviceMemory(
        # the one public page found; unattributed logs say 93.09 GiB: the lower, cited figure is
        # the safe one (an optimistic plan is a vLLM that refuses to start)
        round(93.00 * GIB), "PyTorch OOM on an H100 NVL (RunPod): 'GPU 0 has a total capacity of "
        "93.00 GiB'", "https://github.com/ali-vilab/VACE/issues/56"),
    ("H200", 141): DeviceMemory(
        round(139.81 * GIB), "PyTorch OOM on an H200: 'GPU 0 has a total capacity of 139.81 GiB of "
        "which 24.12 MiB is free'", "https://github.com/sungwon-chae/arxiv_confi/blob/HEAD/etu_logging.md"),
}

@dataclass(frozen=True)
class GpuPerformance:
    """What one GPU can move and compute, from NVIDIA's datasheet (``source``): memory bandwidth,
    peak dense tensor TFLOPS (the datasheets print bf16/fp8 "with sparsity", twice the dense
    figure: the dense one is used), and the GPU-to-GPU link tensor parallelism all-reduces over."""

    memory_bandwidth_gbs: float  # GB/s (1e9 bytes)
    bf16_tflops: float  # dense; fp16 where the card has no bf16 (T4)
    fp8_tflops: float | None  # dense; None: no FP8 tensor cores (vLLM runs FP8 weights W8A16 there)
    link_gbs: float  # GB/s one way (per direction) between any two GPUs of one machine
    source: str
    # GB/s one way over an NVLink bridge joining GPUs in pairs (PCIe cards): tensor parallel 2 runs over
    # it; wider groups all-reduce across pairs over PCIe (``link_gbs``). None: no bridge.
    pair_link_gbs: float | None = None

    def link_for(self, tensor_parallel_size: int) -> float:
        """The slowest link a ring all-reduce of ``tensor_parallel_size`` GPUs crosses, one way."""
        if self.pair_link_gbs is not None and tensor_parallel_size <= 2:
            return self.pair_link_gbs
        return self.link_gbs


_A100_SHEET = ("NVIDIA A100 Tensor Core GPU datasheet: https://www.nvidia.com/content/dam/en-zz/Solutions/"
               "Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf")
_H100_SHEET = "NVIDIA H100 Tensor Core GPU datasheet: https://www.nvidia.com/en-us/data-center/h100/"
# Link figures are one way (per direction): the datasheets print both directions added (A100 NVLink
# "600 GB/s", PCIe Gen4 "64 GB/s"; H100 SXM NVLink "900 GB/s", H100 NVL bridge "600 GB/s"), and a ring
# all-reduce sends one way on every link while it receives on the other, so half the printed figure.
# NC A100 v4: Microsoft lists "NVIDIA NVLink Interconnect: Supported" (learn.microsoft.com/azure/
# virtual-machines/sizes/gpu-accelerated/nca100v4-series; MicrosoftDocs/azure-docs articles/
# virtual-machines/nc-a100-v4-series.md): its A100 PCIe cards are NVLink-bridged in pairs (the A100
# datasheet's "NVLink Bridge for 2 GPUs: 600 GB/s"), so the 4-GPU size is two pairs joined by PCIe.
_NC_A100_V4_SHEET = _A100_SHEET + ("; pairs: learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/"
                                   "nca100v4-series (NVIDIA NVLink Interconnect: Supported)")
# chip -> datasheet figures
GPU_PERFORMANCE: dict[str, GpuPerformance] = {
    # T4: 320 GB/s GDDR6, 65 TFLOPS mixed-precision (FP16) tensor, PCIe Gen3 x16 (32 GB/s), no bf16
    # (PCIe Gen3 x16: 32 GB/s both ways, 16 one way)
    "T4": GpuPerformance(320, 65, None, 16, "NVIDIA T4 datasheet: https://www.nvidia.com/content/dam/"
                         "en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf"),
    # A100: BF16 312 TFLOPS dense (624 with sparsity); 40GB SXM 1,555 GB/s, 80GB PCIe 1,935 GB/s,
    # 80GB SXM 2,039 GB/s; NVLink 600 GB/s (SXM; 300 one way), PCIe Gen4 64 GB/s (32 one way),
    # NVLink Bridge for 2 GPUs 600 GB/s (PCIe cards; 300 one way)
    "A100 SXM 40GB": GpuPerformance(1555, 312, None, 300, _A100_SHEET),
    "A100 SXM 80GB": GpuPerformance(2039, 312, None, 300, _A100_SHEET),
    "A100 PCIe 80GB": GpuPerformance(1935, 312, None, 32, _A100_SHEET),
    "A100 PCIe 80GB NVLink pairs": GpuPerformance(1935, 312, None, 32, _NC_A100_V4_SHEET, pair_link_gbs=300),
    # H100 SXM: 3.35 TB/s, BF16 1,979 / FP8 3,958 TFLOPS with sparsity, NVLink 900 GB/s (450 one way)
    "H100 SXM": GpuPerformance(3350, 989.5, 1979, 450, _H100_SHEET),
    # H100 NVL: 3.9 TB/s, BF16 1,671 / FP8 3,341 TFLOPS with sparsity, NVLink bridge 600 GB/s (300 one way)
    "H100 NVL": GpuPerformance(3900, 835.5, 1670.5, 300, _H100_SHEET),
    # H200 SXM: 4.8 TB/s, BF16 1,979 / FP8 3,958 TFLOPS with sparsity, NVLink 900 GB/s (450 one way)
    "H200": GpuPerformance(4800, 989.5, 1979, 450,
                           "NVIDIA H200 datasheet: https://www.nvidia.com/en-us/data-center/h200/"),
}
# Which chip each size carries (Microsoft Learn size docs: NC A100 v4 and the Container Apps A100
# profiles are A100 PCIe 80GB; ND A100 v4 is A100 SXM 40GB; NDm A100 v4 A100 SXM 80GB; NCads H100 v5
# H100 NVL; ND H100 v5 H100 SXM; ND H200 v5 H200)
_CHIP_BY_SKU = {"Standard_ND96asr_v4": "A100 SXM 40GB", "Standard_ND96amsr_A100_v4": "A100 SXM 80GB",
                "Standard_NC48ads_A100_v4": "A100 PCIe 80GB NVLink pairs",
                "Standard_NC96ads_A100_v4": "A100 PCIe 80GB NVLink pairs",
                "Standard_ND96isr_H100_v5": "H100 SXM"}
_CHIP_BY_MODEL = {"T4": "T4", "A100": "A100 PCIe 80GB", "H100 NVL": "H100 NVL", "H100": "H100 SXM",
                  "H200": "H200"}


def chip_of(sku_name: str, gpu_model: str) -> str:
    return _CHIP_BY_SKU.get(sku_name) or _CHIP_BY_MODEL[gpu_model]


# vLLM's default scheduler budget for `vllm serve` (vllm/engine/arg_utils.py, checked by
# tests/engine/test_arg_utils.py::test_defaults_with_usage_context): GPUs with >= 70 GiB that are
# not A100s get max_num_batched_tokens 8192 and max_num_seqs 1024, every other GPU 2048 and 256.
LARGE_GPU_BATCH, SMALL_GPU_BATCH = (8192, 1024), (2048, 256)

# Compute capability needed (vLLM 0.32 docs, features/quantization/fp8 "FP8 W8A8"): FP8 weights
# run natively (W8A8) from 8.9, and weight-only (W8A16, FP8 Marlin) from 7.5.
FP8_NATIVE_CC, FP8_MARLIN_CC = 8.9, 7.5
# FP8 KV cache: the Triton attention backend vLLM V1 falls back to on pre-Hopper GPUs fails with
# "type fp8e4nv not supported in this architecture" below 8.9 (vllm-project/vllm#26431, open,
# reported on RTX 3090 and A100); FlashAttention 3 needs Hopper.
FP8_KV_CC = 8.9


@dataclass(frozen=True)
class GpuSku:
    """A VM size or Container Apps workload profile with GPUs."""

    name: str
    hosts: frozenset[str]
    gpu_model: str
    gpu_count: int
    gpu_memory_gb: float
    compute_capability: float
    vcpus: int
    ram_gib: int
    quota_family: str
    price_usd_hour: float | None
    price_source: str
    # Container Apps: serverless profiles bill per second and scale to zero, dedicated per node
    serverless: bool = False
    # VMs: Trusted Launch (secure boot + vTPM) support, per the sizes' docs
    trusted_launch: bool = True
    documented_regions: frozenset[str] | None = None  # None: not tracked (use az vm list-skus)
    # Container Apps gives a replica one GPU at most (serverless GPU docs); None: all of them
    replica_gpu_limit: int | None = None

    @property
    def bf16(self) -> bool:
        return self.compute_capability >= 8.0  # bf16 needs Ampere (sm_80) or newer

    @property
    def device_memory(self) -> DeviceMemory:
        return DEVICE_MEMORY[(self.gpu_model, int(self.gpu_memory_gb))]

    @property
    def device_memory_bytes(self) -> int:
        """Memory one GPU reports; vLLM's gpu_memory_utilization is a share of this."""
        return self.device_memory.total_bytes

    @property
    def vllm_default_batch(self) -> tuple[int, int]:
        """(max_num_batched_tokens, max_num_seqs) vLLM picks for this GPU when neither is set."""
        large = self.device_memory_bytes >= 70 * GIB and self.gpu_model != "A100"
        return LARGE_GPU_BATCH if large else SMALL_GPU_BATCH

    @property
    def fp8_weights(self) -> str | None:
        """How vLLM runs FP8 weights here: 'native' (W8A8), 'weight-only' (Marlin) or None."""
        if self.compute_capability >= FP8_NATIVE_CC:
            return "native"
        return "weight-only" if self.compute_capability >= FP8_MARLIN_CC else None

    @property
    def fp8_kv_cache(self) -> bool:
        return self.compute_capability >= FP8_KV_CC

    @property
    def performance(self) -> GpuPerformance:
        """Bandwidth, TFLOPS and GPU link of this size's GPU (GPU_PERFORMANCE, datasheet-cited)."""
        return GPU_PERFORMANCE[chip_of(self.name, self.gpu_model)]

    @property
    def gpus_per_replica(self) -> int:
        return min(self.gpu_count, self.replica_gpu_limit or self.gpu_count)

    @property
    def total_gpu_memory_gb(self) -> float:
        return self.gpu_count * self.gpu_memory_gb


def _vm(name, gpu_model, count, mem, cc, vcpus, ram, family, price, trusted_launch=True):
    return GpuSku(name, frozenset({"vm", "aks"}), gpu_model, count, mem, cc, vcpus, ram, family,
                  price, PRICE_SOURCE_VM if price is not None else "no list price in our sources",
                  trusted_launch=trusted_launch)


def _aca(name, gpu_model, count, mem, cc, vcpus, ram, family, price, serverless, regions=None):
    return GpuSku(name, frozenset({"containerapp"}), gpu_model, count, mem, cc, vcpus, ram, family,
                  price, PRICE_SOURCE_ACA, serverless=serverless, documented_regions=regions,
                  replica_gpu_limit=1)


GPUS: dict[str, GpuSku] = {sku.name: sku for sku in [
    # VM sizes (vm and aks)                GPU         n  GB   cc   vCPU RAM  quota family                  $/h
    _vm("Standard_NC4as_T4_v3",            "T4",       1, 16,  7.5,   4,  28, "StandardNCASv3_T4Family",    0.526),
    _vm("Standard_NC8as_T4_v3",            "T4",       1, 16,  7.5,   8,  56, "StandardNCASv3_T4Family",    0.752),
    _vm("Standard_NC16as_T4_v3",           "T4",       1, 16,  7.5,  16, 110, "StandardNCASv3_T4Family",    1.204),
    _vm("Standard_NC64as_T4_v3",           "T4",       4, 16,  7.5,  64, 440, "StandardNCASv3_T4Family",    4.352),
    _vm("Standard_NC24ads_A100_v4",        "A100",     1, 80,  8.0,  24, 220, "StandardNCADSA100v4Family",  3.673),
    _vm("Standard_NC48ads_A100_v4",        "A100",     2, 80,  8.0,  48, 440, "StandardNCADSA100v4Family",  7.346),
    _vm("Standard_NC96ads_A100_v4",        "A100",     4, 80,  8.0,  96, 880, "StandardNCADSA100v4Family", 14.692),
    _vm("Standard_NC40ads_H100_v5",        "H100 NVL", 1, 94,  9.0,  40, 320, "StandardNCadsH100v5Family",  6.98),
    _vm("Standard_NC80adis_H100_v5",       "H100 NVL", 2, 94,  9.0,  80, 640, "StandardNCadsH100v5Family", 13.96),
    # Trusted Launch is not supported on NDasrA100_v4 and NDm_A100_v4 (Trusted Launch docs)
    _vm("Standard_ND96asr_v4",             "A100",     8, 40,  8.0,  96, 900, "StandardNDASv4_A100Family", 27.197, trusted_launch=False),
    _vm("Standard_ND96amsr_A100_v4",       "A100",     8, 80,  8.0,  96, 1900, "standardNDAMSv4_A100Family", 32.77, trusted_launch=False),
    _vm("Standard_ND96isr_H100_v5",        "H100",     8, 80,  9.0,  96, 1900, "standardNDSH100v5Family",   None),
    _vm("Standard_ND96isr_H200_v5",        "H200",     8, 141, 9.0,  96, 1850, "standardNDSH200v5Family",   None),
    # Container Apps workload profile types (containerapp); one GPU per serverless replica. Their quota
    # is GPUs per region, by these usage names (Microsoft Learn "Request quota changes for Azure
    # Container Apps", quota-requests.md 2025-04-29; stacks/preflight.py reads them)
    _aca("Consumption-GPU-NC8as-T4",       "T4",       1, 16,  7.5,   8,  56, "SubscriptionConsumptionT4Gpus",     0.752, True, _ACA_T4_REGIONS),
    _aca("Consumption-GPU-NC24-A100",      "A100",     1, 80,  8.0,  24, 220, "SubscriptionConsumptionNCA100Gpus", 3.673, True, _ACA_A100_REGIONS),
    _aca("NC24-A100",                      "A100",     1, 80,  8.0,  24, 220, "SubscriptionNCA100Gpus",  3.673, False),
    _aca("NC48-A100",                      "A100",     2, 80,  8.0,  48, 440, "SubscriptionNCA100Gpus",  7.346, False),
    _aca("NC96-A100",                      "A100",     4, 80,  8.0,  96, 880, "SubscriptionNCA100Gpus", 14.692, False),
]}


def gpus_for_host(host: str) -> list[GpuSku]:
    return [sku for sku in GPUS.values() if host in sku.hosts]


def _squeezed(name: str) -> str:
    """Lowercase letters and digits, without 'Standard_': 'Standard_NC24ads_A100_v4' -> 'nc24adsa100v4'."""
    return re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("standard")


def closest_gpu(name: str, host: str) -> GpuSku | None:
    """The host's size or profile nearest a misspelt ``name``: a near miss of a name
    ('Standard_NC24ads_A100_v5'), else the smallest of the host's sizes with the GPU model it names or
    nearly names ('A100', 'A10O' -> the A100 size with the fewest GPUs), else None."""
    own = gpus_for_host(host)
    wanted = _squeezed(name)
    by_name = {_squeezed(sku.name): sku for sku in own}
    close = difflib.get_close_matches(wanted, by_name, n=1, cutoff=0.8)
    if close:
        return by_name[close[0]]
    models = {_squeezed(sku.gpu_model) for sku in own}
    # 'h100' names both H100 and H100 NVL
    named = [model for model in models if model.startswith(wanted)] if wanted else []
    named = named or difflib.get_close_matches(wanted, models, n=1, cutoff=0.7)
    fitting = [sku for sku in own if _squeezed(sku.gpu_model) in named]
    return min(fitting, key=lambda sku: (sku.gpu_count, sku.price_usd_hour or float("inf")), default=None)


def check_gpu_name(name: str, host: str) -> None:
    """A ``gpu`` that is no size or profile in the catalog, as a ConfigError naming the nearest of the
    host's and listing them all. A catalog name of another host passes: the planner names the host."""
    if any(sku.name.lower() == name.lower() for sku in GPUS.values()):
        return
    kind = "workload profile" if host == "containerapp" else "VM size"
    close = closest_gpu(name, host)
    hint = (f"did you mean '{close.name}' ({close.gpu_count} x {close.gpu_model} "
            f"{close.gpu_memory_gb:g} GB)? " if close else "")
    raise ConfigError("gpu", name, f"is not a GPU {kind} in the catalog",
                      f"{hint}for host '{host}' use one of {', '.join(s.name for s in gpus_for_host(host))}")
