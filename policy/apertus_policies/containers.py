"""Containers that hold GPUs are locked down."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    GPU_RESOURCE,
    MANDATORY,
    _label,
    get,
    is_false,
    is_true,
    items,
    k8s_containers,
    pod_spec,
)


# ---------------------------------------------------------------- GPU containers

# The NVIDIA container runtime gives GPUs to a container whose env sets NVIDIA_VISIBLE_DEVICES
# (indices, UUIDs or 'all'), whatever it requests; 'none', 'void' or empty give none (NVIDIA
# Container Toolkit user guide, docs.nvidia.com/datacenter/cloud-native/container-toolkit, "GPU Enumeration")
GPU_ENV = "NVIDIA_VISIBLE_DEVICES"
NO_GPU_ENV_VALUES = ("", "void", "none")
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")


def _gets_gpu(container: Any) -> bool:
    """Requests nvidia.com/gpu, or sets NVIDIA_VISIBLE_DEVICES to devices (a valueFrom counts:
    its value is not visible here)."""
    resources = get(container, "resources")
    if any(get(resources, kind, GPU_RESOURCE) not in (None, 0, "0") for kind in ("limits", "requests")):
        return True
    for env in items(get(container, "env")):
        if get(env, "name") == GPU_ENV:
            if get(env, "valueFrom") is not None:
                return True
            if str(get(env, "value") or "").strip().lower() not in NO_GPU_ENV_VALUES:
                return True
    return False


def validate_gpu_capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Container Apps containers have no securityContext (ContainerApp API: Container has args,
    # command, env, image, name, probes, resources, volumeMounts), so the rule is not expressible there
    label = _label(args)
    gpu_containers = [c for c in k8s_containers(args.resource_type, args.props) if _gets_gpu(c)]
    for container in gpu_containers:
        context = get(container, "securityContext")
        name = get(container, "name")
        dropped = [str(c).upper() for c in items(get(context, "capabilities", "drop"))]
        if "ALL" not in dropped:
            report(f"{label}: GPU container '{name}' does not drop ALL capabilities; "
                   "set securityContext.capabilities.drop: [ALL]")
        added = [str(c) for c in items(get(context, "capabilities", "add"))]
        if added:
            report(f"{label}: GPU container '{name}' adds capabilities {', '.join(added)}; vLLM needs none, "
                   "add nothing to a container that holds GPUs")
        if is_true(get(context, "privileged")):
            report(f"{label}: GPU container '{name}' is privileged, which grants every capability back")
        if not is_false(get(context, "allowPrivilegeEscalation")):
            report(f"{label}: GPU container '{name}' does not set allowPrivilegeEscalation: false; a setuid "
                   "binary could regain capabilities")
    if gpu_containers:
        spec = pod_spec(args.resource_type, args.props)
        for field in HOST_NAMESPACES:
            if is_true(get(spec, field)):
                report(f"{label}: the pod of GPU container '{get(gpu_containers[0], 'name')}' sets {field}: "
                       "true, sharing the node's namespace; leave it unset")


gpu_containers_locked_down = ResourceValidationPolicy(
    name="gpu-containers-drop-capabilities",
    description="Kubernetes containers that get GPUs (request nvidia.com/gpu or set "
                "NVIDIA_VISIBLE_DEVICES) drop ALL Linux capabilities, add none, are not privileged, "
                "set allowPrivilegeEscalation: false, and their pods share no host namespace "
                "(hostPID, hostIPC, hostNetwork); Container Apps has no securityContext to set.",
    validate=normalised(validate_gpu_capabilities),
    enforcement_level=MANDATORY,
)


