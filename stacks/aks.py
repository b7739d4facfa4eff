"""Host module for ``host: aks`` (protocol in stacks/program.py)."""

from __future__ import annotations

from components.aks import (
    DEFAULT_KUBELOGIN_MODE,
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_QUEUE_DEPTH_TARGET,
    AksGpuCluster,
    AksGpuClusterArgs,
)
from components.base import DEFAULT_VNET_ADDRESS_SPACE
from components.serving import ServingPlan

from .config import ConfigReader, StackSettings, parse_cidrs, serving_args

KEYS = ("gpuNodesMin", "gpuNodesMax", "kubernetesVersion", "queueDepthTarget", "vnetAddressSpace",
        "deployerPrincipalType", "kubeloginMode", "apiAllowedCidrs")
NETWORK_CACHE = True  # weights live on a premium Azure Files (SMB) share shared by all replicas


def read(reader: ConfigReader, settings: StackSettings, plan: ServingPlan) -> AksGpuClusterArgs:
    """The component's args; its ``__post_init__`` checks TP per node, node and replica bounds and
    the VNet range."""
    kubernetes_version = reader.string("kubernetesVersion", DEFAULT_KUBERNETES_VERSION)
    queue_depth_target = reader.integer("queueDepthTarget", DEFAULT_QUEUE_DEPTH_TARGET, minimum=1)
    vnet_address_space = reader.string("vnetAddressSpace", DEFAULT_VNET_ADDRESS_SPACE)
    assert None not in (kubernetes_version, queue_depth_target, vnet_address_space)  # all have defaults
    return AksGpuClusterArgs(
        **serving_args(settings, plan),
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        spot=settings.spot,
        gpu_nodes_min=reader.integer("gpuNodesMin", minimum=0),
        gpu_nodes_max=reader.integer("gpuNodesMax", minimum=0),
        kubernetes_version=kubernetes_version,
        queue_depth_target=queue_depth_target,
        vnet_address_space=vnet_address_space,
        deployer_principal_type=reader.string("deployerPrincipalType"),
        kubelogin_mode=reader.string("kubeloginMode", DEFAULT_KUBELOGIN_MODE),
        api_allowed_cidrs=parse_cidrs("apiAllowedCidrs", reader.string_list("apiAllowedCidrs")),
    )


def build(name: str, args: AksGpuClusterArgs) -> AksGpuCluster:
    return AksGpuCluster(name, args)
