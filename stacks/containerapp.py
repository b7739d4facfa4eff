"""Host module for ``host: containerapp`` (protocol in stacks/program.py)."""

from __future__ import annotations

from components.containerapp import (
    DEFAULT_CONCURRENT_REQUESTS,
    ContainerAppGpu,
    ContainerAppGpuArgs,
)
from components.base import DEFAULT_VNET_ADDRESS_SPACE
from components.serving import ServingPlan

from .config import ConfigReader, StackSettings, serving_args

KEYS = ("scaleConcurrentRequests", "vnetAddressSpace")
NETWORK_CACHE = True  # weights live on an Azure Files NFS share


def read(reader: ConfigReader, settings: StackSettings, plan: ServingPlan) -> ContainerAppGpuArgs:
    """The component's args; its ``__post_init__`` checks replica limits, the VNet range and probes."""
    concurrent_requests = reader.integer("scaleConcurrentRequests", DEFAULT_CONCURRENT_REQUESTS, minimum=1)
    vnet_address_space = reader.string("vnetAddressSpace", DEFAULT_VNET_ADDRESS_SPACE)
    assert concurrent_requests is not None and vnet_address_space is not None  # both have defaults
    return ContainerAppGpuArgs(
        **serving_args(settings, plan),
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        concurrent_requests=concurrent_requests,
        vnet_address_space=vnet_address_space,
    )


def build(name: str, args: ContainerAppGpuArgs) -> ContainerAppGpu:
    return ContainerAppGpu(name, args)
