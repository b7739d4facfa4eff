"""Host module for ``host: aks`` (protocol in stacks/program.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when this host is used: a plan of another host skips its SDK modules
    from components.aks import AksGpuCluster, AksGpuClusterArgs

from .config import ConfigReader, StackSettings, read_args

KEYS = ("gpuNodesMin", "gpuNodesMax", "kubernetesVersion", "queueDepthTarget", "vnetAddressSpace",
        "deployerPrincipalType", "kubeloginMode", "apiAllowedCidrs", "apiPublic", "apiPrivate")
FIELDS = {"minReplicas": "min_replicas", "maxReplicas": "max_replicas", "spot": "spot",
          "gpuNodesMin": "gpu_nodes_min", "gpuNodesMax": "gpu_nodes_max",
          "kubernetesVersion": "kubernetes_version", "queueDepthTarget": "queue_depth_target",
          "vnetAddressSpace": "vnet_address_space", "deployerPrincipalType": "deployer_principal_type",
          "kubeloginMode": "kubelogin_mode", "apiAllowedCidrs": "api_allowed_cidrs",
          "apiPublic": "api_public", "apiPrivate": "api_private"}
NETWORK_CACHE = True  # AksGpuClusterArgs._network_cache: weights on a premium Azure Files (SMB) share


def read(reader: ConfigReader, settings: StackSettings) -> AksGpuClusterArgs:
    from components.aks import AksGpuClusterArgs

    return read_args(reader, settings, AksGpuClusterArgs, FIELDS)


def build(name: str, args: AksGpuClusterArgs) -> AksGpuCluster:
    from components.aks import AksGpuCluster

    return AksGpuCluster(name, args)
