"""Host module for ``host: containerapp`` (protocol in stacks/program.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when this host is used: a plan of another host skips its SDK modules
    from components.containerapp import ContainerAppGpu, ContainerAppGpuArgs

from .config import ConfigReader, StackSettings, read_args, refuse_spot

KEYS = ("scaleConcurrentRequests", "vnetAddressSpace")
FIELDS = {"minReplicas": "min_replicas", "maxReplicas": "max_replicas",
          "scaleConcurrentRequests": "concurrent_requests", "vnetAddressSpace": "vnet_address_space"}
NETWORK_CACHE = True  # ContainerAppGpuArgs._network_cache: weights live on an Azure Files NFS share


def read(reader: ConfigReader, settings: StackSettings) -> ContainerAppGpuArgs:
    refuse_spot(reader)
    from components.containerapp import ContainerAppGpuArgs

    return read_args(reader, settings, ContainerAppGpuArgs, FIELDS)


def build(name: str, args: ContainerAppGpuArgs) -> ContainerAppGpu:
    from components.containerapp import ContainerAppGpu

    return ContainerAppGpu(name, args)
