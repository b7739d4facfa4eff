"""Pods that hold GPUs, run vLLM or run the gateway are locked down.

Which pods those are is read once, by ``common.serving_pods`` (the gateway policy reads the same):
a container holds GPUs when it requests an nvidia.com/ (or amd.com/gpu) resource, lists a DRA
claim, runs under an NVIDIA runtime class, sets NVIDIA_VISIBLE_DEVICES (also through an envFrom
prefix) or mounts NVIDIA's device-list directory, or runs vLLM. Each rule cites the Kubernetes Pod
Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards) control it
applies, Baseline or Restricted; where the pack is stricter than the standard, it says so.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import (
    normalised,
    GPU_ENV,
    GPU_RUNTIME_WORD,
    K8S_CONFIG_MAP,
    MANDATORY,
    NO_GPU_ENV_VALUES,
    NODE_AGENT_HOST_PATHS,
    ServingPod,
    _label,
    get,
    gpu_access,
    is_false,
    is_true,
    items,
    pod_specs,
    serving_pods,
)

HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")
K8S_SECRET = "kubernetes:core/v1:Secret"
RUNTIME_CLASSES = ("kubernetes:node.k8s.io/v1:RuntimeClass", "kubernetes:node.k8s.io/v1beta1:RuntimeClass")


def _gets_gpu(container: Any, spec: Any = None) -> bool:
    """Whether a container gets GPUs (common.gpu_access; a vLLM container counts too, see read_pod)."""
    return gpu_access(container, spec) is not None


# ---------------------------------------------------------------- GPU access this pack could not see

def _env_source_value(resource_type: str, props: Any) -> str | None:
    """The NVIDIA_VISIBLE_DEVICES a ConfigMap or Secret hands to a pod that loads it with envFrom (a
    Secret's ``data`` is base64; one that does not decode counts as devices), or None."""
    if resource_type == K8S_CONFIG_MAP:
        value = get(props, "data", GPU_ENV)
        return None if value is None else str(value)
    value = get(props, "stringData", GPU_ENV)
    if value is not None:
        return str(value)
    encoded = get(props, "data", GPU_ENV)
    if encoded is None:
        return None
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "(not base64)"


def hidden_gpu_access(args: Any) -> str | None:
    """Why a non-pod resource hands GPUs to pods out of this policy's sight (a resource policy sees one
    resource: it cannot follow an envFrom to its ConfigMap, or a runtimeClassName to its handler), or None."""
    props, kind = args.props, args.resource_type
    if kind in (K8S_CONFIG_MAP, K8S_SECRET):
        value = _env_source_value(kind, props)
        if value is not None and value.strip().lower() not in NO_GPU_ENV_VALUES:
            return (f"sets {GPU_ENV}, which gives GPUs to every container that loads it with envFrom, where this "
                    f"pack cannot see them; set {GPU_ENV} in the GPU container's own env, where the GPU rules apply")
    elif kind in RUNTIME_CLASSES:
        handler = str(get(props, "handler") or "")
        name = str(get(props, "metadata", "name") or args.name)
        if GPU_RUNTIME_WORD in handler.lower() and GPU_RUNTIME_WORD not in name.lower():
            return (f"runs pods under NVIDIA's runtime (handler '{handler}') by a name without "
                    f"'{GPU_RUNTIME_WORD}', and this pack knows GPU pods by a runtimeClassName that names it; "
                    f"call the class {GPU_RUNTIME_WORD}-{name}")
    return None


# ---------------------------------------------------------------- the rules

def validate_gpu_capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Container Apps containers have no securityContext (ContainerApp API: Container has args,
    # command, env, image, name, probes, resources, volumeMounts), so the rule is not expressible there
    label = _label(args)
    if problem := hidden_gpu_access(args):
        report(f"{label}: {problem}")
        return
    if getattr(args.resource_type, "is_patch", False):
        for problem in patch_weakening(args.resource_type, args.props):
            report(f"{label}: the patch {problem}; a patch is judged alone, so this pack cannot see whether the "
                   "pod it changes holds GPUs or runs vLLM or the gateway: declare the workload whole")
    for pod in serving_pods(args.resource_type, args.props):
        _judge_pod(label, pod, report)


def _node_agent_mount(pod: ServingPod, volume: Any) -> bool:
    """A hostPath of one of the kubelet directories NVIDIA's node agents need, in a pod that runs neither
    vLLM nor the gateway and whose containers get GPUs only by running on a GPU node (the device plugin,
    the DCGM exporter): the agents' documented exception."""
    path = get(volume, "hostPath", "path")
    if not isinstance(path, str) or posixpath.normpath("/" + path.lstrip("/")) not in NODE_AGENT_HOST_PATHS:
        return False
    return not pod.vllm and not pod.gateway and all(gpu_access(c, pod.spec) is None and
                                                    not is_true(get(c, "securityContext", "privileged"))
                                                    for c, _ in pod.gpu)


# pod and container fields that weaken isolation (Pod Security Standards Baseline)
def patch_weakening(resource_type: str, props: Any) -> list[str]:
    """What a workload ``*Patch`` sets that would weaken a serving pod: host namespaces, hostPath
    volumes, privileged containers, added capabilities, privilege escalation, Unconfined seccomp,
    Unmasked /proc."""
    found = []
    for spec, _ in pod_specs(resource_type, props):
        found += [f"sets {field}: true" for field in HOST_NAMESPACES if is_true(get(spec, field))]
        found += [f"adds hostPath volume '{get(v, 'name')}'" for v in items(get(spec, "volumes"))
                  if get(v, "hostPath") is not None]
        contexts = [get(spec, "securityContext")] + [get(c, "securityContext") for key in
                                                     ("initContainers", "containers", "ephemeralContainers")
                                                     for c in items(get(spec, key))]
        for context in contexts:
            if is_true(get(context, "privileged")):
                found.append("makes a container privileged")
            if items(get(context, "capabilities", "add")):
                found.append("adds capabilities")
            if is_true(get(context, "allowPrivilegeEscalation")):
                found.append("allows privilege escalation")
            if str(get(context, "seccompProfile", "type") or "").strip().lower() == "unconfined":
                found.append("sets seccompProfile Unconfined")
            if str(get(context, "procMount") or "").strip().lower() == "unmasked":
                found.append("sets procMount Unmasked")
    return list(dict.fromkeys(found))


def _judge_pod(label: str, pod: ServingPod, report: ReportViolation) -> None:
    if not (pod.gpu or pod.gateway or pod.vllm):
        return
    for container, how in pod.gpu:
        context = get(container, "securityContext")
        name = f"'{get(container, 'name')}' ({how})"
        # PSS Restricted "Capabilities": drop ALL
        dropped = [str(c).upper() for c in items(get(context, "capabilities", "drop"))]
        if "ALL" not in dropped:
            report(f"{label}: GPU container {name} does not drop ALL capabilities; "
                   "set securityContext.capabilities.drop: [ALL]")
        # PSS Baseline "Capabilities" allows a short list, Restricted NET_BIND_SERVICE only: vLLM needs none
        added = [str(c) for c in items(get(context, "capabilities", "add"))]
        if added:
            report(f"{label}: GPU container {name} adds capabilities {', '.join(added)}; vLLM needs none, "
                   "add nothing to a container that holds GPUs")
        # PSS Baseline "Privileged Containers"
        if is_true(get(context, "privileged")):
            report(f"{label}: GPU container {name} is privileged, which grants every capability back")
        # PSS Restricted "Privilege Escalation": allowPrivilegeEscalation false
        if not is_false(get(context, "allowPrivilegeEscalation")):
            report(f"{label}: GPU container {name} does not set allowPrivilegeEscalation: false; a setuid "
                   "binary could regain capabilities")
    whose = (f"the pod of GPU container '{get(pod.gpu[0][0], 'name')}' ({pod.gpu[0][1]})" if pod.gpu
             else f"the pod of vLLM container '{get(pod.vllm[0], 'name')}'" if pod.vllm
             else f"the pod of gateway container '{get(pod.gateway[0], 'name')}'")
    if pod.gpu:
        # PSS Baseline "Host Namespaces": hostNetwork, hostPID, hostIPC unset or false
        for field in HOST_NAMESPACES:
            if is_true(get(pod.spec, field)):
                report(f"{label}: {whose} sets {field}: true, sharing the node's namespace; leave it unset")
    # the rest holds for vLLM's pods (GPUs on or off) and the gateway's too: it is the one way in,
    # and holds the TLS key
    # PSS Baseline "HostPath Volumes": spec.volumes[*].hostPath undefined
    for volume in items(get(pod.spec, "volumes")):
        if get(volume, "hostPath") is not None and not _node_agent_mount(pod, volume):
            report(f"{label}: {whose} mounts the node's filesystem (hostPath volume '{get(volume, 'name')}', "
                   f"path {get(volume, 'hostPath', 'path')}); use a PersistentVolumeClaim, CSI or emptyDir volume")
    # PSS Baseline "Seccomp": spec.securityContext and every container's seccompProfile.type not Unconfined
    places = [("the pod", get(pod.spec, "securityContext"))]
    places += [(f"container '{get(c, 'name')}'", get(c, "securityContext")) for c in pod.containers]
    for where, context in places:
        if str(get(context, "seccompProfile", "type") or "").strip().lower() == "unconfined":
            report(f"{label}: in {whose}, {where} sets seccompProfile.type: Unconfined, so every system call "
                   "reaches the node's kernel; use RuntimeDefault")
    # PSS Baseline "/proc Mount Type": every container's procMount undefined or Default
    for container in pod.containers:
        if str(get(container, "securityContext", "procMount") or "").strip().lower() == "unmasked":
            report(f"{label}: in {whose}, container '{get(container, 'name')}' sets procMount: Unmasked, "
                   "exposing the node's /proc paths the runtime masks; leave it Default")


gpu_containers_locked_down = ResourceValidationPolicy(
    name="gpu-containers-drop-capabilities",
    description="Kubernetes containers that get GPUs (request an nvidia.com/ resource such as nvidia.com/gpu, "
                "a MIG slice or nvidia.com/gpu.shared, or amd.com/gpu; list a DRA claim; run under an NVIDIA "
                "runtime class; set NVIDIA_VISIBLE_DEVICES, also through an envFrom prefix; mount NVIDIA's "
                "device-list directory; or run vLLM) drop ALL Linux capabilities, add none, are not privileged "
                "and set allowPrivilegeEscalation: false, and their pods share no host namespace; those pods "
                "and the gateway's mount no hostPath volume and set no seccompProfile Unconfined or procMount "
                "Unmasked (Pod Security Standards Baseline/Restricted); no ConfigMap or Secret sets "
                "NVIDIA_VISIBLE_DEVICES and no RuntimeClass hides NVIDIA's runtime under another name. "
                "Container Apps has no securityContext to set.",
    validate=normalised(validate_gpu_capabilities),
    enforcement_level=MANDATORY,
)
