"""Host module for ``host: aks`` (protocol in stacks/program.py)."""

from __future__ import annotations

from components.aks import (
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_QUEUE_DEPTH_TARGET,
    AksGpuCluster,
    AksGpuClusterArgs,
)
from components.serving import ServingPlan

from .config import ConfigReader, StackSettings

KEYS = ("gpuNodesMin", "gpuNodesMax", "kubernetesVersion", "queueDepthTarget")
NETWORK_CACHE = True  # weights live on a premium Azure Files (SMB) share shared by all replicas


def read(reader: ConfigReader, settings: StackSettings, plan: ServingPlan) -> AksGpuClusterArgs:
    """The component's args; its ``__post_init__`` checks TP per node, node and replica bounds."""
    return AksGpuClusterArgs(
        plan=plan,
        location=settings.location,
        hf_token=settings.hf_token,
        api_key=settings.api_key,
        allowed_cidrs=settings.allowed_cidrs,
        internal=settings.internal,
        tags=settings.tags,
        min_replicas=settings.min_replicas,
        max_replicas=settings.max_replicas,
        spot=settings.spot,
        gpu_nodes_min=reader.integer("gpuNodesMin", minimum=0),
        gpu_nodes_max=reader.integer("gpuNodesMax", minimum=0),
        kubernetes_version=reader.string("kubernetesVersion", DEFAULT_KUBERNETES_VERSION),
        queue_depth_target=reader.integer("queueDepthTarget", DEFAULT_QUEUE_DEPTH_TARGET, minimum=1),
    )


def build(name: str, args: AksGpuClusterArgs) -> AksGpuCluster:
    return AksGpuCluster(name, args)
