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

GPU memory is Microsoft's marketed figure taken as 10^9 bytes. The device shows a little more
(an "80 GB" A100 reports 79.15 GiB = 85.0e9 bytes to PyTorch), so plans err on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass

HOSTS = ("containerapp", "vm", "aks")

PRICE_SOURCE_VM = "East US Linux pay-as-you-go list price, public price catalog read 2026-11"
PRICE_SOURCE_ACA = ("estimate: Container Apps GPU seconds are not in our sources; the price of the "
                    "VM size with the same GPU (East US list price, read 2026-11) is used")

# Container Apps serverless GPU regions documented by Microsoft (serverless GPU docs, 2025);
# elsewhere the plan warns instead of refusing, since Microsoft adds regions over time.
_ACA_A100_REGIONS = frozenset({"westus", "westus3", "australiaeast", "swedencentral"})
_ACA_T4_REGIONS = frozenset({"westus3", "australiaeast", "swedencentral", "westeurope"})


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
    # Container Apps workload profile types (containerapp); one GPU per serverless replica
    _aca("Consumption-GPU-NC8as-T4",       "T4",       1, 16,  7.5,   8,  56, "Managed Environment Consumption T4 GPUs",    0.752, True, _ACA_T4_REGIONS),
    _aca("Consumption-GPU-NC24-A100",      "A100",     1, 80,  8.0,  24, 220, "Managed Environment Consumption NCA100 GPUs", 3.673, True, _ACA_A100_REGIONS),
    _aca("NC24-A100",                      "A100",     1, 80,  8.0,  24, 220, "StandardNCADSA100v4Family",  3.673, False),
    _aca("NC48-A100",                      "A100",     2, 80,  8.0,  48, 440, "StandardNCADSA100v4Family",  7.346, False),
    _aca("NC96-A100",                      "A100",     4, 80,  8.0,  96, 880, "StandardNCADSA100v4Family", 14.692, False),
]}


def gpus_for_host(host: str) -> list[GpuSku]:
    return [sku for sku in GPUS.values() if host in sku.hosts]
