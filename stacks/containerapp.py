"""Host module for ``host: containerapp`` (protocol in stacks/program.py)."""

from __future__ import annotations

from components.containerapp import ContainerAppGpu, ContainerAppGpuArgs

from .config import ConfigReader, StackSettings, read_args, refuse_spot

KEYS = ("scaleConcurrentRequests", "vnetAddressSpace")
FIELDS = {"minReplicas": "min_replicas", "maxReplicas": "max_replicas",
          "scaleConcurrentRequests": "concurrent_requests", "vnetAddressSpace": "vnet_address_space"}
NETWORK_CACHE = ContainerAppGpuArgs._network_cache  # weights live on an Azure Files NFS share


def read(reader: ConfigReader, settings: StackSettings) -> ContainerAppGpuArgs:
    refuse_spot(reader)
    return read_args(reader, settings, ContainerAppGpuArgs, FIELDS)


def build(name: str, args: ContainerAppGpuArgs) -> ContainerAppGpu:
    return ContainerAppGpu(name, args)
